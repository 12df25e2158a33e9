"""What every edit format shares: the edit, the outcome of applying edits, the path check.

Applying is pure: a mapping of file contents in, a new mapping out. A path the
model names is checked with `sandbox.paths.safe_path` (against the real root
when given, else against a virtual one); a rejected path, a protected file or
a block that does not match becomes a `FailedEdit`, never a write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agent.errors import PathRejected
from sandbox.paths import safe_path
from sandbox.runner_files import added_test_reason, runner_reason

__all__ = [
    "ApplyResult",
    "Edit",
    "EditFailed",
    "FailedEdit",
    "check_path",
    "render_failures",
    "run_edits",
]

log = logging.getLogger(__name__)

# Resolving against a folder that does not exist touches nothing and follows no
# symlink, so the check stays pure when no real root is given.
_VIRTUAL_ROOT = Path("/greenloop-virtual-root")


@dataclass(frozen=True)
class Edit:
    """One change the model asked for."""

    path: str
    """The file, as the model named it."""
    search: str | None
    """The lines to find; "" creates a new file; None means `replace` is the whole file."""
    replace: str
    """The lines to put in their place (or the whole new content)."""
    problem: str = ""
    """Set by `parse` when the block is malformed; such an edit never applies."""


@dataclass(frozen=True)
class FailedEdit:
    """An edit that was not applied, described for the next prompt."""

    path: str
    reason: str
    search: str | None = None
    nearest: str | None = None
    """The file's chunk most similar to `search` (difflib), to show the model."""
    nearest_line: int = 0
    """1-based first line of `nearest` in the file; 0 when there is none."""
    block: int = 0
    """1-based position of the edit in the reply."""


@dataclass(frozen=True)
class ApplyResult:
    """Files after applying what applied, and what did not."""

    files: dict[str, str]
    """Every file: the untouched ones and the new contents."""
    applied: list[Edit] = field(default_factory=list)
    failed: list[FailedEdit] = field(default_factory=list)
    changed: frozenset[str] = frozenset()
    """Paths whose content is new or differs from the input."""

    @property
    def ok(self) -> bool:
        """True when every edit applied."""
        return not self.failed


class EditFailed(Exception):
    """Raised by a format's apply step; run_edits turns it into a FailedEdit."""

    def __init__(self, reason: str, nearest: str | None = None, nearest_line: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.nearest = nearest
        self.nearest_line = nearest_line


def check_path(rel: str, root: Path | None = None) -> str:
    """The normalized relative path (`./a.py` -> `a.py`), or PathRejected when unsafe."""
    safe_path(root if root is not None else _VIRTUAL_ROOT, rel)
    return PurePosixPath(rel).as_posix()


ApplyOne = Callable[[str | None, Edit], str]
"""A format's step: (current content or None when missing, edit) -> new content."""


def run_edits(
    files: Mapping[str, str],
    edits: Sequence[Edit],
    apply_one: ApplyOne,
    *,
    root: Path | None = None,
    protected: frozenset[str] = frozenset(),
    allow_runner: bool = False,
) -> ApplyResult:
    """Apply `edits` in order with `apply_one`; later edits see earlier results.

    Refused: edits to `protected` files, new files among them (when any are
    protected), and, unless `allow_runner`, any file that configures or extends
    the test runner (`sandbox.runner_files`).
    """
    current = dict(files)
    applied: list[Edit] = []
    failed: list[FailedEdit] = []
    protected_norm = {PurePosixPath(p).as_posix() for p in protected}
    for number, edit in enumerate(edits, start=1):
        try:
            if edit.problem:
                raise EditFailed(edit.problem)
            path = check_path(edit.path, root)
            if path in protected_norm:
                raise EditFailed(
                    f"`{path}` is an acceptance test: tests may not be edited; "
                    "change the code under test instead"
                )
            text = apply_one(current.get(path), edit)
            _guard(path, files, current, text, protected_norm, allow_runner)
            current[path] = text
        except PathRejected as exc:
            log.info("edit %d rejected: %s", number, exc)
            failed.append(FailedEdit(edit.path, str(exc), edit.search, block=number))
        except EditFailed as exc:
            log.info("edit %d to %s failed: %s", number, edit.path, exc.reason)
            failed.append(
                FailedEdit(
                    edit.path, exc.reason, edit.search, exc.nearest, exc.nearest_line, number
                )
            )
        else:
            applied.append(edit)
    changed = frozenset(p for p, text in current.items() if files.get(p) != text)
    return ApplyResult(current, applied, failed, changed)


def _guard(
    path: str,
    files: Mapping[str, str],
    current: Mapping[str, str],
    text: str,
    protected: set[str],
    allow_runner: bool,
) -> None:
    """Raise EditFailed when `text` at `path` is a test edit or a runner file not allowed."""
    reason = added_test_reason(path, files, protected)
    if not reason and not allow_runner:
        reason = runner_reason(path, files.get(path), text, [*current, path])
    if reason:
        raise EditFailed(
            f"{reason}; files that configure or extend the test runner, and new files among "
            "the tests, are not taken from you: change the code under test instead"
        )


def _fence(text: str) -> str:
    """`text` in a fence longer than any backtick run inside it."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{ticks}\n{body}{ticks}"


def render_failures(failed: Sequence[FailedEdit]) -> str:
    """Describe failed edits for the next prompt: which block, why, and the nearest text."""
    if not failed:
        return ""
    parts = [f"{len(failed)} edit(s) did not apply (any others did):"]
    for item in failed:
        number = f" {item.block}" if item.block else ""
        parts.append(f"## Edit{number} to `{item.path}` failed\n{item.reason}")
        if item.search:
            parts.append(f"Your SEARCH text:\n{_fence(item.search)}")
        if item.nearest:
            where = f" (line {item.nearest_line})" if item.nearest_line else ""
            parts.append(
                f"The most similar lines in `{item.path}`{where} are:\n{_fence(item.nearest)}\n"
                "SEARCH must copy the file's lines exactly, including comments and blank lines."
            )
    return "\n\n".join(parts)
