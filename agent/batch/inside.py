"""Paths a batch's records name, kept inside the batch's run folder.

    folder = inside(batch_dir, "tasks", name)            # PathRejected if a link or outside
    folder = try_folder(batch_dir, name, attempt)        # a try's run record, checked

A batch's run folder holds records (`result.json` per task, `tries[].out`,
`run_id`) that `--resume` and `greenloop report` read back and act on: they
remove partial task folders and write pages. A record is data anyone with
write access to the folder could have changed, and a folder could be a link
planted there. So every path built from a record or found in the folder is
checked: each component below the run folder is a real folder or file (no
link), the names are plain, and the whole resolves inside the run folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.batch.ledger import TryRecord
from agent.errors import PathRejected
from agent.run.record import RUNS_DIR, is_run_id

__all__ = ["inside", "try_folder"]

_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
_TRY = re.compile(r"try-[0-9]{1,4}")


def inside(batch_dir: Path, *parts: str) -> Path:
    """`batch_dir / parts...`, refused (PathRejected) when a part is not a plain name, is a
    link, or leads outside `batch_dir`. Parts that do not exist yet are fine."""
    base = Path(batch_dir)
    path = base
    for part in (p for chunk in parts for p in Path(chunk).parts):
        if part in (".", "..") or not _PLAIN.fullmatch(part):
            raise PathRejected(
                f"{base / Path(*parts)}: {part!r} is not a plain name: the record was "
                "changed by hand; restore it or run the batch afresh in a new --out"
            )
        path = path / part
        if path.is_symlink():
            raise PathRejected(
                f"{path} is a link: a batch's folder holds no links (it would read or "
                "write outside the run folder); remove it, or run afresh in a new --out"
            )
    resolved = path.resolve()
    if resolved != base.resolve() and not resolved.is_relative_to(base.resolve()):
        raise PathRejected(f"{path} resolves outside {base}: run the batch afresh")
    return path


def try_folder(batch_dir: Path, name: str, attempt: TryRecord) -> Path:
    """A try's run record folder, from its task's record; refused when the record names
    anything but its own `try-N` folder and run id."""
    out, run_id = attempt.out, attempt.result.run_id
    if not _TRY.fullmatch(out) or not is_run_id(run_id):
        raise PathRejected(
            f"the record of task {name!r} names the try folder {out!r} and run {run_id!r}: "
            "a record names its own try-N folder; restore it or run the batch afresh"
        )
    return inside(batch_dir, "tasks", name, out, *RUNS_DIR.parts, run_id)
