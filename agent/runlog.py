"""The run record: `.greenloop/runs/<run-id>/` under a project root.

    trajectory.jsonl  one JSON object per line, appended as events happen; each
                      line is written with one `write` and fsynced, so a process
                      killed at any moment leaves every earlier line readable
    result.json       the final result, replaced atomically (tmp file + os.replace):
                      absent or complete, never torn
    cassette.jsonl    the model's requests and replies (written by agent.model)

Nothing is created until the first write.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, Self

__all__ = ["RUNS_DIR", "RunDir", "new_run_id", "read_result", "read_trajectory"]

log = logging.getLogger(__name__)

RUNS_DIR = Path(".greenloop") / "runs"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def new_run_id() -> str:
    """A run id that sorts by start time: `20250131T142501Z-3fa9c2` (UTC + 6 random hex)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _jsonable(value: object) -> object:
    """How events' values that json cannot take are written."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    model_dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(model_dump):
        return model_dump(mode="json")
    return repr(value)


def _dumps(obj: Mapping[str, Any], *, indent: int | None = None) -> str:
    return json.dumps(obj, default=_jsonable, ensure_ascii=False, indent=indent)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable (where the OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the data itself is synced
    finally:
        os.close(fd)


class RunDir:
    """One run's record; a context manager that closes the trajectory file.

    Appends are thread-safe (model calls run in parallel) and each line goes
    out in a single `write` on an O_APPEND descriptor.
    """

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.run_id = new_run_id() if run_id is None else run_id
        if not _RUN_ID.fullmatch(self.run_id):
            raise ValueError(f"invalid run id {self.run_id!r}: use letters, digits, '.', '_', '-'")
        self.path = Path(root) / RUNS_DIR / self.run_id
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
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(self.path.parent)
        return self.path

    def append(self, event: str, **data: Any) -> None:
        """Append one event line `{"ts", "event", **data}`, then flush it to disk."""
        clash = {"ts", "event"} & data.keys()
        if clash:
            raise ValueError(f"event data may not use the reserved keys {sorted(clash)}")
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        line = (_dumps({**record, **data}) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                self.ensure()
                self._fd = os.open(
                    self.trajectory_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
                )
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)

    def write_result(self, result: Mapping[str, Any]) -> Path:
        """Write `result.json` atomically: readers see the old file, the new one, or none."""
        self.ensure()
        tmp = self.path / f".result.json.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(_dumps(result, indent=2) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.result_path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.path)
        return self.result_path

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


def read_trajectory(path: Path) -> list[dict[str, Any]]:
    """Every complete event in a trajectory file, in order.

    A torn last line (the writer was killed mid-write) is skipped with a
    warning; a bad line anywhere else means the file was damaged and raises
    ValueError naming the line. A missing file reads as no events.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == len(lines):
                log.warning("%s: skipping a torn last line (%d bytes)", path, len(line))
                break
            raise ValueError(f"{path}:{number} is not a JSON line: {exc}") from exc
        if not isinstance(event, dict):
            raise ValueError(f"{path}:{number} is not a JSON object")
        events.append(event)
    return events


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
