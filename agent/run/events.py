"""The events a run's trajectory holds: one frozen dataclass per kind, and who records them.

    def step(record: Record) -> None:
        record(ModeSwitch(mode="restart", improved=False, iteration=3))

Each event names its kind (`name`, the string `trajectory.jsonl` holds under "event")
and carries exactly the fields its line holds, in order. A field with a default is
optional: its line leaves it out while it holds the default (an `Apply` of a reply
with no edit has `malformed` and no `changed`; any other has `changed`). The test
runs' events (`TestRun`, `Confirm`, `Candidates`, ...) are in `agent.run.candidates`;
the one writer and reader of them all in `agent.run.codec`.

`agent.run.record.Recorder` is the `Record` of a run; a test may pass any function
taking one event (`events.append`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict

__all__ = [
    "Apply",
    "BaselineRun",
    "Commit",
    "DefinitionsRestored",
    "Event",
    "EventName",
    "Files",
    "ImportsRestored",
    "InvalidPlan",
    "Localized",
    "Malformed",
    "MisnamedBlock",
    "ModeSwitch",
    "ModelCall",
    "NotCommitted",
    "Observer",
    "PlanChosen",
    "PlanSkipped",
    "Record",
    "Refused",
    "Rejected",
    "Repeat",
    "Restart",
    "Result",
    "Resumed",
    "SelfImportDropped",
    "Syntax",
    "SyntaxTrimmed",
    "Tampered",
]

EventName = Literal[
    "model",  # a model call: purpose, tokens, latency, reply
    "plan", "plan_invalid", "plan_skipped", "files", "rejected", "refused",
    "syntax", "syntax_trimmed", "misnamed_block", "self_import_dropped",
    "imports_restored", "definitions_restored",
    "baseline", "localize", "test", "candidate", "candidates", "confirm_alone",
    "apply", "malformed",
    "mode", "restart", "repeat", "tampered", "confirm",
    "commit", "not_committed", "result", "resumed",
]  # fmt: skip
"""Every kind of event a run's trajectory holds."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event is: a kind, and the fields of its line."""

    name: ClassVar[EventName]
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    """How the reader checks a line against its class: no field it does not know."""


Record = Callable[[Event], None]
"""What the loop and its helpers are given to record an event."""

Observer = Callable[[Event], None]
"""Told of every event as it happens (the live view)."""


# ---------------------------------------------------------------- model calls, the plan


@dataclass(frozen=True, kw_only=True)
class ModelCall(Event):
    """A model call: what it was for, its tokens, latency and cost, and the reply."""

    name: ClassVar[EventName] = "model"
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    latency: float
    finish_reason: str
    cost: float | None
    reply: str


@dataclass(frozen=True, kw_only=True)
class PlanChosen(Event):
    """The plan the files are written from, and where it came from (tests, model, fallback)."""

    name: ClassVar[EventName] = "plan"
    source: str
    plan: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class InvalidPlan(Event):
    """The model's plan did not hold; it is asked again."""

    name: ClassVar[EventName] = "plan_invalid"
    attempt: int
    error: str


@dataclass(frozen=True, kw_only=True)
class PlanSkipped(Event):
    """The tests imply the whole plan: the model is not asked for one."""

    name: ClassVar[EventName] = "plan_skipped"
    reason: str


@dataclass(frozen=True, kw_only=True)
class Files(Event):
    """The first candidate's files and the tests it is judged by."""

    name: ClassVar[EventName] = "files"
    paths: tuple[str, ...]
    tests: tuple[str, ...]


# ---------------------------------------------------------------- one written file


@dataclass(frozen=True, kw_only=True)
class Rejected(Event):
    """A planned path that may not be written (the run stops)."""

    name: ClassVar[EventName] = "rejected"
    path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Syntax(Event):
    """A written file that does not parse."""

    name: ClassVar[EventName] = "syntax"
    path: str
    problems: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SyntaxTrimmed(Event):
    """A file that did not parse, cut to its parseable head."""

    name: ClassVar[EventName] = "syntax_trimmed"
    path: str
    kept_lines: int


@dataclass(frozen=True, kw_only=True)
class MisnamedBlock(Event):
    """The reply's code came under another name; it is taken as the file."""

    name: ClassVar[EventName] = "misnamed_block"
    path: str


@dataclass(frozen=True, kw_only=True)
class Malformed(Event):
    """A reply with no code: an unusable reply."""

    name: ClassVar[EventName] = "malformed"
    path: str
    reply: str


@dataclass(frozen=True, kw_only=True)
class SelfImportDropped(Event):
    """A file's import of itself, dropped."""

    name: ClassVar[EventName] = "self_import_dropped"
    path: str
    lines: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DefinitionsRestored(Event):
    """Helpers the spec defines and the file used without defining, put back."""

    name: ClassVar[EventName] = "definitions_restored"
    path: str
    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ImportsRestored(Event):
    """The spec's imports of names the file uses and never binds, put back."""

    name: ClassVar[EventName] = "imports_restored"
    path: str
    lines: tuple[str, ...]


# ---------------------------------------------------------------- the loop


@dataclass(frozen=True, kw_only=True)
class Refused(Event):
    """Files the model may not write (runner files), left out, and why."""

    name: ClassVar[EventName] = "refused"
    files: dict[str, str]
    iteration: int


@dataclass(frozen=True, kw_only=True)
class BaselineRun(Event):
    """`fix`'s first test run of the repository: the targets, and the flaky tests."""

    name: ClassVar[EventName] = "baseline"
    passed: int
    failed: int
    errors: int
    targets: tuple[str, ...]
    flaky: tuple[str, ...]
    note: str


@dataclass(frozen=True, kw_only=True)
class Localized(Event):
    """What a `fix` prompt shows of the code, and why (`agent.fix.context`)."""

    name: ClassVar[EventName] = "localize"
    failing: int
    tests: tuple[str, ...]
    shown: tuple[dict[str, Any], ...]
    whole: tuple[str, ...]
    edited: dict[str, list[int]]
    coverage: dict[str, Any]
    tokens: dict[str, int]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Apply(Event):
    """A feedback reply's edits: how many applied, those refused, the files they changed
    (a reply with no edit in the format: `malformed`, and no `changed`)."""

    name: ClassVar[EventName] = "apply"
    applied: int
    failed: tuple[dict[str, str], ...]
    changed: tuple[str, ...] | None = None
    malformed: bool = False


@dataclass(frozen=True, kw_only=True)
class ModeSwitch(Event):
    """The way forward after a test run: feedback or restart, and whether the best rose."""

    name: ClassVar[EventName] = "mode"
    mode: str
    improved: bool
    iteration: int


@dataclass(frozen=True, kw_only=True)
class Restart(Event):
    """Fresh samples drawn at a higher temperature, one seed each."""

    name: ClassVar[EventName] = "restart"
    iteration: int
    temperature: float
    seeds: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Repeat(Event):
    """Code already tested came again (counted towards "stuck")."""

    name: ClassVar[EventName] = "repeat"
    repeats: int
    iteration: int


@dataclass(frozen=True, kw_only=True)
class Tampered(Event):
    """A test run's report was tampered with: the run stops."""

    name: ClassVar[EventName] = "tampered"
    iteration: int
    why: str


# ---------------------------------------------------------------- the end


@dataclass(frozen=True, kw_only=True)
class Commit(Event):
    """The result committed: its branch, commit and files."""

    name: ClassVar[EventName] = "commit"
    branch: str
    sha: str | None
    files: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NotCommitted(Event):
    """Files git would not take (`files`, with why), or the commit that failed (`error`)."""

    name: ClassVar[EventName] = "not_committed"
    files: dict[str, str] | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    """The run was killed and starts again (`agent.run.resume`): the killed run's
    trajectory is kept as `earlier`, and the model calls its cassette holds are
    answered from it."""

    name: ClassVar[EventName] = "resumed"
    earlier: str
    recorded_calls: int


@dataclass(frozen=True, kw_only=True)
class Result(Event):
    """How the run ended; always the last event."""

    name: ClassVar[EventName] = "result"
    status: str
    exit_reason: str
