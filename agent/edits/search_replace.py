"""The search/replace edit format: change existing files by quoting the lines to replace.

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

The path may also sit in a fence's info string (```` ```python path/to/file.py ````)
or a `# path` comment; fences around blocks are ignored. An empty SEARCH on a
missing file creates it. A block applies where its SEARCH lines match exactly
once: exactly first, then ignoring each line's leading and trailing whitespace
(the replacement is then re-indented to the file's indentation). No match or
several matches fail the block, with the nearest text of the file attached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from difflib import SequenceMatcher
from pathlib import Path

from agent.edits.base import ApplyResult, Edit, EditFailed, run_edits
from agent.extract import normalize_newlines, path_in_line

__all__ = ["INSTRUCTIONS", "apply", "apply_one", "parse"]

INSTRUCTIONS = """\
Answer with SEARCH/REPLACE blocks. Each block names one file on the line above it:

path/to/file.py
<<<<<<< SEARCH
the exact lines now in the file, copied character for character
=======
the lines to put in their place
>>>>>>> REPLACE

Rules:
- SEARCH must match the file exactly once: copy whole lines, with their indentation,
  and include enough surrounding lines to make the match unique.
- Use several small blocks rather than one big one; blocks apply in order.
- To create a new file, leave SEARCH empty and put the whole file in REPLACE.
- To delete lines, leave REPLACE empty.
- Do not edit the test files.
"""

_HEAD = re.compile(r"^\s*<{5,9}\s*SEARCH\s*>?\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_TAIL = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_CLOSING_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
_NO_PATH = "no file path: put the file's path on the line above <<<<<<< SEARCH"
_PATH_LOOKBACK = 3
_NEAREST_MAX_LINES = 5000
_NEAREST_MIN_RATIO = 0.3


def _join(lines: Sequence[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def _block_path(lines: list[str], head: int) -> str | None:
    """The path named just above a SEARCH marker, looking past fence lines."""
    looked = 0
    for index in range(head - 1, -1, -1):
        text = lines[index].strip()
        if not text:
            continue
        if _TAIL.match(text) or _DIVIDER.match(text) or looked >= _PATH_LOOKBACK:
            return None
        looked += 1
        if text.startswith(("```", "~~~")):
            path = path_in_line(text)
            if path is not None:
                return path
            continue
        # The line above the marker is meant to be the path: take a lone path-ish
        # token as it stands (`/etc/passwd`, `a\b.py`) and let the path check judge it.
        token = text.strip("*`#'\" ").rstrip(":").strip()
        pathish = " " not in token and any(ch in token for ch in "./\\")
        return path_in_line(text) or (token if pathish else None)
    return None


def _find(
    lines: list[str], start: int, want: re.Pattern[str], stops: tuple[re.Pattern[str], ...]
) -> int | None:
    for index in range(start, len(lines)):
        if want.match(lines[index]):
            return index
        if any(stop.match(lines[index]) for stop in stops):
            return None
    return None


def parse(reply: str) -> list[Edit]:
    """Every SEARCH/REPLACE block in `reply`, in order; malformed ones carry a `problem`.

    A block without a path of its own takes the previous block's path.
    """
    lines = normalize_newlines(reply).split("\n")
    edits: list[Edit] = []
    last_path = ""
    index = 0
    while index < len(lines):
        if not _HEAD.match(lines[index]):
            index += 1
            continue
        number = len(edits) + 1
        path = _block_path(lines, index) or last_path
        divider = _find(lines, index + 1, _DIVIDER, (_HEAD, _TAIL))
        if divider is None:
            problem = f"block {number}: no ======= line after <<<<<<< SEARCH"
            edits.append(Edit(path, None, "", problem))
            index += 1
            continue
        tail = _find(lines, divider + 1, _TAIL, (_HEAD, _DIVIDER))
        if tail is None:  # a closing fence often stands in for the REPLACE marker
            tail = _find(lines, divider + 1, _CLOSING_FENCE, (_HEAD, _DIVIDER, _TAIL))
        if tail is None:
            problem = f"block {number}: no >>>>>>> REPLACE line after ======="
            edits.append(Edit(path, None, "", problem))
            index = divider + 1
            continue
        search, replace = _join(lines[index + 1 : divider]), _join(lines[divider + 1 : tail])
        problem = "" if path else f"block {number}: {_NO_PATH}"
        edits.append(Edit(path, search, replace, problem))
        last_path = path
        index = tail + 1
    return edits


def _split(text: str) -> list[str]:
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def _matches(hay: list[str], needle: list[str], key: Callable[[str], str]) -> list[int]:
    if not needle or len(needle) > len(hay):
        return []
    keyed_needle = [key(line) for line in needle]
    keyed_hay = [key(line) for line in hay]
    first = keyed_needle[0]
    return [
        start
        for start in range(len(hay) - len(needle) + 1)
        if keyed_hay[start] == first and keyed_hay[start : start + len(needle)] == keyed_needle
    ]


def _indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _reindent(replace: list[str], search: list[str], matched: list[str]) -> list[str]:
    """Shift `replace` by the indentation difference between `search` and the file."""
    anchor = next((i for i, line in enumerate(search) if line.strip()), None)
    if anchor is None:
        return replace
    delta = _indent_width(matched[anchor]) - _indent_width(search[anchor])
    if delta == 0:
        return replace
    tabs = matched[anchor][:1] == "\t"
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
            continue
        width = max(_indent_width(line) + delta, 0)
        indent = "\t" * (width // 4) if tabs else " " * width
        out.append(indent + line.lstrip())
    return out


def _nearest(hay: list[str], needle: list[str]) -> tuple[str, int] | None:
    """The chunk of `hay` most similar to `needle` and its 1-based line, if any is close."""
    target = "\n".join(line.strip() for line in needle)
    stripped = [line.strip() for line in hay[:_NEAREST_MAX_LINES]]
    best, best_start, best_size = _NEAREST_MIN_RATIO, -1, 0
    for size in sorted({max(len(needle) - 1, 1), len(needle), len(needle) + 1}):
        for start in range(max(len(stripped) - size + 1, 1)):
            matcher = SequenceMatcher(
                None, target, "\n".join(stripped[start : start + size]), False
            )
            if matcher.real_quick_ratio() <= best or matcher.quick_ratio() <= best:
                continue
            ratio = matcher.ratio()
            if ratio > best:
                best, best_start, best_size = ratio, start, size
    if best_start < 0:
        return None
    return "\n".join(hay[best_start : best_start + best_size]) + "\n", best_start + 1


def _several(path: str, starts: list[int]) -> EditFailed:
    lines = ", ".join(str(s + 1) for s in starts[:5])
    return EditFailed(
        f"SEARCH matches {len(starts)} places in `{path}` (lines {lines}); "
        "add surrounding lines so that it matches exactly one"
    )


def _replace_lines(text: str, edit: Edit) -> str:
    hay = _split(text)
    needle = _split(normalize_newlines(edit.search or ""))
    replace = normalize_newlines(edit.replace)
    new = _split(replace) if replace.strip("\n") else []
    starts = _matches(hay, needle, lambda line: line)
    if not starts:
        while needle and not needle[0].strip():
            needle = needle[1:]
        while needle and not needle[-1].strip():
            needle = needle[:-1]
        starts = _matches(hay, needle, str.strip)
        if len(starts) == 1:
            new = _reindent(new, needle, hay[starts[0] : starts[0] + len(needle)])
    if len(starts) > 1:
        raise _several(edit.path, starts)
    if not starts:
        near = _nearest(hay, needle)
        raise EditFailed(
            f"SEARCH does not match any lines of `{edit.path}`",
            *(near if near is not None else (None, 0)),
        )
    start = starts[0]
    result = [*hay[:start], *new, *hay[start + len(needle) :]]
    return _join(result) if text.endswith("\n") or not result else "\n".join(result)


def apply_one(content: str | None, edit: Edit) -> str:
    """Apply one edit to a file's content (None when the file does not exist)."""
    if edit.search is None:
        return edit.replace
    if not edit.search.strip():
        if content is None or not content.strip():
            return edit.replace
        raise EditFailed(
            f"SEARCH is empty but `{edit.path}` already exists: "
            "copy the lines to replace into SEARCH"
        )
    if content is None:
        raise EditFailed(
            f"`{edit.path}` does not exist: to create it, leave SEARCH empty "
            "and put the whole file in REPLACE"
        )
    crlf = "\r\n" in content
    result = _replace_lines(normalize_newlines(content), edit)
    return result.replace("\n", "\r\n") if crlf else result


def apply(
    files: Mapping[str, str],
    edits: Sequence[Edit],
    *,
    root: Path | None = None,
    protected: frozenset[str] = frozenset(),
    allow_runner: bool = False,
) -> ApplyResult:
    """Apply the blocks in order to `files`; each block sees the previous ones' results."""
    return run_edits(
        files, edits, apply_one, root=root, protected=protected, allow_runner=allow_runner
    )
