"""The events of each candidate and test run, so a run can be read later.

    record(candidate_change(previous, files, iteration=2))            # a CandidateChange
    run = TestRun.of(report, green=job.is_green(report), iteration=2)  # the test event
    record(Confirm.of(run))                                            # the same run, confirming

`TestRun.of` is the one place a report becomes an event; the others are made from a
`TestRun`. A candidate is kept as its unified diff against the candidate tested
before it (the first one against the seed, or against nothing), which is small
where the files are many (`fix` hands the loop the whole repository).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pydantic import ConfigDict

from agent.run.events import Event, EventName
from sandbox.base import TestReport

__all__ = [
    "CandidateChange",
    "CandidateResult",
    "Candidates",
    "Confirm",
    "ConfirmAlone",
    "TestRun",
    "candidate_change",
    "failure_details",
]

_MAX_FAILURES = 50
"""Failing tests whose message and traceback a test event keeps (the ids are all kept)."""
_NO_NEWLINE = "\\ No newline at end of file"


@dataclass(frozen=True, kw_only=True)
class CandidateChange(Event):
    """A candidate about to be tested: its diff from the one before, and the paths
    added, changed and removed."""

    name: ClassVar[EventName] = "candidate"
    iteration: int
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    diff: str


def candidate_change(
    before: Mapping[str, str], after: Mapping[str, str], *, iteration: int
) -> CandidateChange:
    """The change from `before` to `after`, as test run `iteration`'s candidate."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    chunks: list[str] = []
    for path in sorted({*added, *removed, *changed}):
        old, new = before.get(path), after.get(path)
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile="/dev/null" if old is None else f"a/{path}",
                tofile="/dev/null" if new is None else f"b/{path}",
            )
        )
    diff = "".join(line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}\n" for line in chunks)
    return CandidateChange(
        iteration=iteration,
        added=tuple(added),
        changed=tuple(changed),
        removed=tuple(removed),
        diff=diff,
    )


@dataclass(frozen=True, kw_only=True)
class TestRun(Event):
    """A test run of the loop: the one place a report becomes an event. `green` is
    decided once, by the job, and every reader uses it (a page, a batch)."""

    __test__ = False
    name: ClassVar[EventName] = "test"
    iteration: int
    green: bool
    passed: int
    failed: int
    errors: int
    timed_out: bool
    failing: tuple[str, ...]
    failures: tuple[dict[str, str], ...]
    note: str
    tampered: str
    duration: float

    @classmethod
    def of(cls, report: TestReport, *, green: bool, iteration: int = 0) -> TestRun:
        return cls(
            iteration=iteration,
            green=green,
            passed=report.passed,
            failed=report.failed,
            errors=report.errors,
            timed_out=report.timed_out,
            failing=tuple(sorted(report.failing_ids)),
            failures=tuple(failure_details(report)),
            note=report.note,
            tampered=report.tampered,
            duration=round(report.duration, 3),
        )


def _taken(run: TestRun, kind: type[Any], **more: Any) -> dict[str, Any]:
    """The fields of event `kind`: those given in `more`, the rest taken from `run`."""
    return {f.name: more[f.name] if f.name in more else getattr(run, f.name) for f in fields(kind)}


@dataclass(frozen=True, kw_only=True)
class Confirm(Event):
    """A green result's run again in a fresh sandbox: the test run without its iteration."""

    name: ClassVar[EventName] = "confirm"
    green: bool
    passed: int
    failed: int
    errors: int
    timed_out: bool
    failing: tuple[str, ...]
    failures: tuple[dict[str, str], ...]
    note: str
    tampered: str
    duration: float

    @classmethod
    def of(cls, run: TestRun) -> Confirm:
        return cls(**_taken(run, cls))


@dataclass(frozen=True)
class CandidateResult:
    """One candidate tested with others: its seed and its test run, without the
    failures' text."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    seed: int | None
    green: bool
    passed: int
    failed: int
    errors: int
    timed_out: bool
    failing: tuple[str, ...]
    note: str
    tampered: str
    duration: float

    @classmethod
    def of(cls, run: TestRun, seed: int | None) -> CandidateResult:
        return cls(**_taken(run, cls, seed=seed))


@dataclass(frozen=True, kw_only=True)
class Candidates(Event):
    """A restart's fresh samples, tested together in one exec."""

    name: ClassVar[EventName] = "candidates"
    iteration: int
    results: tuple[CandidateResult, ...]


@dataclass(frozen=True, kw_only=True)
class ConfirmAlone(Event):
    """The best of samples tested together, run again alone: the verdict that counts."""

    name: ClassVar[EventName] = "confirm_alone"
    seed: int | None
    green: bool


def failure_details(report: TestReport) -> list[dict[str, str]]:
    """Each failing test's id, outcome, message and (trimmed) traceback, collection errors first."""
    bad = [t for t in report.tests if t.outcome in ("failed", "error")]
    cases = [*report.collection_errors, *bad]
    return [
        {"id": c.id, "outcome": c.outcome, "message": c.message, "traceback": c.traceback}
        for c in cases[:_MAX_FAILURES]
    ]
