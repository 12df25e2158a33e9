"""What a task sends back from a cluster node: its record and its folder, packed and bounded.

    parcel = pack_task(folder, record, head_folder, limit, node)   # on the node
    land(parcel, head_folder)                                      # on the head

A parcel holds the task's record and a gzipped tar of the task's folder: each
try's project (its files and git repo, so the run branch and its commit) with
its run record (trajectory, result, cassette). Locks and caches stay behind.
Paths in the records are rewritten from the node's scratch folder to the
task's folder on the head, so records read as on one machine.

Bounded: a parcel over `limit` bytes sends only the run records, and the task's
record becomes an error naming the limit (and where the project stayed).

Landing is atomic: the archive is extracted into `<run>/.incoming/` (refusing
absolute paths, links out of it and device files: the folder holds what the
model and its tests wrote), renamed into place, and the task's `result.json`
is written last. A task is done only once all of it is on the head's disk; a
head killed while landing leaves a folder without a result, which `--resume`
takes for partial and runs again.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.atomic import write_json
from agent.batch.ledger import TaskRecord
from agent.batch.task_run import LOCK_FILE, RESULT_FILE
from agent.errors import ShippingError
from agent.run.record import RUNS_DIR

__all__ = [
    "INCOMING_DIR",
    "MAX_MEMBERS",
    "MAX_UNPACKED",
    "Parcel",
    "land",
    "pack_task",
    "with_record",
]

INCOMING_DIR = ".incoming"
_LEFT_BEHIND = frozenset({LOCK_FILE, "__pycache__", ".pytest_cache"})
_MIB = 2**20
MAX_MEMBERS = 100_000
"""Entries a parcel may unpack to."""
MAX_UNPACKED = 4096 * _MIB
"""Bytes a parcel may unpack to (its packed size is bounded by --ship-limit-mb)."""


@dataclass(frozen=True)
class Parcel:
    """One task's outputs on their way to the head. `record` None: the task was cut."""

    name: str
    record: TaskRecord | None
    archive: bytes = b""
    """A gzipped tar of the task's folder (empty: nothing to unpack)."""
    node: str = ""


class _Bounded(io.RawIOBase):
    """A write-only buffer that refuses to grow past `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if len(self.buffer) + len(chunk) > self.limit:
            raise ShippingError(f"more than {self.limit} bytes")
        self.buffer += chunk
        return len(chunk)


def _archive(folder: Path, limit: int, keep: Callable[[str], bool]) -> bytes:
    """The folder as a gzipped tar of the members `keep` accepts; ShippingError over `limit`."""

    def member(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if _LEFT_BEHIND & set(parts) or parts == (RESULT_FILE,) or not keep(info.name):
            return None
        if not (info.isfile() or info.isdir() or info.issym()):
            return None  # fifos, devices: nothing a project needs
        if info.issym() and (os.path.isabs(info.linkname) or ".." in Path(info.linkname).parts):
            return None  # a link out of the project: the head would refuse the parcel
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    out = _Bounded(limit)
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        tar.add(folder, arcname=".", filter=member)
    return bytes(out.buffer)


def _is_run_record(name: str) -> bool:
    """True for `.`, `./try-N`, and everything under a try's .greenloop/."""
    parts = Path(name).parts  # "./try-1/x" -> ("try-1", "x")
    return len(parts) <= 1 or parts[1] == RUNS_DIR.parts[0]


def _rebased(value: Any, old: str, new: str) -> Any:
    """`value` with every string that starts with path `old` moved under `new`."""
    if isinstance(value, dict):
        return {k: _rebased(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebased(v, old, new) for v in value]
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old) :]
    return value


def _rebase_run_results(folder: Path, head: str) -> None:
    for path in folder.glob(f"try-*/{RUNS_DIR.as_posix()}/*/result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        write_json(path, _rebased(data, str(folder), head))


def pack_task(folder: Path, record: TaskRecord, head_folder: Path, limit: int, node: str) -> Parcel:
    """The parcel of a finished task run in `folder` on this node, for `head_folder`."""
    head = str(head_folder)
    record = TaskRecord.from_json(_rebased(record.to_json(), str(folder), head))
    _rebase_run_results(folder, head)
    try:
        archive = _archive(folder, limit, lambda name: True)
    except ShippingError:
        archive = _records_only(folder, limit)
        record = record.but(
            status="error",
            error=(
                f"its outputs packed to more than {limit / _MIB:g} MiB, the most a task "
                f"ships back from a cluster node (raise --ship-limit-mb): its project stayed "
                f"in {folder} on node {node}"
                + ("" if archive else "; not even its run records fit")
            ),
        )
    shipped = record.but(node=node, shipped_bytes=len(archive))
    return Parcel(record.name, shipped, archive, node)


def _records_only(folder: Path, limit: int) -> bytes:
    try:
        return _archive(folder, limit, _is_run_record)
    except ShippingError:
        return b""


def land(parcel: Parcel, dest: Path) -> None:
    """Unpack `parcel` into `dest` (replacing it), then write its record: atomically."""
    if parcel.record is None:
        raise ValueError("a cut task has nothing to land")
    incoming = dest.parent.parent / INCOMING_DIR
    incoming.mkdir(parents=True, exist_ok=True)
    for stale in incoming.glob(f"{dest.name}-*"):  # a head killed while landing this task
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{dest.name}-", dir=incoming))
    try:
        if parcel.archive:
            _extract(parcel, staging)
        staging.chmod(0o755)
        _fsync_tree(staging)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json(dest / RESULT_FILE, parcel.record.to_json())


def _extract(parcel: Parcel, staging: Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(parcel.archive), mode="r:gz") as tar:
            _check_size(tar, parcel)
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ShippingError(
            f"task {parcel.name}: the outputs node {parcel.node} sent were refused "
            f"({type(exc).__name__}: {exc}); its record is kept, its files are not"
        ) from exc


def _check_size(tar: tarfile.TarFile, parcel: Parcel) -> None:
    """Refuse a parcel that unpacks to more than `MAX_UNPACKED` bytes or `MAX_MEMBERS`
    entries (a small gzip can hold a huge tree); reads headers only, stops at the bound."""
    count = size = 0
    while (member := tar.next()) is not None:
        count, size = count + 1, size + max(0, member.size)
        if count > MAX_MEMBERS or size > MAX_UNPACKED:
            raise ShippingError(
                f"task {parcel.name}: the outputs node {parcel.node} sent unpack to more than "
                f"{MAX_MEMBERS} entries or {MAX_UNPACKED // _MIB} MiB; its record is kept, "
                "its files are not"
            )


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root`, so the rename publishes durable data."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def with_record(parcel: Parcel, **changes: Any) -> Parcel:
    """The parcel with `changes` made to its record (a cut task's parcel stays as it is)."""
    if parcel.record is None:
        return parcel
    return replace(parcel, record=parcel.record.but(**changes))
