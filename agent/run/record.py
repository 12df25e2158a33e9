"""One run's record: its folder, its events, its result, and the recorder that keeps them.

    run = RunDir(root, run_id)                                   # .greenloop/runs/<run-id>/
    with recorded_run(run, RunResult(run_id, str(run.path), model), observer) as record:
        record.count_from(budget)                                # the one counter
        record(TestRun.of(report, green=True, iteration=1))      # trajectory + result + observer

The folder:

    trajectory.jsonl  one JSON object per line, appended as events happen (the
                      format line first: `agent.run.codec`); each line is written
                      with one `write` and fsynced, so a process killed at any
                      moment leaves every earlier line readable
    result.json       the result, replaced atomically (tmp file + os.replace):
                      absent or complete, never torn; written from the start, after
                      every test run and at the end in `finally`
    cassette.jsonl    the model's requests and replies (written by agent.model)

Nothing is created until the first write. Model calls, tokens and cost are counted
once, by the run's `Budget`. Unusable replies are counted from the events, once: a
`malformed` event (a reply with no code) or an `apply` event that changed nothing is
one each, so `result.malformed` is what the trajectory holds; the budget's own charge
(a restart whose samples all held no code charges once) is `malformed_charged`. Events
are the frozen dataclasses of `agent.run.events` and `agent.run.candidates`, written and
read by `agent.run.codec`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from agent.atomic import sync_folder, write_atomic
from agent.errors import GreenloopError, PathRejected
from agent.run.budget import Budget, LimitsExceeded
from agent.run.candidates import TestRun
from agent.run.codec import FORMAT_LINE, Unknown, dumps, encode, read_trajectory
from agent.run.events import Apply, Event, Malformed, Observer, Record, Result, Syntax
from sandbox.base import TestCounts
from sandbox.paths import safe_path

__all__ = [
    "RUNS_DIR",
    "FixResult",
    "Observer",
    "Record",
    "Recorder",
    "RunDir",
    "RunResult",
    "check_records_home",
    "exclude_run_records",
    "is_run_id",
    "new_run_id",
    "read_result",
    "read_trajectory",
    "recorded_run",
    "save_files",
    "unusable",
]

RUNS_DIR = Path(".greenloop") / "runs"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def is_run_id(text: str) -> bool:
    """Whether `text` is a run id greenloop could have made (a plain folder name)."""
    return _RUN_ID.fullmatch(text) is not None


def new_run_id() -> str:
    """A run id that sorts by start time: `20250131T142501Z-3fa9c2` (UTC + 6 random hex)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class RunDir:
    """One run's record; a context manager that closes the trajectory file.

    Appends are thread-safe (model calls run in parallel) and each line goes
    out in a single `write` on an O_APPEND descriptor.
    """

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.run_id = new_run_id() if run_id is None else run_id
        if not _RUN_ID.fullmatch(self.run_id):
            raise ValueError(f"invalid run id {self.run_id!r}: use letters, digits, '.', '_', '-'")
        self.root = Path(root)
        self.path = self.root / RUNS_DIR / self.run_id
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def trajectory_path(self) -> Path:
        """`trajectory.jsonl`: the events, one per line."""
        return self.path / "trajectory.jsonl"

    @property
    def result_path(self) -> Path:
        """`result.json`: the final result."""
        return self.path / "result.json"

    @property
    def cassette_path(self) -> Path:
        """`cassette.jsonl`: where the model layer records its calls."""
        return self.path / "cassette.jsonl"

    def ensure(self) -> Path:
        """Create the run folder (and its parents) if needed; return it."""
        check_records_home(self.root)
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        if created:
            sync_folder(self.path.parent)
        return self.path

    def append(self, event: Event) -> None:
        """Append the event's line (the format line first, in a new file), then flush it
        to disk."""
        line = encode(event, datetime.now(UTC).isoformat(timespec="milliseconds"))
        with self._lock:
            if self._fd is None:
                self.ensure()
                self._fd = os.open(
                    self.trajectory_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
                )
                if os.fstat(self._fd).st_size == 0:
                    line = FORMAT_LINE + line
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)

    def write_result(self, result: Mapping[str, Any]) -> Path:
        """Write `result.json` atomically: readers see the old file, the new one, or none."""
        self.ensure()
        return write_atomic(self.result_path, dumps(result, indent=2) + "\n")

    def close(self) -> None:
        """Close the trajectory file; a later append reopens it."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def read_result(path: Path) -> dict[str, Any] | None:
    """A run's `result.json` (pass the file or the run folder), or None when it is absent."""
    target = path / "result.json" if path.is_dir() else path
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{target} does not hold a JSON object")
    return data


# ---------------------------------------------------------------- the result


@dataclass
class RunResult:
    """What `--json` prints and `result.json` holds."""

    run_id: str
    run_dir: str
    model: str
    status: str = "error"
    """green, red or error."""
    exit_reason: str = "interrupted"
    iterations: int = 0
    tests: TestCounts = field(default_factory=TestCounts)
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float | None = 0.0
    branch: str | None = None
    commit: str | None = None
    plan_source: str = ""
    tests_generated: bool = False
    language: str = "python"
    """The toolchain the run's tests ran in (`sandbox.toolchains`)."""
    files: list[str] = field(default_factory=list)
    history: list[int] = field(default_factory=list)
    malformed: int = 0
    """Unusable replies, from the events: no code, or an edit that changed nothing."""
    malformed_charged: int = 0
    """What the budget charged for them (its `max_malformed` counts these)."""
    syntax_errors: int = 0
    model_calls: int = 0
    timeouts: int = 0
    candidates: int = 0
    """Candidates tested: the first, each one feedback made, each fresh sample."""
    best_from: str = ""
    """Where the best candidate came from: first, feedback or restart."""
    ways: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per way forward (feedback, restart): requests tried, and how many raised the best."""
    wall: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FixResult(RunResult):
    """`new`'s result plus the tests fixed and the flaky ones (node ids)."""

    fixed: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Third-party packages the tests import and the sandbox lacks."""


# ---------------------------------------------------------------- the recorder

R = TypeVar("R", bound=RunResult)


class Recorder(Generic[R]):
    """Appends each event to the trajectory, keeps the result current, tells the observer."""

    def __init__(self, run: RunDir, result: R, observer: Observer | None) -> None:
        self.run, self.result, self.observer = run, result, observer
        self.started = time.monotonic()
        self.budget: Budget | None = None

    def count_from(self, budget: Budget) -> None:
        """Take calls, tokens, cost and malformed replies from `budget`, the one counter."""
        self.budget = budget

    def _sync_counts(self) -> None:
        if self.budget is None:
            return
        b, r = self.budget, self.result
        r.model_calls, r.malformed_charged, r.cost = b.calls, b.malformed, b.cost
        r.tokens = {"prompt": b.prompt_tokens, "completion": b.completion_tokens}

    def __call__(self, event: Event) -> None:
        self.run.append(event)
        r = self.result
        self._sync_counts()
        if isinstance(event, Syntax):
            r.syntax_errors += 1
        elif unusable(event):
            r.malformed += 1
        elif isinstance(event, TestRun):
            r.iterations = event.iteration
            r.tests = TestCounts(event.passed, event.failed, event.errors)
            r.history.append(event.passed)
            r.timeouts += event.timed_out
            self.save()
        if self.observer is not None:
            self.observer(event)

    def save(self) -> None:
        self._sync_counts()
        self.result.wall = round(time.monotonic() - self.started, 3)
        self.run.write_result(self.result.to_dict())


def unusable(event: Event | Unknown) -> bool:
    """Whether an event is an unusable reply: one with no code, or edits that changed
    nothing (the one rule `result.malformed` and the batch report count by)."""
    return isinstance(event, Malformed) or (isinstance(event, Apply) and not event.changed)


def save_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write `files` under `folder` (e.g. the run's `best/`), every path checked."""
    for rel, text in files.items():
        target = safe_path(folder, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def check_records_home(root: Path) -> None:
    """Refuse a `.greenloop/` (or its `runs/`, `cache/`, or a run folder) that is a link or
    not a folder: a repository could plant one so that records land where it points."""
    home = Path(root) / RUNS_DIR.parts[0]
    for path in (home, home / RUNS_DIR.parts[1], home / "cache"):
        if path.is_symlink():
            raise PathRejected(
                f"{path} is a link (to {os.readlink(path)}): greenloop writes its run records "
                "there and would write where it points",
                fix=f"remove the link ({path}); greenloop makes the folder itself",
            )
        if path.exists() and not path.is_dir():
            raise PathRejected(
                f"{path} is not a folder: greenloop keeps its run records there",
                fix=f"move {path} out of the way",
            )


def exclude_run_records(root: Path) -> None:
    """Keep `.greenloop/` out of `git status` without touching the user's .gitignore."""
    exclude = root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    if ".greenloop/" not in text.splitlines():
        exclude.write_text(
            text + ("" if text.endswith("\n") or not text else "\n") + ".greenloop/\n"
        )


@contextmanager
def recorded_run(
    run: RunDir,
    result: R,
    observer: Observer | None,
    finished: Callable[[Path], object] | None = None,
) -> Iterator[Recorder[R]]:
    """The record of one run: `result.json` from the start, a budget stop as a red result,
    an error as an error result (re-raised), and the final result written whatever
    happens; then `finished(run folder)` (the commands write the trajectory page with
    it: presentation lives above the record, in `agent.show`)."""
    record = Recorder(run, result, observer)
    record.save()
    try:
        yield record
    except LimitsExceeded as stop:
        result.status, result.exit_reason = "red", stop.reason
    except GreenloopError as exc:
        result.status, result.exit_reason, result.error = "error", "error", str(exc)
        raise
    finally:
        record(Result(status=result.status, exit_reason=result.exit_reason))
        record.save()
        run.close()
        if finished is not None:
            finished(run.path)
