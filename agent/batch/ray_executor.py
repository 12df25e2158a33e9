"""Batch tasks as Ray tasks, on nodes that share no disk with the head.

    with RayExecutor(address="10.0.0.1:6379") as ex:   # the Executor protocol
        ex.submit(job)
        outcomes = ex.poll(0.5)

On the node (`run_on_node`): the node's Docker engine and sandbox image are
checked first (a node without them fails its task with the fix, not a
traceback); the job runs in a scratch folder of the node's own; its record
and folder come back as a bounded `Parcel` (agent.batch.shipping); the scratch
folder is removed. On the head (`RayExecutor`): the parcel lands in the batch
folder, atomically, before the outcome is reported; the head alone writes the
batch folder.

Each Ray task asks for what its sandbox is given: `cpus` CPUs and the
container's memory (memory, workspace and /tmp tmpfs). The API key never
travels in the task's arguments (Ray may spill them to disk): it reaches
the worker through the task's runtime env, and is put back into the model
config there. A task whose node dies (or whose worker process is killed) is
run again once, elsewhere; its record says so under `reruns`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from agent.batch.ledger import TaskRecord
from agent.batch.shipping import Parcel, land, pack_task, with_record
from agent.batch.task_run import TaskOutcome, TaskRun, TaskSettings, run_task
from agent.errors import SandboxError, ShippingError, UsageError
from sandbox import SandboxConfig

__all__ = ["KEY_VAR", "RayExecutor", "keyless", "run_on_node", "task_resources"]

log = logging.getLogger(__name__)

KEY_VAR = "OPENAI_API_KEY"
"""The runtime-env variable that carries the model's API key to the workers."""
_MIB = 2**20


def task_resources(sandbox: SandboxConfig) -> dict[str, float]:
    """What one task asks Ray for: its sandbox's CPUs and its container's memory, in bytes."""
    memory_mb = sandbox.memory_mb + sandbox.workspace_mb + sandbox.tmp_mb
    return {"num_cpus": sandbox.cpus, "memory": float(memory_mb * _MIB)}


def _node_name() -> str:
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:8]
    except (ImportError, RuntimeError, AttributeError):
        node = "?"
    return f"{socket.gethostname()} ({node})"


def _prepare_node(cfg: SandboxConfig, node: str) -> str:
    """Why this node cannot run the task's sandboxes ("" when it can).

    Also removes what killed tasks left on this node's engine (the head's own
    clean-up reaches only the head's engine).
    """
    if cfg.kind != "docker":
        return ""
    from sandbox.image import docker_client, require_image
    from sandbox.prune import prune

    try:
        client = docker_client()
        require_image(client, cfg.image)
        prune(client)
    except SandboxError as exc:
        return (
            f"Ray node {node} cannot run sandboxes: {exc}. Every node needs a Docker engine "
            "and the image (run `greenloop sandbox build` on the node, or pull the image "
            "from a registry the nodes reach and tag it as named)"
        )
    return ""


def _keyed(settings: TaskSettings) -> TaskSettings:
    """The settings with the API key from this worker's environment put back."""
    key = os.environ.get(KEY_VAR)
    if not key or settings.model.api_key:
        return settings
    return replace(settings, model=settings.model.model_copy(update={"api_key": key}))


def keyless(job: TaskRun) -> tuple[TaskRun, dict[str, str]]:
    """The job without its API key, and the runtime-env variables that carry the key."""
    key = job.settings.model.api_key
    if not key:
        return job, {}
    model = job.settings.model.model_copy(update={"api_key": None})
    return replace(job, settings=replace(job.settings, model=model)), {KEY_VAR: key}


def run_on_node(job: TaskRun) -> Parcel:
    """Run `job` on this node in a scratch folder; its record and folder, packed for the head."""
    node = _node_name()
    trouble = _prepare_node(job.settings.sandbox, node)
    if trouble:
        failed = TaskRecord.failed_outside(job.name, trouble).but(node=node)
        return Parcel(job.name, failed, node=node)
    scratch = Path(tempfile.mkdtemp(prefix="greenloop-task-"))
    try:
        here = replace(job, out=scratch / job.name, settings=_keyed(job.settings))
        outcome = run_task(here)
        if outcome.record is None:
            return Parcel(job.name, None, node=node)
        limit = int(job.settings.ship_limit_mb * _MIB)
        return pack_task(here.out, outcome.record, Path(job.out), limit, node)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayExecutor:
    """Each job is a Ray task on whichever node has room for its sandbox.

    Uses the Ray instance already initialised in this process, else connects to
    `address` (None: RAY_ADDRESS, or a new local instance); a connection it made
    is shut down on close. Every node needs greenloop installed, and a Docker
    engine with the sandbox image; none needs the head's disk.
    """

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise UsageError("--executor ray needs Ray: pip install 'greenloop[ray]'") from exc
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self._remote = ray.remote(max_retries=0)(run_on_node)
        self._refs: dict[Any, TaskRun] = {}
        self._reruns: dict[str, str] = {}
        self._checked = False
        self._cutting = False

    def submit(self, job: TaskRun) -> None:
        sent, env = keyless(job)
        options: dict[str, Any] = task_resources(job.settings.sandbox)
        if env:
            options["runtime_env"] = {"env_vars": env}
        self._warn_if_no_node_fits(options)
        self._refs[self._remote.options(**options).remote(sent)] = job

    def _warn_if_no_node_fits(self, need: dict[str, Any]) -> None:
        if self._checked:
            return
        self._checked = True
        wanted = {"CPU": need["num_cpus"], "memory": need["memory"]}
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        if not any(all(n["Resources"].get(k, 0) >= v for k, v in wanted.items()) for n in nodes):
            log.warning(
                "no Ray node has %g CPUs and %.0f MiB free for a task's sandbox: tasks wait "
                "until one joins (or lower the sandbox's cpus/memory)",
                wanted["CPU"],
                wanted["memory"] / _MIB,
            )

    def running(self) -> int:
        return len(self._refs)

    def poll(self, timeout: float) -> list[TaskOutcome]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        outcomes = [self._outcome(ref) for ref in ready]
        return [o for o in outcomes if o is not None]

    def _outcome(self, ref: Any) -> TaskOutcome | None:
        job = self._refs.pop(ref)
        errors = self._ray.exceptions
        lost = (errors.WorkerCrashedError, errors.NodeDiedError, errors.ObjectLostError)
        try:
            parcel: Parcel = self._ray.get(ref)
        except errors.TaskCancelledError:
            return TaskOutcome(job.name, None, cut=True)
        except lost as exc:
            return self._lost(job, f"its Ray node or worker was lost ({type(exc).__name__})")
        except errors.RayError as exc:
            log.warning("task %s raised %s", job.name, exc)
            message = str(exc).strip().splitlines()[-1]
            return TaskOutcome(job.name, TaskRecord.failed_outside(job.name, message))
        if parcel.record is None:
            return TaskOutcome(job.name, None, cut=True)
        return self._landed(job, parcel)

    def _lost(self, job: TaskRun, reason: str) -> TaskOutcome | None:
        if self._cutting or job.name in self._reruns:
            return TaskOutcome(job.name, None, lost=reason)
        log.warning("task %s: %s: running it again", job.name, reason)
        self._reruns[job.name] = reason
        self.submit(job)
        return None

    def _landed(self, job: TaskRun, parcel: Parcel) -> TaskOutcome:
        if job.name in self._reruns:
            parcel = with_record(parcel, reruns=(f"run again: {self._reruns[job.name]}",))
        try:
            land(parcel, Path(job.out))
        except ShippingError as exc:
            log.warning("%s", exc)
            assert parcel.record is not None
            return TaskOutcome(job.name, parcel.record.but(status="error", error=str(exc)))
        assert parcel.record is not None
        return TaskOutcome(job.name, parcel.record)

    def cut(self) -> None:
        self._cutting = True
        for ref in list(self._refs):
            self._ray.cancel(ref, force=False)

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
