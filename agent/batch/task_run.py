"""One task of a batch as a worker runs it: its tries, and its record.

    outcome = run_task(TaskRun(task=TaskData.of(task), out=folder, settings=settings))

A task's run happens inside a worker process (or a Ray task): it builds its own model
client from the `ModelConfig` (clients are never pickled), runs up to
`settings.tries` tries of `run_new`, each in `<out>/try-<i>/` with its own
sandbox, and writes the task's record `<out>/result.json` atomically when it
ends. Try i+1 runs only when try i was red, and its spec carries what try i's
last test run reported: counts, failing tests, and the failure output its last
feedback prompt showed (as aider's benchmark feeds back the test output).

While a task runs it holds an exclusive lock on `<out>/.lock`, so a resumed
batch never cleans up or reruns a task that a dying worker still holds.

The record is a `agent.batch.ledger.TaskRecord`: how the task ended (passed,
failed or error), the try that went green, each try's `TryRecord`, tokens, cost,
wall time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.atomic import write_json
from agent.batch.ledger import TaskRecord, TryRecord
from agent.errors import GreenloopError, UsageError
from agent.model import (
    ChatModel,
    ModelConfig,
    OpenAIChat,
    Price,
    PriceTable,
    RecordingModel,
    make_model,
)
from agent.new.scaffold import prepare_new, run_new
from agent.run.moves import Ways
from agent.run.prompts import failure
from agent.run.record import RunDir, new_run_id, read_result, read_trajectory
from agent.run.settings import EditFormatName, RunSettings
from agent.show.page import write_page_quietly
from agent.task import Task, TaskConfig
from sandbox import SandboxConfig
from sandbox.base import TestCase

__all__ = [
    "LOCK_FILE",
    "RESULT_FILE",
    "TaskBusy",
    "TaskData",
    "TaskOutcome",
    "TaskRun",
    "TaskSettings",
    "previous_try_context",
    "run_task",
    "task_lock",
]

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
LOCK_FILE = ".lock"
_MAX_FAILING_SHOWN = 20
_MAX_OUTPUT_CHARS = 4000
_MODELS: dict[str, ChatModel] = {}
"""One model client per worker process and config, made on first use."""


class TaskBusy(UsageError):
    """Another process holds a task's lock: it is still running that task."""


@dataclass(frozen=True)
class TaskData:
    """A task in picklable form (a Task holds read-only mappings, which do not pickle)."""

    name: str
    root: Path
    spec: str
    tests: dict[str, str]
    starter: dict[str, str]
    config: TaskConfig

    @classmethod
    def of(cls, task: Task) -> TaskData:
        """The data of a loaded task.

        A JSONL task has no folder of its own: its root becomes its file, so that
        a run dir beside the file is not taken for one inside the task.
        """
        from_jsonl = task.source is not None and task.source.suffix == ".jsonl"
        root = task.source if from_jsonl and task.source is not None else task.root
        return cls(task.name, root, task.spec, dict(task.tests), dict(task.starter), task.config)

    def to_task(self, extra_spec: str = "") -> Task:
        """The Task again, its spec extended by `extra_spec`."""
        return Task(
            name=self.name,
            root=self.root,
            spec=self.spec + extra_spec,
            tests=MappingProxyType(dict(self.tests)),
            starter=MappingProxyType(dict(self.starter)),
            config=self.config,
        )


@dataclass(frozen=True)
class TaskSettings:
    """What every task of a batch shares (each try makes its own `RunSettings` from it)."""

    model: ModelConfig
    model_name: str
    """How the model is described in results (`describe_model`)."""
    tries: int = 1
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    edit_format: EditFormatName = EditFormatName.SEARCH_REPLACE
    commit_partial: bool = False
    price: Price | None = None
    """The model's price per million tokens; None: cost unknown."""
    record_cassettes: bool = True
    ship_limit_mb: float = 64.0
    """The most a task may send back from a Ray node (records and project, gzipped)."""
    served: bool = False
    """`model` is the batch's one model server (`agent.model.serve`), priced at `price`."""


@dataclass(frozen=True)
class TaskRun:
    """One task to run: its data, its folder in the batch's folder, the shared settings."""

    task: TaskData
    out: Path
    settings: TaskSettings
    prior: Ways | None = None
    """What each way forward paid in the batch's tasks finished before this one started."""

    @property
    def name(self) -> str:
        """The task's name (its folder name under the batch folder's tasks/)."""
        return self.task.name


@dataclass(frozen=True)
class TaskOutcome:
    """How a task's run ended: with a record, cut (interrupted), or lost (its worker died)."""

    name: str
    record: TaskRecord | None
    cut: bool = False
    lost: str = ""


@contextmanager
def task_lock(folder: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold `<folder>/.lock` exclusively; TaskBusy when another process keeps it `wait` s."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise TaskBusy(
                        f"task folder {folder} is in use by process {holder}: "
                        "wait for it to end (or stop it) and resume again"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _model(settings: TaskSettings) -> ChatModel:
    config = settings.model
    key = config.model_dump_json()
    if key not in _MODELS:
        if settings.served and config.model:
            price = settings.price or Price(0.0, 0.0)
            prices = PriceTable().extended({config.model: price})
            _MODELS[key] = OpenAIChat(config, prices=prices)
        else:
            _MODELS[key] = make_model(config.model_copy(update={"record": None}))
    return _MODELS[key]


def run_task(job: TaskRun) -> TaskOutcome:
    """Run the task's tries and write its record; a cut (KeyboardInterrupt) writes none."""
    out = Path(job.out)
    with task_lock(out, wait=5.0):
        try:
            tries = _run_tries(job)
        except KeyboardInterrupt:
            log.info("task %s was cut", job.name)
            return TaskOutcome(job.name, None, cut=True)
        record = TaskRecord.of_tries(job.name, tries, job.settings.price)
        write_json(out / RESULT_FILE, record.to_json())
    return TaskOutcome(job.name, record)


def _run_tries(job: TaskRun) -> list[TryRecord]:
    tries: list[TryRecord] = []
    context = ""
    for number in range(1, job.settings.tries + 1):
        attempt = _one_try(job, number, context)
        tries.append(attempt)
        if attempt.result.status != "red":
            break
        context = previous_try_context(attempt)
    return tries


def _one_try(job: TaskRun, number: int, context: str) -> TryRecord:
    settings = job.settings
    folder = f"try-{number}"
    run = RunDir(Path(job.out) / folder, new_run_id())
    options = RunSettings(
        out=run.root,
        run_id=run.run_id,
        model_name=settings.model_name,
        sandbox=settings.sandbox,
        commit_partial=settings.commit_partial,
        edit_format=settings.edit_format,
        prior=job.prior,
    )
    try:
        prepared = prepare_new(job.task.to_task(context), options)
        model = _model(settings)
        if settings.record_cassettes:
            model = RecordingModel(model, run.cassette_path.resolve())
        result = run_new(prepared, model, None, write_page_quietly)
    except GreenloopError as exc:
        log.warning("task %s, try %d: %s", job.name, number, exc)
        base = {"run_id": run.run_id, "run_dir": str(run.path), "model": settings.model_name}
        failed = {"status": "error", "exit_reason": "error", "error": str(exc)}
        saved = read_result(run.path) or base
        return TryRecord.from_json({**saved, **failed, "try": number, "out": folder})
    return TryRecord(number, folder, result)


def previous_try_context(attempt: TryRecord) -> str:
    """What a red try left for the next one: how it stopped and its last test run."""
    events = read_trajectory(Path(attempt.result.run_dir) / "trajectory.jsonl")
    tests = [e for e in events if e.get("event") == "test"]
    lines = [
        "",
        "",
        f"## Note: attempt {attempt.number} at this task failed",
        f"It stopped with exit reason `{attempt.result.exit_reason}`.",
    ]
    if tests:
        last = tests[-1]
        summary = f"{last['passed']} passed, {last['failed']} failed, {last['errors']} errors"
        lines.append(
            f"Its last test run: {summary}" + (" (TIMED OUT)" if last.get("timed_out") else "")
        )
        failing = list(last.get("failing", []))
        if failing:
            lines.append("Failing tests:")
            lines += [f"- {test_id}" for test_id in failing[:_MAX_FAILING_SHOWN]]
        if last.get("note"):
            lines.append(f"Test output: {last['note']}")
        shown = _failures_shown(last.get("failures") or [])
        if shown:
            lines += ["How they failed:", "```", shown, "```"]
    lines.append("Write the code again, taking care that these tests pass.")
    return "\n".join(lines) + "\n"


def _failures_shown(failures: Sequence[Mapping[str, Any]]) -> str:
    """The failures a test event holds (messages and tracebacks), as a prompt shows them."""
    cases = [
        TestCase(str(f.get("id", "")), "failed", str(f.get("message", "")),
                 str(f.get("traceback", "")))
        for f in failures if isinstance(f, Mapping)
    ]  # fmt: skip
    return "\n".join(failure(c) for c in cases)[:_MAX_OUTPUT_CHARS]
