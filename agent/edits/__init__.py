"""Edit formats: how the model's reply turns into new file contents.

Each format is a module with a pure `parse(reply) -> list[Edit]`, a pure
`apply(files, edits, *, root, protected) -> ApplyResult` and the `INSTRUCTIONS`
that tell the model the format. Pick one by name from `FORMATS`:

    fmt = FORMATS["search-replace"]
    result = fmt.apply(files, fmt.parse(reply), protected=frozenset(test_paths))
    feedback = render_failures(result.failed)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.edits import search_replace, whole_file
from agent.edits.base import ApplyResult, Edit, FailedEdit, check_path, render_failures

__all__ = [
    "FORMATS",
    "ApplyResult",
    "Edit",
    "EditFormat",
    "FailedEdit",
    "check_path",
    "render_failures",
]


class Apply(Protocol):
    """The signature every format's `apply` has."""

    def __call__(
        self,
        files: Mapping[str, str],
        edits: Sequence[Edit],
        *,
        root: Path | None = None,
        protected: frozenset[str] = frozenset(),
        allow_runner: bool = False,
    ) -> ApplyResult: ...


@dataclass(frozen=True)
class EditFormat:
    """One edit format: its name, what to tell the model, and its pure functions."""

    name: str
    instructions: str
    parse: Callable[[str], list[Edit]]
    apply: Apply


FORMATS: dict[str, EditFormat] = {
    "search-replace": EditFormat(
        "search-replace", search_replace.INSTRUCTIONS, search_replace.parse, search_replace.apply
    ),
    "whole": EditFormat("whole", whole_file.INSTRUCTIONS, whole_file.parse, whole_file.apply),
}
