"""The kinds of event a run's trajectory holds, and the callables that record them.

    def step(record: Record) -> None:
        record("test", iteration=1, passed=3, failed=1, errors=0)
        record("tset", ...)   # mypy: not an EventName

`agent.run.record.Recorder` is the `Record` of a run; tests may pass any function
of the same shape. The names are the strings written to `trajectory.jsonl`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

__all__ = ["EventName", "Observer", "Record"]

EventName = Literal[
    "model",  # a model call: purpose, tokens, latency, reply
    "plan", "plan_invalid", "plan_skipped", "files", "rejected", "refused",
    "syntax", "syntax_trimmed", "misnamed_block", "self_import_dropped",
    "imports_restored", "definitions_restored",
    "baseline", "localize", "test", "candidate", "candidates", "confirm_alone",
    "apply", "malformed",
    "mode", "restart", "repeat", "tampered", "confirm",
    "commit", "not_committed", "result",
]  # fmt: skip
"""Every kind of event a run's trajectory holds."""

Observer = Callable[[EventName, Mapping[str, Any]], None]
"""Told of every event as it happens (the live view)."""


class Record(Protocol):
    """What the loop and its helpers are given to record an event."""

    def __call__(self, event: EventName, /, **data: Any) -> None: ...
