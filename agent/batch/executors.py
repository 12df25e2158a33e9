"""Where a batch's tasks run: a local process pool (default) or Ray tasks.

    with make_executor("local", workers=2) as ex:
        ex.submit(job)                    # a TaskRun: picklable, carries no clients
        for outcome in ex.poll(0.5):      # TaskOutcomes of the tasks that ended
            ...
        ex.cut()                          # interrupt the running jobs (after Ctrl-C)

Both executors run `run_task` (in `agent.batch.task_run`), which builds its own model
client from the job's `ModelConfig` in the worker process and opens each try's
sandbox on the Docker engine of the machine it runs on. Ray tasks run it on
nodes that share no disk with the head: their outputs travel back through Ray
(`agent.batch.ray_executor`, `agent.batch.shipping`).

Local workers ignore SIGINT (Ctrl-C is the scheduler's to handle) and turn
SIGTERM into KeyboardInterrupt while a job runs, so a cut run still writes its
record and removes its container. A watchdog thread in each worker cuts the
running job when the scheduler asks, or when the scheduler process is gone
(SIGKILL): no orphan keeps running a task that `--resume` will run again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import FrameType, TracebackType
from typing import Any, Literal, Protocol, Self

from agent.batch.ledger import TaskRecord
from agent.batch.ray_executor import RayExecutor
from agent.batch.task_run import TaskOutcome, TaskRun, run_task
from agent.errors import UsageError

__all__ = ["Executor", "ExecutorKind", "LocalExecutor", "RayExecutor", "make_executor"]

log = logging.getLogger(__name__)

ExecutorKind = Literal["local", "ray"]
_ORPHAN_GRACE = 30.0
"""Seconds an orphaned worker gives its cut run to clean up before it exits anyway."""


class Executor(Protocol):
    """Runs TaskRuns somewhere; the scheduler bounds how many are in flight."""

    def submit(self, job: TaskRun) -> None:
        """Start `job`."""

    def running(self) -> int:
        """Jobs submitted whose outcome `poll` has not returned yet."""

    def poll(self, timeout: float) -> list[TaskOutcome]:
        """Outcomes of jobs that ended, waiting up to `timeout` seconds for the first."""

    def cut(self) -> None:
        """Interrupt every running job; each then ends with a `cut` outcome."""

    def close(self) -> None:
        """Wait for the workers to stop and release them."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _WorkerState:
    """The one job a local worker process runs at a time."""

    parent = 0
    running = False
    signalled = 0.0


_STATE = _WorkerState()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _STATE.running:
        raise KeyboardInterrupt("cut by the batch scheduler")
    os._exit(128 + signum)  # idle: the pool itself is being torn down


def _watch(cut: Any, parent: int) -> None:
    """Cut the running job when asked or when the scheduler died; exit when orphaned."""
    while True:
        time.sleep(0.2)
        orphaned = os.getppid() != parent
        if not (orphaned or cut.is_set()):
            continue
        if _STATE.running and not _STATE.signalled:
            _STATE.signalled = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
        if orphaned and (not _STATE.running or time.monotonic() - _STATE.signalled > _ORPHAN_GRACE):
            os._exit(1)


def _init_worker(cut: Any, parent: int) -> None:
    _STATE.parent = parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch, args=(cut, parent), name="cut-watch", daemon=True).start()


def _run_in_worker(job: TaskRun) -> TaskOutcome:
    if os.getppid() != _STATE.parent:  # a job still queued when the scheduler was killed
        return TaskOutcome(job.name, None, cut=True)
    _STATE.running, _STATE.signalled = True, 0.0
    try:
        return run_task(job)
    finally:
        _STATE.running = False


class LocalExecutor:
    """A pool of `workers` spawned processes on this machine."""

    def __init__(self, workers: int) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._cut = self._ctx.Event()
        self._workers = workers
        self._pool = self._new_pool()
        self._futures: dict[Future[TaskOutcome], str] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers,
            mp_context=self._ctx,
            initializer=_init_worker,
            initargs=(self._cut, os.getpid()),
        )

    def submit(self, job: TaskRun) -> None:
        try:
            future = self._pool.submit(_run_in_worker, job)
        except BrokenProcessPool:
            log.warning("a worker process died: starting a new pool")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            future = self._pool.submit(_run_in_worker, job)
        self._futures[future] = job.name

    def running(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float) -> list[TaskOutcome]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        return [self._outcome(future) for future in done]

    def _outcome(self, future: Future[TaskOutcome]) -> TaskOutcome:
        name = self._futures.pop(future)
        exc = future.exception()
        if exc is None:
            return future.result()
        if isinstance(exc, BrokenProcessPool):
            return TaskOutcome(name, None, lost=f"its worker process died ({exc})")
        log.warning("task %s raised %r", name, exc)
        return TaskOutcome(name, TaskRecord.failed_outside(name, f"{type(exc).__name__}: {exc}"))

    def cut(self) -> None:
        self._cut.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_KINDS: dict[str, Callable[[int, str | None], Executor]] = {
    "local": lambda workers, address: LocalExecutor(workers),
    "ray": lambda workers, address: RayExecutor(address),
}


def make_executor(kind: str, workers: int, ray_address: str | None = None) -> Executor:
    """The executor `kind` names ("local" or "ray"); a UsageError for any other."""
    if kind not in _KINDS:
        raise UsageError(f"--executor {kind!r}: choose {' or '.join(_KINDS)}")
    return _KINDS[kind](workers, ray_address)
