"""`greenloop batch`: every task of a folder (or a JSONL file), in parallel, resumable.

    tasks = load_batch_tasks(Path("tasks"))
    summary = run_batch(tasks, BatchOptions(out=folder, settings=settings, workers=2))

The batch folder (`--out`):

    batch.json                  the batch: source, tasks, tries, model (checked on resume)
    summary.json                the totals, rewritten whenever a task ends
    tasks/<name>/result.json    a task's record, written atomically when the task ends
    tasks/<name>/try-<i>/       that try's project (a git repo) with its run record
    .lock                       held while a batch runs here

Resume: a task with a result.json is finished and skipped; a task folder
without one is partial: it is removed (once no process holds its lock) and
the task runs again. Stopping: the first SIGINT/SIGTERM stops scheduling and
lets running tasks end, which are cut after `grace` seconds or at the second
signal; every finished result is kept. Budget: once the tokens or cost spent
(finished tasks, plus what running tasks have recorded so far) reach the
budget, no task starts; running ones finish; the summary says so.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from agent.atomic import write_json
from agent.batch.executors import Executor, make_executor
from agent.batch.inside import inside
from agent.batch.ledger import BatchSummary, TaskRecord
from agent.batch.task_run import (
    RESULT_FILE,
    TaskData,
    TaskOutcome,
    TaskRun,
    TaskSettings,
    task_lock,
)
from agent.errors import UsageError
from agent.model.serve.server import ModelServer
from agent.run.moves import pooled
from agent.run.record import RUNS_DIR
from agent.task import SPEC_FILE, Task, load_task, load_tasks_jsonl

__all__ = [
    "MANIFEST_FILE",
    "SUMMARY_FILE",
    "TASKS_DIR",
    "BatchOptions",
    "BatchProgress",
    "load_batch_tasks",
    "read_records",
    "run_batch",
]

log = logging.getLogger(__name__)

MANIFEST_FILE = "batch.json"
SUMMARY_FILE = "summary.json"
TASKS_DIR = "tasks"
_ORPHAN_WAIT = 40.0
"""Seconds resume waits for a dying worker to release a partial task."""
_POLL = 0.25
_CUT_SERVER_AFTER = 2.0
"""Seconds between cutting the running tasks and stopping the batch's model server: the
workers' watchdogs have interrupted their jobs by then, so a failing call is not taken
for the task's own error."""


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch."""

    out: Path
    """The batch folder."""
    settings: TaskSettings
    workers: int = 2
    resume: bool = False
    budget_tokens: int | None = None
    """Prompt plus completion tokens the whole batch may spend."""
    budget_cost: float | None = None
    """US dollars the whole batch may spend (needs a model with a known price)."""
    budget_wall: float | None = None
    """Seconds this run of the batch may take. Each task starts with its share of the time
    left (the time left times the workers, over the tasks not finished), at most its own
    `wall_seconds`: a task that ends early (green, or no progress) leaves its time to the
    rest. Once it is spent no task starts."""
    executor: str = "local"
    ray_address: str | None = None
    grace: float = 60.0
    """Seconds running tasks get to end after the first interrupt, before they are cut."""


@dataclass
class BatchProgress:
    """Where a batch is; what the live view shows."""

    total: int
    done: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    running: list[str] = field(default_factory=list)
    tokens: int = 0
    cost: float | None = None
    state: str = "running"
    started: float = field(default_factory=time.monotonic)
    ended_here: int = 0
    """Tasks that ended in this session (the pace behind the ETA)."""

    @property
    def eta(self) -> float | None:
        """Seconds until every task is done at this session's pace; None before the first."""
        if not self.ended_here:
            return None
        pace = (time.monotonic() - self.started) / self.ended_here
        return pace * (self.total - self.done)

    def count(self, record: TaskRecord) -> None:
        """Add one finished task's record."""
        self.done += 1
        status = record.status
        self.passed += status == "passed"
        self.failed += status == "failed"
        self.errors += status == "error"


Observer = Callable[[BatchProgress], None]


def load_batch_tasks(source: Path) -> list[Task]:
    """The tasks of a folder of task folders, a single task folder, or a JSONL file."""
    source = Path(source)
    if source.is_file() and source.suffix == ".jsonl":
        return load_tasks_jsonl(source)
    if not source.is_dir():
        raise UsageError(f"no tasks at {source}: name a folder of task folders or a .jsonl file")
    if (source / SPEC_FILE).is_file():
        return [load_task(source)]
    folders = sorted(
        p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))
    )
    if not folders:
        raise UsageError(f"{source} holds no task folders: each needs a {SPEC_FILE}")
    return [load_task(folder) for folder in folders]


def read_records(folder: Path, names: Sequence[str] | None = None) -> dict[str, TaskRecord]:
    """The finished tasks' records by name (all under tasks/, or just `names`)."""
    base = inside(Path(folder), TASKS_DIR)
    if names is None:
        names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    records: dict[str, TaskRecord] = {}
    for name in names:
        path = inside(Path(folder), TASKS_DIR, name, RESULT_FILE)
        try:
            records[name] = TaskRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue
        except ValueError as exc:  # JSONDecodeError is one
            log.warning("%s is damaged (%s): the task counts as not finished", path, exc)
    return records


class _Signals:
    """Counts SIGINT/SIGTERM while the scheduler runs (handlers only in the main thread)."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.first = self.first or time.monotonic()
        log.warning("signal %d: %s", signum, "cutting" if self.count > 1 else "stopping")

    @contextmanager
    def installed(self) -> Iterator[_Signals]:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[int(sig)] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for number, old in self._old.items():
                signal.signal(number, old)


@contextmanager
def _batch_lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another batch is running in {out}: wait for it, or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)


def _check_out(tasks: Sequence[Task], out: Path) -> None:
    resolved = out.resolve()
    for task in tasks:
        root = task.root.resolve()
        from_folder = task.source is None or task.source.name == SPEC_FILE
        if from_folder and (resolved == root or root in resolved.parents):
            raise UsageError(f"--out {out} is inside the task folder {root}: choose another")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: name a folder")


def _prepare(tasks: Sequence[Task], options: BatchOptions) -> list[str]:
    """Write or check the manifest; clean partial tasks; the names still to run."""
    out = options.out
    manifest_path = out / MANIFEST_FILE
    names = [t.name for t in tasks]
    if manifest_path.is_file():
        if not options.resume:
            raise UsageError(f"{out} already holds a batch: add --resume, or choose a new --out")
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if old.get("tries") != options.settings.tries:
            raise UsageError(
                f"{out} was run with --tries {old.get('tries')}: resume with the same --tries"
            )
    elif any(p.name != ".lock" for p in out.iterdir()):
        raise UsageError(f"--out {out} is not empty and holds no batch: choose a new folder")
    write_json(manifest_path, _manifest(tasks, options))
    finished = read_records(out, names)
    for name in names:
        folder = inside(out, TASKS_DIR, name)
        if name not in finished and folder.exists():
            with task_lock(folder, wait=_ORPHAN_WAIT):
                log.info("removing the partial task %s", name)
                shutil.rmtree(folder)
    return [n for n in names if n not in finished]


def _manifest(tasks: Sequence[Task], options: BatchOptions) -> dict[str, Any]:
    sources = sorted({str(t.source.parent if t.source else t.root) for t in tasks})
    return {
        "version": 1,
        "sources": sources,
        "tasks": [t.name for t in tasks],
        "tries": options.settings.tries,
        "model": options.settings.model_name,
        "executor": options.executor,
        "workers": options.workers,
        "budget": {"tokens": options.budget_tokens, "cost": options.budget_cost},
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class _Scheduler:
    """Feeds jobs to an executor, within the worker count, the budget and the signals."""

    def __init__(
        self,
        tasks: Sequence[Task],
        pending: Sequence[str],
        options: BatchOptions,
        observer: Observer,
    ) -> None:
        self.options, self.observer = options, observer
        self.names = [t.name for t in tasks]
        self.records = read_records(options.out, self.names)
        self.queue = deque(
            TaskRun(TaskData.of(t), options.out / TASKS_DIR / t.name, options.settings)
            for t in tasks
            if t.name in pending
        )
        self.progress = BatchProgress(total=len(tasks))
        for record in self.records.values():
            self.progress.count(record)
        self.stopped_by_budget = False
        self.started = time.monotonic()
        self.interrupted = False
        self.cut = False
        self.on_cut: Callable[[], None] = lambda: None
        self.lost: list[str] = []

    def run(self, executor: Executor, signals: _Signals) -> None:
        while self.queue or executor.running():
            self._fill(executor, signals)
            for outcome in executor.poll(_POLL if executor.running() else 0):
                self._ended(outcome)
            self._spend()
            self._maybe_cut(executor, signals)
            self.observer(self.progress)
            if signals.count and not executor.running():
                break

    def _fill(self, executor: Executor, signals: _Signals) -> None:
        while self.queue and executor.running() < self.options.workers:
            if signals.count:
                self.interrupted = True
                self.progress.state = "interrupted: no new tasks"
                return
            share = self._wall_share(executor.running())
            if self._over_budget() or (share is not None and share <= 0):
                self.stopped_by_budget = True
                self.progress.state = "budget spent: no new tasks"
                self.queue.clear()
                return
            job = replace(self.queue.popleft(), prior=self.prior())
            if share is not None:
                job = replace(job, task=_within(job.task, share))
            executor.submit(job)
            self.progress.running.append(job.name)

    def _wall_share(self, running: int) -> float | None:
        """The seconds the next task may take under `budget_wall` (None: no such budget)."""
        budget = self.options.budget_wall
        if budget is None:
            return None
        left = self.started + budget - time.monotonic()
        return left * self.options.workers / (len(self.queue) + running) if left > 0 else 0.0

    def prior(self) -> dict[str, dict[str, int]]:
        """What each way forward paid in the tasks finished so far: where the next starts."""
        return pooled([ways for r in self.records.values() for ways in r.ways])

    def _ended(self, outcome: TaskOutcome) -> None:
        if outcome.name in self.progress.running:
            self.progress.running.remove(outcome.name)
        if outcome.record is None:
            if outcome.lost:
                log.warning("task %s did not finish: %s", outcome.name, outcome.lost)
                self.lost.append(outcome.name)
            return
        path = self.options.out / TASKS_DIR / outcome.name / RESULT_FILE
        if not path.is_file():  # a Ray task on another node, or an error outside any run
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, outcome.record.to_json())
        self.records[outcome.name] = outcome.record
        self.progress.count(outcome.record)
        self.progress.ended_here += 1
        write_json(self.options.out / SUMMARY_FILE, self.summary().to_json())

    def _spend(self) -> None:
        prompt = completion = 0
        for record in self.records.values():
            prompt += record.prompt_tokens
            completion += record.completion_tokens
        for name in self.progress.running:
            live = _live_tokens(self.options.out / TASKS_DIR / name)
            prompt, completion = prompt + live[0], completion + live[1]
        price = self.options.settings.price
        self.progress.tokens = prompt + completion
        self.progress.cost = None if price is None else price.cost(prompt, completion)

    def _over_budget(self) -> bool:
        self._spend()
        tokens, cost = self.options.budget_tokens, self.options.budget_cost
        if tokens is not None and self.progress.tokens >= tokens:
            return True
        return cost is not None and self.progress.cost is not None and self.progress.cost >= cost

    def _maybe_cut(self, executor: Executor, signals: _Signals) -> None:
        if not signals.count or self.cut or not executor.running():
            return
        self.interrupted = True
        late = time.monotonic() - signals.first > self.options.grace
        if signals.count > 1 or late:
            log.warning("cutting %d running task(s)", executor.running())
            executor.cut()
            self.on_cut()
            self.cut = True
            self.progress.state = "interrupted: cutting running tasks"
        else:
            self.progress.state = "interrupted: waiting for running tasks (interrupt again to cut)"

    def summary(self) -> BatchSummary:
        options = self.options
        return BatchSummary.over(self.names, self.records, options.settings.tries).but(
            stopped_by_budget=self.stopped_by_budget,
            interrupted=self.interrupted,
            budget={"tokens": options.budget_tokens, "cost": options.budget_cost},
            model=options.settings.model_name,
            executor=options.executor,
            workers=options.workers,
            wall=round(time.monotonic() - self.progress.started, 3),
        )


def _within(task: TaskData, seconds: float) -> TaskData:
    """`task` with at most `seconds` of wall time (a whole second at least)."""
    wall = max(1.0, min(task.config.wall_seconds, seconds))
    return replace(task, config=task.config.model_copy(update={"wall_seconds": wall}))


def _live_tokens(folder: Path) -> tuple[int, int]:
    """Tokens the running tries of a task have recorded so far."""
    prompt = completion = 0
    for path in folder.glob(f"try-*/{RUNS_DIR.as_posix()}/*/result.json"):
        try:
            tokens = json.loads(path.read_text(encoding="utf-8"))["tokens"]
        except (OSError, ValueError, KeyError):
            continue  # not written yet
        prompt += int(tokens.get("prompt", 0))
        completion += int(tokens.get("completion", 0))
    return prompt, completion


@contextmanager
def _one_model(
    options: BatchOptions, needed: bool
) -> Iterator[tuple[BatchOptions, Callable[[], None]]]:
    """The options the workers get: with the embedded model on the local pool, one model
    server for the whole batch (started here, stopped on every way out), else as given;
    and what to do when running tasks are cut.

    A cut stops the server a moment after the workers were told (`_CUT_SERVER_AFTER`):
    a task waiting for its turn at the model would otherwise hold the cut up until
    its answer came. Ray workers on other nodes cannot reach this machine's
    loopback: they keep loading their own copy.
    """
    settings = options.settings
    shared = (
        needed
        and options.executor == "local"
        and not settings.served
        and settings.model.replay is None
        and settings.model.backend() == "embedded"
    )
    if not shared:
        yield options, lambda: None
        return
    with ModelServer(settings.model) as server:
        client = replace(settings, model=server.client_config(), served=True)
        stopper = threading.Timer(_CUT_SERVER_AFTER, server.stop)
        stopper.daemon = True
        try:
            yield replace(options, settings=client), stopper.start
        finally:
            stopper.cancel()


def run_batch(
    tasks: Sequence[Task], options: BatchOptions, observer: Observer | None = None
) -> BatchSummary:
    """Run the tasks not yet finished in the batch folder; return (and write) the summary."""
    if not tasks:
        raise UsageError("no tasks to run")
    if options.workers < 1 or options.settings.tries < 1:
        raise UsageError("--workers and --tries must be at least 1")
    # Absolute: gitops' `git init` of a relative path nests it inside itself.
    options = replace(options, out=options.out.resolve())
    _check_out(tasks, options.out)
    with _batch_lock(options.out):
        pending = _prepare(tasks, options)
        with _one_model(options, bool(pending)) as (served, on_cut):
            scheduler = _Scheduler(tasks, pending, served, observer or (lambda progress: None))
            scheduler.on_cut = on_cut
            if pending:
                with (
                    make_executor(options.executor, options.workers, options.ray_address) as ex,
                    _Signals().installed() as signals,
                ):
                    scheduler.run(ex, signals)
        scheduler.progress.state = "done"
        scheduler.observer(scheduler.progress)
        summary = scheduler.summary()
        write_json(options.out / SUMMARY_FILE, summary.to_json())
    return summary
