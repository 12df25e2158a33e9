"""What a file's extension says of its language: its name in a prompt and its fence.

    language_of("src/add.mjs")  ->  Language("JavaScript", "javascript", "javascript")

The toolchain a task runs in is `sandbox.toolchains`'; this is what the prompts and the
syntax gate need of one file (a leaf: every layer may use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["Language", "language_of"]


@dataclass(frozen=True)
class Language:
    name: str
    """As a prompt says it: "Python", "JavaScript", "TypeScript", "Go", "Rust"."""
    fence: str
    """The info string of the block a reply is asked in."""
    toolchain: str
    """The toolchain that runs it (`sandbox.toolchains`)."""


_PYTHON = Language("Python", "python", "python")
_JS = Language("JavaScript", "javascript", "javascript")
_TS = Language("TypeScript", "typescript", "javascript")
_GO = Language("Go", "go", "go")
_RUST = Language("Rust", "rust", "rust")
_BY_SUFFIX = {
    ".py": _PYTHON,
    ".js": _JS,
    ".mjs": _JS,
    ".cjs": _JS,
    ".ts": _TS,
    ".mts": _TS,
    ".go": _GO,
    ".rs": _RUST,
}


def language_of(path: str) -> Language | None:
    """The language of the file at `path`, or None for one that is not code greenloop
    writes (a README, a JSON file)."""
    return _BY_SUFFIX.get(PurePosixPath(path).suffix)
