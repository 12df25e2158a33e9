"""What `greenloop new` and `greenloop fix` share about keeping the run record current.

    record = Recorder(run_dir, result, observer)
    record("test", iteration=1, passed=3, failed=1, errors=0)   # trajectory + result + observer
    record.save()                                                # result.json, atomically

`result` is any object with the fields of `agent.new.RunResult` (fix extends it).
Model calls, tokens, cost and malformed replies are counted once, by the run's
`Budget`: `record.count_from(budget)` makes the result show the budget's figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from agent.calls import Budget, LimitsExceeded
from agent.errors import GreenloopError
from agent.runlog import RunDir
from agent.trajectory_page import write_page_quietly
from sandbox.paths import safe_path

__all__ = ["Observer", "Recorder", "exclude_run_records", "recorded_run", "save_files"]

Observer = Callable[[str, Mapping[str, Any]], None]


class _Result(Protocol):
    model_calls: int
    tokens: dict[str, int]
    malformed: int
    syntax_errors: int
    iterations: int
    tests: dict[str, int]
    history: list[int]
    timeouts: int
    wall: float
    cost: float | None
    status: str
    exit_reason: str
    error: str

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Result)


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
        r.model_calls, r.malformed, r.cost = b.calls, b.malformed, b.cost
        r.tokens = {"prompt": b.prompt_tokens, "completion": b.completion_tokens}

    def __call__(self, event: str, **data: Any) -> None:
        self.run.append(event, **data)
        r = self.result
        self._sync_counts()
        if event == "syntax":
            r.syntax_errors += 1
        elif event == "test":
            r.iterations = int(data["iteration"])
            r.tests = {k: int(data[k]) for k in ("passed", "failed", "errors")}
            r.history.append(int(data["passed"]))
            r.timeouts += bool(data.get("timed_out"))
            self.save()
        if self.observer is not None:
            self.observer(event, data)

    def save(self) -> None:
        self._sync_counts()
        self.result.wall = round(time.monotonic() - self.started, 3)
        self.run.write_result(self.result.to_dict())


def save_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write `files` under `folder` (e.g. the run's `best/`), every path checked."""
    for rel, text in files.items():
        target = safe_path(folder, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


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
def recorded_run(run: RunDir, result: R, observer: Observer | None) -> Iterator[Recorder[R]]:
    """The record of one run: `result.json` from the start, a budget stop as a red result,
    an error as an error result (re-raised), and the final result and the trajectory page
    (`trajectory.html`) written whatever happens."""
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
        record("result", status=result.status, exit_reason=result.exit_reason)
        record.save()
        run.close()
        write_page_quietly(run.path)
