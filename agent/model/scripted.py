"""A scripted fake model for unit tests of the components that use a model.

    model = ScriptedModel(["first reply", "second reply"])
    model = ScriptedModel(lambda messages: "def add(a, b): return a + b")

Replies are given in order (a string, a `Completion`, or an exception to
raise); a callable decides each reply from the messages. Tokens are a rough
estimate from the text's length. Every call is kept in `calls`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Unpack

from agent.errors import ModelError
from agent.model.base import Completion, CompletionOpts, Message, estimate_tokens

__all__ = ["ScriptedCall", "ScriptedModel"]

ScriptItem = str | Completion | BaseException
Responder = Callable[[Sequence[Message]], ScriptItem]


@dataclass(frozen=True)
class ScriptedCall:
    """One call the scripted model received."""

    messages: tuple[Message, ...]
    opts: CompletionOpts


class ScriptedModel:
    """Returns the scripted replies in order; thread-safe."""

    def __init__(self, script: Iterable[ScriptItem] | Responder, name: str = "scripted") -> None:
        self.name = name
        self._responder: Responder | None = script if callable(script) else None
        self._script: list[ScriptItem] = [] if callable(script) else list(script)
        self._lock = threading.Lock()
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """Replies not yet given (0 for a responder)."""
        with self._lock:
            return max(0, len(self._script) - len(self.calls))

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        with self._lock:
            index = len(self.calls)
            self.calls.append(ScriptedCall(tuple(messages), opts))
            if self._responder is None and index >= len(self._script):
                raise ModelError(
                    f"scripted model {self.name!r} has no reply for call {index + 1}: "
                    f"the script holds {len(self._script)}"
                )
        item = self._script[index] if self._responder is None else self._responder(messages)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        prompt = "".join(m.content for m in messages)
        return Completion(
            text=item,
            prompt_tokens=estimate_tokens(prompt),
            completion_tokens=estimate_tokens(item),
            model=self.name,
            latency=0.0,
            finish_reason="stop",
            cost=None,
        )
