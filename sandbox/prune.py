"""Remove what killed runs left behind: containers and volumes carrying our label.

A container made on this host is stale once the greenloop process that made it
is gone, and never while that process lives: a long run is not cut because it
is old. One made on another host (sharing the engine), or without the labels
that say where it came from, is stale once older than `older_than` seconds.
`everything` removes them all, live runs' too.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import docker.errors

from sandbox.docker import LABEL
from sandbox.errors import UsageError

__all__ = ["PruneResult", "check_older_than", "prune"]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True)
class PruneResult:
    """Names of what was removed."""

    containers: tuple[str, ...]
    volumes: tuple[str, ...]


def check_older_than(older_than: float) -> None:
    """A UsageError unless `older_than` is a finite number of seconds above 0."""
    if not (math.isfinite(older_than) and older_than > 0):
        raise UsageError(
            f"--older-than {older_than}: not a number of seconds above 0",
            fix="give one, e.g. --older-than 3600 (--all removes every greenloop sandbox, "
            "live runs' too)",
        )


def _pid_alive(labels: dict[str, str]) -> bool:
    """Whether the process named by `greenloop.pid` (a process of this host) still runs."""
    try:
        pid = int(labels.get("greenloop.pid", "0"))
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _stale(labels: dict[str, str], older_than: float, now: float) -> bool:
    if labels.get("greenloop.host") == socket.gethostname():
        return not _pid_alive(labels)
    try:
        created = float(labels.get("greenloop.created", "0"))
    except ValueError:
        created = 0.0
    return now - created > older_than


def prune(
    client: Any, *, older_than: float = DEFAULT_MAX_AGE, everything: bool = False
) -> PruneResult:
    """Remove stale sandbox containers (with their volumes), then our orphaned volumes."""
    check_older_than(older_than)
    now = time.time()
    removed: list[str] = []
    # ignore_removed: another run may remove its container between the listing and the inspect
    listed = client.containers.list(all=True, filters={"label": LABEL}, ignore_removed=True)
    for container in listed:
        if not (everything or _stale(container.labels, older_than, now)):
            continue
        try:
            container.remove(force=True, v=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            log.warning("could not remove %s: %s", container.name, exc)
    volumes: list[str] = []
    for volume in client.volumes.list(filters={"label": LABEL}):
        labels = volume.attrs.get("Labels") or {}
        if not (everything or _stale(labels, older_than, now)):
            continue
        try:
            volume.remove(force=True)
            volumes.append(volume.name)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:  # still in use by a live container
            log.info("kept volume %s: %s", volume.name, exc)
    return PruneResult(tuple(removed), tuple(volumes))
