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

from agent.choices import EditFormatName
from agent.edits import search_replace, whole_file
from agent.edits.base import ApplyResult, Edit, FailedEdit, check_path, render_failures

__all__ = [
    "FORMATS",
    "ApplyResult",
    "Edit",
    "EditFormat",
    "EditFormatName",
    "FailedEdit",
    "Reply",
    "apply_reply",
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
    EditFormatName.SEARCH_REPLACE: EditFormat(
        "search-replace", search_replace.INSTRUCTIONS, search_replace.parse, search_replace.apply
    ),
    EditFormatName.WHOLE: EditFormat(
        "whole", whole_file.INSTRUCTIONS, whole_file.parse, whole_file.apply
    ),
}


@dataclass(frozen=True)
class Reply:
    """A reply applied: whether it held a usable edit, the result, and the edited code."""

    usable: bool
    """Some edit parsed without a problem (none: the reply was not in the format)."""
    result: ApplyResult
    code: dict[str, str]
    """The files after the edits, the protected tests left out."""


def apply_reply(
    fmt: EditFormat,
    reply: str,
    files: Mapping[str, str],
    tests: Mapping[str, str],
    *,
    allow_runner: bool = False,
) -> Reply:
    """`reply`'s edits in `fmt` (else whole files: small models often send those) applied
    to `files`, the `tests` beside them and protected. Shared by the loop's feedback and
    `greenloop fix`'s restarts."""
    edits = fmt.parse(reply) or FORMATS["whole"].parse(reply)
    usable = any(not e.problem for e in edits)
    everything = {**files, **tests}
    result = (
        fmt.apply(everything, edits, protected=frozenset(tests), allow_runner=allow_runner)
        if usable
        else ApplyResult(everything)  # nothing to apply: the files as they were
    )
    code = {p: t for p, t in result.files.items() if p not in tests}
    return Reply(usable, result, code)
