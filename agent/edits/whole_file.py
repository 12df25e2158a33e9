"""The whole-file edit format: each changed file sent in full, in a fenced block naming it.

The path may be in the fence's info string (```` ```python pkg/mod.py ````), on
the line before the fence, or in a first-line comment (`# pkg/mod.py`). Blocks
that name no file are ignored, as are blocks holding SEARCH/REPLACE markers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.edits.base import ApplyResult, Edit, EditFailed, run_edits
from agent.extract import fenced_blocks

__all__ = ["INSTRUCTIONS", "apply", "apply_one", "parse"]

INSTRUCTIONS = """\
Answer with the complete new content of every file you change or create, each in
its own fenced block whose first line names the file:

```python path/to/file.py
the whole file, from its first line to its last
```

Rules:
- Send whole files: never elide code with comments like "# ... rest unchanged".
- Files you do not send stay as they are.
- Do not edit the test files.
"""

_MARKERS = re.compile(r"^\s*(<{5,9}\s*SEARCH|>{5,9}\s*REPLACE)\s*$", re.MULTILINE)
# A comment standing in for code the model did not repeat.
_ELISION = re.compile(
    r"^[ \t]*#[ \t]*(?:\.\.\.|…).*$"
    r"|^[ \t]*#.*\b(?:rest of the|remaining|existing|unchanged|same as before)\b.*$",
    re.IGNORECASE | re.MULTILINE,
)


def parse(reply: str) -> list[Edit]:
    """One whole-file edit per fenced block that names a file, in order."""
    return [
        Edit(block.path, None, block.body)
        for block in fenced_blocks(reply)
        if block.path is not None and not _MARKERS.search(block.body)
    ]


def apply_one(content: str | None, edit: Edit) -> str:
    """The new content; refuses a file whose new comments elide the old code."""
    if edit.search is not None:
        raise EditFailed("not a whole-file edit: send the complete file in one fenced block")
    if content is not None:
        elided = next(
            (m for m in _ELISION.finditer(edit.replace) if m.group(0).strip() not in content), None
        )
        if elided is not None:
            raise EditFailed(
                f"the new `{edit.path}` leaves code out ({elided.group(0).strip()!r}): "
                "send the whole file, every line of it"
            )
    return edit.replace


def apply(
    files: Mapping[str, str],
    edits: Sequence[Edit],
    *,
    root: Path | None = None,
    protected: frozenset[str] = frozenset(),
    allow_runner: bool = False,
) -> ApplyResult:
    """Replace each named file's content; later blocks for the same file win."""
    return run_edits(
        files, edits, apply_one, root=root, protected=protected, allow_runner=allow_runner
    )
