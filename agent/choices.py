"""The choices a run's options offer, as enums: typer checks them, the library trusts them.

Kept free of imports, so the CLI can build its options without loading the library.
`SandboxKind` is the sandbox's own (`sandbox.base`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EditFormatName", "ExecutorName"]


class EditFormatName(StrEnum):
    """The formats a run can ask for (`--edit-format`); the keys of `agent.edits.FORMATS`."""

    SEARCH_REPLACE = "search-replace"
    """Search/replace blocks: changes to existing files."""
    WHOLE = "whole"
    """Whole files: for new or small ones, and the fallback of every format."""


class ExecutorName(StrEnum):
    """Where a batch's tasks run (`--executor`)."""

    LOCAL = "local"
    """A local process pool."""
    RAY = "ray"
    """A Ray cluster (pip install 'greenloop[ray]')."""
