"""Pull code out of a model's reply: fenced blocks, the paths they name, one file's content.

Models wrap code in prose, send several blocks, name the file in the fence's
info string (```` ```python fizzbuzz.py ````), on the line before the fence
(``**fizzbuzz.py**``, ``Here is `fizzbuzz.py`:``) or in a first-line comment
(``# fizzbuzz.py``), and sometimes send bare code with no fence at all. The
functions here are pure: text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from agent.syntax import check_python

__all__ = ["CodeBlock", "extract_file", "fenced_blocks", "normalize_newlines", "path_in_line"]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_PATH_LOOSE = re.compile(r"^(?:[\w.\-]+/)*[\w\-][\w.\-]*\.[A-Za-z][A-Za-z0-9]*$")
# In prose, only well-known extensions count: `self.count` is not a file.
_KNOWN_EXTENSIONS = frozenset(
    "py pyi txt md rst toml cfg ini json yaml yml sh csv html css in scm".split()  # noqa: SIM905
    + "js mjs cjs ts mts go rs".split()  # noqa: SIM905
)
_LABELS = re.compile(r"^(?:file(?:name)?|path|title)\s*[:=]\s*", re.IGNORECASE)
_COMMENT_PATH = re.compile(r"^\s*(?:#|//)\s*(?P<rest>\S.*?)\s*$")
_PYTHON_LANGS = frozenset({"", "python", "py", "python3", "py3"})
_LOOKBACK_LINES = 2


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a reply."""

    info: str
    """The fence's info string, e.g. `python` or `python fizzbuzz.py`."""
    language: str
    """The info string's language word, lower-cased; "" when none."""
    path: str | None
    """The file the block names (info string, first-line comment or the line before)."""
    body: str
    """The block's text, newline-terminated unless empty."""
    line: int
    """1-based line of the opening fence in the reply."""
    closed: bool = True
    """False when the reply ended inside the block (a truncated reply)."""


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean_token(token: str) -> str:
    token = token.strip().strip("`*'\"").strip()
    token = _LABELS.sub("", token)
    token = token.strip("`*'\"").rstrip(":,;.)").strip("`*'\"(")
    return token.removeprefix("./")


def _is_path(token: str, *, strict: bool) -> bool:
    if not _PATH_LOOSE.match(token):
        return False
    return not strict or token.rsplit(".", 1)[1].lower() in _KNOWN_EXTENSIONS


def path_in_line(line: str) -> str | None:
    """The file path a line of prose names, or None.

    A line that is just a path (``fizzbuzz.py``, ``**src/app.py**``, ``### File: a.py``)
    names it; otherwise the last backticked or bare token with a known file
    extension does (``Here is the updated `fizzbuzz.py`:``).
    """
    whole = _clean_token(line.strip().lstrip("#>-*").strip())
    if _is_path(whole, strict=False):
        return whole
    for candidates in (re.findall(r"`([^`\s]+)`", line), line.split()):
        for raw in reversed(candidates):
            token = _clean_token(raw)
            if _is_path(token, strict=True):
                return token
    return None


def _path_in_info(info: str) -> str | None:
    for raw in re.split(r"[\s:=]+", info):
        token = _clean_token(raw)
        if _is_path(token, strict=False):
            return token
    return None


def _path_in_comment(body: str) -> str | None:
    first = body.split("\n", 1)[0]
    match = _COMMENT_PATH.match(first)
    if match is None:
        return None
    token = _clean_token(match.group("rest"))
    return token if _is_path(token, strict=False) else None


def _path_before(lines: list[str], fence_index: int) -> str | None:
    """The path named by the nearest non-blank line above a fence, if any."""
    for index in range(fence_index - 1, max(fence_index - 1 - _LOOKBACK_LINES, -1), -1):
        text = lines[index].strip()
        if text:
            return None if text.startswith(("```", "~~~")) else path_in_line(text)
    return None


def _dedent(body_lines: list[str], indent: str) -> list[str]:
    if not indent:
        return body_lines
    return [line[len(indent) :] if line.startswith(indent) else line for line in body_lines]


def _language(info: str) -> str:
    word = info.split()[0].lower() if info.split() else ""
    if _is_path(_clean_token(word), strict=False):  # ```fizzbuzz.py
        ext = word.rsplit(".", 1)[1]
        return "python" if ext == "py" else ext
    return word


def fenced_blocks(reply: str) -> list[CodeBlock]:
    """Every fenced block of `reply`, in order, with the path each one names."""
    lines = normalize_newlines(reply).split("\n")
    blocks: list[CodeBlock] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening.group("fence"), opening.group("info").strip()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(index + 1, len(lines)) if closing.match(lines[j])), None)
        body_lines = _dedent(lines[index + 1 : end], opening.group("indent"))
        body = "\n".join(body_lines)
        body = body.rstrip("\n") + "\n" if body.strip() else ""
        path = _path_in_info(info) or _path_in_comment(body) or _path_before(lines, index)
        blocks.append(CodeBlock(info, _language(info), path, body, index + 1, end is not None))
        index = len(lines) if end is None else end + 1
    return blocks


def _same_file(named: str, wanted: str) -> bool:
    return named == wanted or wanted.endswith("/" + named) or named.endswith("/" + wanted)


def _defines(body: str, names: Collection[str]) -> bool:
    """True when the code defines every name (def, class or a top-level assignment)."""
    return all(
        re.search(rf"^\s*(?:async\s+def|def|class)\s+{re.escape(n)}\b|^{re.escape(n)}\s*[:=]",
                  body, re.MULTILINE)
        for n in names
    )  # fmt: skip


def extract_file(reply: str, path: str, defines: Collection[str] = ()) -> str | None:
    """The content the reply gives for `path`, or None when it gives none.

    In order: the last block that names `path`; else the longest unnamed block
    in a fitting language (any language for non-Python files); else, when the
    reply has no fence at all and parses as Python, the whole reply. With
    `defines`, a block that defines all those names wins over one that does not
    (small models follow the real code with a block of made-up tests).
    """
    wanted = path.strip().removeprefix("./")
    blocks = fenced_blocks(reply)
    named = [b for b in blocks if b.path is not None and _same_file(b.path, wanted)]
    unnamed = [b for b in blocks if b.path is None and b.body.strip()]
    if wanted.endswith(".py"):
        unnamed = [b for b in unnamed if b.language in _PYTHON_LANGS]
    if defines:
        named_fit = [b for b in named if _defines(b.body, defines)]
        unnamed_fit = [b for b in unnamed if _defines(b.body, defines)]
        if named_fit:
            return named_fit[-1].body
        if unnamed_fit:
            return max(unnamed_fit, key=lambda b: len(b.body.strip())).body
    if named:
        return named[-1].body
    if unnamed:
        return max(unnamed, key=lambda b: len(b.body.strip())).body
    text = normalize_newlines(reply).strip("\n")
    if not blocks and text.strip() and wanted.endswith(".py") and not check_python(text):
        return text + "\n"
    return None
