"""Remove what killed runs left behind: containers and volumes carrying our label.

A container is stale when the greenloop process that made it (same host) is
gone, or when it is older than `older_than` seconds. Live runs are left alone.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import docker.errors

from sandbox.docker import LABEL

__all__ = ["PruneResult", "prune"]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True)
class PruneResult:
    """Names of what was removed."""

    containers: tuple[str, ...]
    volumes: tuple[str, ...]


def _owner_alive(labels: dict[str, str]) -> bool:
    if labels.get("greenloop.host") != socket.gethostname():
        return True  # another machine's run: only age may retire it
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
        return True
    return True


def _stale(labels: dict[str, str], older_than: float, now: float) -> bool:
    try:
        created = float(labels.get("greenloop.created", "0"))
    except ValueError:
        created = 0.0
    return now - created > older_than or not _owner_alive(labels)


def prune(
    client: Any, *, older_than: float = DEFAULT_MAX_AGE, everything: bool = False
) -> PruneResult:
    """Remove stale sandbox containers (with their volumes), then our orphaned volumes."""
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
