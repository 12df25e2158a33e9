"""The model interface: what every way of getting a completion offers.

Frozen dataclasses cross it; implementations are `OpenAIChat` (any
OpenAI-compatible endpoint), `EmbeddedChat` (llama-cpp-python in-process),
`ReplayModel` (a recorded cassette) and `ScriptedModel` (a fake for tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, TypedDict, Unpack, runtime_checkable

__all__ = ["ChatModel", "Completion", "CompletionOpts", "Message", "Role", "estimate_tokens"]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls("assistant", content)


@dataclass(frozen=True)
class Completion:
    """The model's answer to one request, with what it cost."""

    text: str
    prompt_tokens: int
    """From the API's usage (an estimate only where the backend reports none)."""
    completion_tokens: int
    model: str
    """The model that answered, as the backend names it."""
    latency: float
    """Wall seconds from the first attempt to the answer, retries included."""
    finish_reason: str = "stop"
    """"stop", "length" (hit max_tokens), ... as the backend reports it."""
    cost: float | None = None
    """US dollars from the price table; None when the model's price is unknown."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Completion:
        return cls(
            text=str(data["text"]),
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            model=str(data["model"]),
            latency=float(data["latency"]),
            finish_reason=str(data.get("finish_reason", "stop")),
            cost=None if data.get("cost") is None else float(data["cost"]),
        )


class CompletionOpts(TypedDict, total=False):
    """Per-call options; what is not given comes from the model's config."""

    temperature: float
    max_tokens: int
    seed: int
    stop: Sequence[str]
    """Strings that end the reply where they first appear (not part of the text)."""
    json_schema: Mapping[str, Any]
    """A JSON schema the reply must match: decoding is constrained to it where the backend
    can (llama.cpp grammars, `response_format: json_schema`); elsewhere it is not sent, and
    the caller parses the reply as it would without one."""
    code: str
    """The language of the code block the reply carries ("python"): the embedded model
    guides its decoding line by line (`agent.model.guide`); other backends ignore it."""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that completes a conversation. Safe to call from several threads."""

    name: str
    """What to show and record, e.g. "gpt-4o-mini" or "local:SmolLM2-135M-Instruct"."""

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        """Answer the conversation; raises a `ModelError` subclass when it cannot."""
        ...


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for backends with no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0
