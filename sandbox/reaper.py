"""The reaper: whatever of a command outlives it in the sandbox container (`&`, setsid, a
fork bomb) is killed after every exec; when even that cannot start, the container is
restarted (the workspace volume survives, the processes do not).

    reap(client, container, uid=config.uid, name=sandbox_name)

Processes are counted from the container's cgroup, read on the host (`cgroup_value`,
which `DockerSandbox` also reads its OOM kills from), else from the engine's `top`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import docker.errors

from sandbox.errors import SandboxError

__all__ = ["cgroup_value", "reap", "restart"]

log = logging.getLogger(__name__)

_KEEP = {"sleep", "docker-init", "tini"}
_KEEP_PIDS = ("docker-init", "sleep")


def reap(client: Any, container: Any, *, uid: int, name: str) -> None:
    """Kill whatever of a command outlived it.

    The container's own keep-alive runs as another uid, so `kill -9 -1` run as the
    sandbox user ends every process of that user and nothing else. When even that
    cannot start (a fork bomb holds every pid), the container is restarted: the
    workspace volume survives, the processes do not.
    """
    if _leftovers(container) == 0:
        return
    log.info("sandbox %s: processes outlived their command; killing them", name)
    try:
        kill_all = ["sh", "-c", "kill -9 -1"]
        exec_id = client.api.exec_create(container.id, kill_all, user=f"{uid}")["Id"]
        client.api.exec_start(exec_id)
    except docker.errors.APIError as exc:
        log.info("sandbox %s: reaper failed (%s)", name, exc)
    for _ in range(20):
        if _leftovers(container) == 0:
            return
        time.sleep(0.05)
    restart(container)


def restart(container: Any) -> None:
    """Kill the container and start it again (its processes go, its volumes stay)."""
    with contextlib.suppress(docker.errors.APIError):
        container.kill()
    try:
        container.wait(timeout=30)
        container.start()
    except docker.errors.APIError as exc:
        raise SandboxError(f"could not restart the sandbox after a timeout: {exc}") from exc


def _leftovers(container: Any) -> int:
    """Processes in the container beyond its init and keep-alive."""
    count = cgroup_value(container.id, "pids", "pids.current", default=-1)
    if count >= 0:
        return max(0, count - len(_KEEP_PIDS))
    try:
        procs = container.top(ps_args="-eo pid,comm").get("Processes") or []
    except docker.errors.APIError:
        return 0
    return sum(1 for p in procs if p and p[-1] not in _KEEP)


def cgroup_value(cid: str, controller: str, key: str, default: int) -> int:
    """A counter of container `cid`'s cgroup read on the host (v1 or v2); `default` if
    unseen. `key` is a file, or `file:field` for one line of a file of fields."""
    for path in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{cid}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"),
        Path(f"/sys/fs/cgroup/docker/{cid}"),
    ):
        name, _, field = key.partition(":")
        try:
            text = (path / name).read_text()
        except OSError:
            continue
        if not field:
            return int(text.split()[0])
        for line in text.splitlines():
            label, _, value = line.partition(" ")
            if label == field:
                return int(value)
    return default
