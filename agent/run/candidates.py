"""What the trajectory keeps of each candidate and test run, so a run can be read later.

    record("candidate", iteration=2, **candidate_change(previous, files))
    record("test", ..., failures=failure_details(report))

A candidate is kept as its unified diff against the candidate tested before it
(the first one against the seed, or against nothing), which is small where the
files are many (`fix` hands the loop the whole repository).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.base import TestReport

__all__ = ["candidate_change", "failure_details"]

_MAX_FAILURES = 50
"""Failing tests whose message and traceback a test event keeps (the ids are all kept)."""
_NO_NEWLINE = "\\ No newline at end of file"


def candidate_change(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, Any]:
    """The diff from `before` to `after` and the paths added, changed and removed."""
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
    return {"added": added, "changed": changed, "removed": removed, "diff": diff}


@dataclass(frozen=True)
class TestRun:
    """A test run as the trajectory keeps it: the one place a report becomes an event.
    `green` is decided once, by the job, and every reader uses it (a page, a batch)."""

    __test__ = False

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
    def of(cls, report: TestReport, *, green: bool) -> TestRun:
        return cls(
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

    def fields(self) -> dict[str, object]:
        """The event's data, as the trajectory's JSON holds it."""
        return {
            "green": self.green, "passed": self.passed, "failed": self.failed,
            "errors": self.errors, "timed_out": self.timed_out, "failing": list(self.failing),
            "failures": list(self.failures), "note": self.note, "tampered": self.tampered,
            "duration": self.duration,
        }  # fmt: skip


def failure_details(report: TestReport) -> list[dict[str, str]]:
    """Each failing test's id, outcome, message and (trimmed) traceback, collection errors first."""
    bad = [t for t in report.tests if t.outcome in ("failed", "error")]
    cases = [*report.collection_errors, *bad]
    return [
        {"id": c.id, "outcome": c.outcome, "message": c.message, "traceback": c.traceback}
        for c in cases[:_MAX_FAILURES]
    ]
