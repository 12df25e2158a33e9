"""The MCP client's own model as greenloop's model (`--model client`).

A run asks its model over HTTP as always; on the MCP server's side the loopback
endpoint (`agent.model.serve.endpoint.Endpoint`) answers with `ClientModel`, which
hands each request to the tool call that started the run and waits. The tool call
sends it to the client as a sampling request (mid-call on handshake-era
connections; on 2026-07-28 ones as an `InputRequiredResult` the client answers by
calling again) and gives the answer back.

    model = ClientModel()
    ask = model.next_ask()                      # in the tool call: a request waiting
    ask.answer(completion_of(result, ask))      # or ask.fail("why")
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    SamplingMessage,
    TextContent,
)

from agent.errors import ModelError
from agent.model.base import Completion, CompletionOpts, Message

__all__ = ["Ask", "ClientModel", "completion_of"]

_WAIT = 3600.0
"""The longest a run waits for the client's answer to one request."""
_CHARS_PER_TOKEN = 4
_STOP_REASONS = {"maxTokens": "length", "endTurn": "stop", "stopSequence": "stop"}
_numbers = itertools.count(1)


@dataclass
class Ask:
    """One model request of a run, waiting for the client's answer."""

    messages: tuple[Message, ...]
    opts: CompletionOpts
    id: str = field(default_factory=lambda: f"sample-{next(_numbers)}")
    started: float = field(default_factory=time.monotonic)
    _done: threading.Event = field(default_factory=threading.Event)
    _reply: Completion | None = None
    _error: str = ""

    def request(self) -> CreateMessageRequest:
        """The MCP sampling request: the system prompt apart, the rest as messages."""
        system = "\n\n".join(m.content for m in self.messages if m.role == "system")
        said = [
            SamplingMessage(role="assistant" if m.role == "assistant" else "user",
                            content=TextContent(type="text", text=m.content))
            for m in self.messages
            if m.role != "system"
        ]  # fmt: skip
        params = CreateMessageRequestParams(
            messages=said,
            system_prompt=system or None,
            max_tokens=int(self.opts.get("max_tokens") or 2048),
            temperature=self.opts.get("temperature"),
            stop_sequences=list(self.opts.get("stop") or []) or None,
        )
        return CreateMessageRequest(params=params)

    def answer(self, reply: Completion) -> None:
        self._reply = reply
        self._done.set()

    def fail(self, why: str) -> None:
        self._error = why
        self._done.set()

    def wait(self, timeout: float = _WAIT) -> Completion:
        if not self._done.wait(timeout):
            raise ModelError(f"the MCP client did not answer a sampling request in {timeout:.0f}s")
        if self._reply is None:
            raise ModelError(f"the MCP client's model did not answer: {self._error}")
        return self._reply


def completion_of(result: CreateMessageResult | Any, ask: Ask) -> Completion:
    """The client's sampling result as a greenloop completion (tokens estimated: MCP
    sampling reports none)."""
    content = getattr(result, "content", None)
    text = getattr(content, "text", None)
    if not isinstance(text, str):
        raise ModelError("the MCP client's sampling result holds no text")
    prompt = sum(len(m.content) for m in ask.messages)
    return Completion(
        text=text,
        prompt_tokens=prompt // _CHARS_PER_TOKEN + 1,
        completion_tokens=len(text) // _CHARS_PER_TOKEN + 1,
        model=f"client:{getattr(result, 'model', '') or 'unknown'}",
        latency=time.monotonic() - ask.started,
        finish_reason=_STOP_REASONS.get(str(getattr(result, "stop_reason", "")), "stop"),
    )


class ClientModel:
    """A `ChatModel` answered by the MCP client: each call waits for the tool call that
    started the run to fetch its request (`next_ask`) and answer it."""

    name = "client"

    def __init__(self) -> None:
        self._asks: queue.Queue[Ask] = queue.Queue()

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        ask = Ask(tuple(messages), opts)
        self._asks.put(ask)
        return ask.wait()

    def next_ask(self) -> Ask | None:
        """A request waiting for the client, if any (never blocks)."""
        try:
            return self._asks.get_nowait()
        except queue.Empty:
            return None
