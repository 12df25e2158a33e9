"""The sandbox interface: what every way of running untrusted code offers.

Frozen dataclasses cross the interface; implementations live in
`sandbox.docker` (the default) and `sandbox.local` (explicit opt-in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

__all__ = [
    "ExecResult",
    "Outcome",
    "Sandbox",
    "SandboxKind",
    "Suite",
    "TestCase",
    "TestCounts",
    "TestReport",
]

Outcome = Literal["passed", "failed", "error", "skipped"]


class SandboxKind(StrEnum):
    """Where untrusted code runs (`--sandbox`)."""

    DOCKER = "docker"
    """A container: isolated (the default)."""
    LOCAL = "local"
    """A subprocess with rlimits: NOT isolation, an explicit opt-in."""


@dataclass(frozen=True)
class ExecResult:
    """What one command in the sandbox did."""

    output: str
    """stdout and stderr interleaved; head and tail kept when over the byte cap."""
    exit_code: int
    """The process's exit code; -1 when it was killed for its time."""
    timed_out: bool = False
    oom_killed: bool = False
    duration: float = 0.0
    """Wall seconds, measured on the host."""
    truncated: bool = False
    """True when output went over the cap and its middle was dropped."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


@dataclass(frozen=True)
class TestCase:
    """One test's outcome, from pytest's JUnit XML."""

    __test__ = False  # not a pytest class

    id: str
    """pytest node id, e.g. `tests/test_x.py::test_y`."""
    outcome: Outcome
    message: str = ""
    traceback: str = ""
    """Trimmed: the frames nearest the failure."""
    duration: float = 0.0


@dataclass(frozen=True)
class TestCounts:
    """How many tests passed, failed and errored (collection errors count as errors)."""

    __test__ = False

    passed: int = 0
    failed: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.errors} errors"


@dataclass(frozen=True)
class TestReport:
    """The result of one test run: per test, totals, and collection errors apart."""

    __test__ = False

    tests: tuple[TestCase, ...] = ()
    collection_errors: tuple[TestCase, ...] = ()
    """Files pytest could not import or collect (ImportError, SyntaxError...)."""
    exec: ExecResult | None = None
    duration: float = 0.0
    timed_out: bool = False
    oom_killed: bool = False
    note: str = ""
    """Set when there is no usable XML: why (timeout, crash, no tests collected)."""
    tampered: str = ""
    """Set when the report cannot be the real outcome (a canary passed, a forged report):
    why. A tampered report is never green."""

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)

    @property
    def passed(self) -> int:
        return self._count("passed")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def errors(self) -> int:
        return self._count("error") + len(self.collection_errors)

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def counts(self) -> TestCounts:
        """Passed, failed and errors together, as a run's result holds them."""
        return TestCounts(self.passed, self.failed, self.errors)

    @property
    def green(self) -> bool:
        """Every test passed, at least one ran, nothing failed to collect, nothing forged."""
        return (
            not self.tampered
            and self.passed > 0
            and self.failed == 0
            and self.errors == 0
            and not self.timed_out
            and not self.oom_killed
        )

    @property
    def failing_ids(self) -> frozenset[str]:
        bad = {t.id for t in self.tests if t.outcome in ("failed", "error")}
        return frozenset(bad | {c.id for c in self.collection_errors})

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `greenloop sandbox test --json`."""
        return {
            "green": self.green,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "timed_out": self.timed_out,
            "oom_killed": self.oom_killed,
            "duration": round(self.duration, 3),
            "note": self.note,
            "tampered": self.tampered,
            "tests": [
                {"id": t.id, "outcome": t.outcome, "message": t.message}
                for t in (*self.tests, *self.collection_errors)
            ],
            "collection_errors": [asdict(c) for c in self.collection_errors],
            "failures": [
                {"id": t.id, "outcome": t.outcome, "message": t.message, "traceback": t.traceback}
                for t in (*self.tests, *self.collection_errors)
                if t.outcome in ("failed", "error")
            ],
        }


@dataclass(frozen=True)
class Suite:
    """What the judge of a test run knows beyond pytest's arguments."""

    __test__ = False

    tests: Mapping[str, str] = field(default_factory=dict)
    """The pristine test files (workspace paths): for the run they are written renamed,
    with tests that must fail among them, then written back (`sandbox.disguise`)."""
    watch: frozenset[str] = frozenset()
    """Workspace paths of the files the model wrote: the judge's runtime audit reports
    what they do to reach into it."""
    focus: frozenset[str] = frozenset()
    """Node ids of the tests the run is about (e.g. those failing so far): the mutant
    copies are made of them first."""


@runtime_checkable
class Sandbox(Protocol):
    """A place to run untrusted code. Use it as a context manager."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Write files into the workspace; every path is validated first."""
        ...

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        """Run a command in the workspace with a hard timeout (the config's default if None)."""
        ...

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Harvest regular files from the workspace; links and odd names are refused."""
        ...

    def reset(self) -> None:
        """Empty the workspace (a run's files are written afresh after it)."""
        ...

    def read_optional(self, rel: str) -> bytes | None:
        """One regular file, or None when it does not exist."""
        ...

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        """Run pytest, judged, and parse its report (`suite`: the tests to disguise and
        the files to watch)."""
        ...
