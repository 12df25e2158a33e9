"""One way to write a file that readers see whole: the old file, the new one, or none.

    write_atomic(path, text)      # a temp file beside it, flushed, renamed over it
    write_json(path, data)        # the same, for a JSON document (indented, UTF-8)

The temp file's name is unique to the process and thread, so two writers of the same
path never share one; the folder is synced after the rename where the OS allows it.
Used for `result.json`, a batch's records, the trajectory page and the tag cache.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["sync_folder", "write_atomic", "write_json"]


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically (UTF-8); return `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sync_folder(path.parent)
    return path


def write_json(
    path: Path, data: Mapping[str, Any], default: Callable[[Any], Any] | None = None
) -> Path:
    """Write `data` as indented JSON, atomically; `default` as `json.dumps` takes it."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=default)
    return write_atomic(path, text + "\n")


def sync_folder(folder: Path) -> None:
    """Make the rename durable (where the OS allows a folder to be synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
