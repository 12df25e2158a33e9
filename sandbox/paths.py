"""The one host-side validator for every path the model (or a harvest) names.

A path is accepted only when it is relative, has no `..`, no `.git`
component, no NUL, backslash, control character or bidirectional override
(which makes a name read otherwise than it is), stays under the length caps
(255 characters in all, 255 UTF-8 bytes a name), and — once
resolved against the root, symlinks followed — still lies inside the root.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from sandbox.errors import PathRejected

__all__ = [
    "BIDI_CONTROLS",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_NAME_BYTES",
    "MAX_PATH_CHARS",
    "check_files",
    "check_name",
    "check_names",
    "collect_files",
    "refuse_bidi",
    "safe_path",
]

MAX_PATH_CHARS = 255
MAX_NAME_BYTES = 255
"""One path component, in bytes: what Linux file systems (and the Docker archive) take."""
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 500
_FORBIDDEN_PARTS = {".git", ".."}
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): a name holding one
shows its characters in another order than they are ("Trojan Source")."""


def _reject(path: str, why: str) -> PathRejected:
    return PathRejected(f"refused path {path!r}: {why}")


def refuse_bidi(name: str | Path, what: str, fix: str = "rename it without that character") -> None:
    """Raise PathRejected when `name` holds a bidirectional control; `what` names the input."""
    text = str(name)
    found = sorted({f"U+{ord(ch):04X}" for ch in text if ch in BIDI_CONTROLS})
    if found:
        raise PathRejected(
            f"{what} {text!r} holds the bidirectional control {', '.join(found)}, which makes "
            "it read otherwise than it is",
            fix=fix,
        )


def check_name(rel: str) -> PurePosixPath:
    """The pure part of the check, with no filesystem: for paths inside a container."""
    if not rel or not rel.strip():
        raise _reject(rel, "empty path")
    if "\x00" in rel or "\\" in rel:
        raise _reject(rel, "NUL or backslash in path")
    if len(rel) > MAX_PATH_CHARS:
        raise _reject(rel, f"longer than {MAX_PATH_CHARS} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in rel):  # C0, DEL and C1
        raise _reject(rel, "control character in path")
    if any(ch in BIDI_CONTROLS for ch in rel):
        raise _reject(
            rel, "a bidirectional control (U+202A-U+202E, U+2066-U+2069) in path: name it without"
        )
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~"):
        raise _reject(rel, "absolute paths are not allowed; name a path inside the project")
    parts = rel.split("/")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise _reject(rel, f"a name in it is over {MAX_NAME_BYTES} bytes (UTF-8); shorten it")
    if any(p in _FORBIDDEN_PARTS for p in parts):
        raise _reject(rel, "'..' and '.git' are not allowed in paths")
    if any(p == "" for p in parts[:-1]) or parts[-1] in ("", "."):
        raise _reject(rel, "empty path component")
    return pure


def safe_path(root: Path, rel: str) -> Path:
    """Return `root/rel` when `rel` is a safe relative path, else raise PathRejected."""
    pure = check_name(rel)
    base = root.resolve()
    target = (base / pure).resolve()
    if target != base and base not in target.parents:
        raise _reject(rel, "resolves outside the project (through a symlink?)")
    return base / pure


def check_names(
    files: Mapping[str, str | bytes],
    *,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_FILE_BYTES,
) -> dict[PurePosixPath, bytes]:
    """Validate a batch of names and sizes with no filesystem: all or nothing."""
    if len(files) > max_files:
        raise PathRejected(f"refused {len(files)} files: at most {max_files} at once")
    checked: dict[PurePosixPath, bytes] = {}
    for rel, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        if len(data) > max_bytes:
            raise _reject(rel, f"{len(data)} bytes is over the {max_bytes}-byte cap")
        checked[check_name(rel)] = data
    return checked


def check_files(
    root: Path,
    files: Mapping[str, str | bytes],
    *,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_FILE_BYTES,
) -> dict[Path, bytes]:
    """Validate a whole batch against a host folder before anything is written."""
    names = check_names(files, max_files=max_files, max_bytes=max_bytes)
    return {safe_path(root, str(rel)): data for rel, data in names.items()}


_SKIP_DIRS = {
    ".git",
    "__pycache__",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".greenloop",
    "node_modules",
    ".tox",
}


def collect_files(root: Path, *, max_files: int = MAX_FILES * 4) -> dict[str, bytes]:
    """A project's regular files by relative path; links, caches and `.git` are left out."""
    out: dict[str, bytes] = {}
    base = root.resolve()
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.is_symlink():
            continue
        if not path.is_file():
            continue
        if len(out) >= max_files:
            raise PathRejected(f"{root} has more than {max_files} files: point at a smaller folder")
        out[rel.as_posix()] = path.read_bytes()
    return out
