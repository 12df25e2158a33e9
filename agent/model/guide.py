"""Code guided line by line while it is decoded: a line that breaks its block is drawn
again, a docstring that rambles is closed.

    guide = guide_for("python")
    guide.line(text)    # the reply so far, ending in a newline: KEEP, REDRAW or REPLACE
    guide.end(text)     # the whole reply: KEEP, or what the last line should be

Why: SmolLM2-135M sampled at 0.8 writes Python that does not parse in about one reply
in five (HumanEval 40-119: 115 of 608 of greenloop's replies, 129 of 617 naive ones),
and each such reply is a whole call thrown away. Most break on one line: a bracket
closed by the wrong one, an `if` expression with no `else`, or a docstring that
repeats itself to the token cap. A line is cheap to draw again; a reply is not. So
the engine (`agent.model.batched`) asks the guide at each line's end and, where the
line breaks the block, takes it back and draws it again (the sampler's state moved
on, so the draw differs); a docstring that repeats a line, or runs past
`DOCSTRING_LINES`, is closed in place of that line.

The check is Python's own compiler in its "incomplete input" mode (as `codeop` uses
it): code that merely goes on (an open bracket, a block with no body yet, an open
docstring) passes; code no continuation can mend does not. Only the first fenced
block of the reply is judged; prose before it is left alone.
"""

from __future__ import annotations

import enum
import io
import re
import tokenize
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DOCSTRING_LINES", "LONG_LINE", "Guide", "Judged", "Move", "guide_for"]

DOCSTRING_LINES = 50
"""Lines a function's or class's docstring may run before it is closed (HumanEval's
longest has 33; a module's docstring runs as long as it likes)."""
LONG_LINE = 240
"""Characters a line may run with no newline before it is drawn again (a runaway
expression, e.g. `map(lambda ...` nested until the cap)."""
_SIGNIFICANT = 12
"""Shorter lines (`else:`, `return x`) repeat in honest code; a longer one written a
third time in a row is the model looping, and a docstring line written twice is."""

_FENCE = re.compile(r"```[\w+.-]*[ \t]*\n")
_INCOMPLETE = 0x4000  # PyCF_ALLOW_INCOMPLETE_INPUT
_NO_DEDENT = 0x200  # PyCF_DONT_IMPLY_DEDENT
_TRIPLE = re.compile(r'"""|\'\'\'')
_DOCSTRING = re.compile(r'\s*[rRuU]?("""|\'\'\')')


class Move(enum.Enum):
    KEEP = "keep"
    REDRAW = "redraw"
    """Take the last line back and draw it again."""
    REPLACE = "replace"
    """Take the last line back and put `Judged.replace` in its place."""


@dataclass(frozen=True)
class Judged:
    move: Move
    replace: str = ""
    why: str = ""


KEEP = Judged(Move.KEEP)


class Guide(Protocol):
    def line(self, text: str) -> Judged:
        """`text`: the reply so far, ending in a newline (or a line past `LONG_LINE`)."""
        ...

    def end(self, text: str) -> Judged:
        """`text`: the whole reply, its stop cut."""
        ...


def guide_for(language: str | None) -> Guide | None:
    """The guide for code in `language`, or None where there is none."""
    return _PythonGuide() if language == "python" else None


def _code(text: str) -> tuple[str, str] | None:
    """The first fenced block's code so far, split as (whole lines, the line in progress)."""
    fence = _FENCE.search(text)
    if fence is None:
        return None
    code = text[fence.end() :]
    closing = code.find("\n```")
    if closing >= 0 or code.startswith("```"):
        return None  # the block is closed: what follows is not its code
    cut = code.rfind("\n") + 1
    return code[:cut], code[cut:]


class _PythonGuide:
    def line(self, text: str) -> Judged:
        parts = _code(text)
        if parts is None:
            return KEEP
        done, rest = parts
        if len(rest) >= LONG_LINE:
            return Judged(Move.REDRAW, why="a line with no end")
        lines = done.splitlines()
        if not lines:
            return KEEP
        last = lines[-1]
        opened = _open_string(done)
        if opened is not None:  # only a docstring's lines are judged: others hold data
            return _docstring(lines, opened, last) if _is_docstring(lines, opened) else KEEP
        problem = _breaks(done)
        if problem.startswith("expected an indented block") and last.strip():
            # the block's first line written at the block's own level: indent it
            return Judged(Move.REPLACE, replace=f"    {last}\n", why=problem)
        if problem:
            return Judged(Move.REDRAW, why=problem)
        if len(last.strip()) >= _SIGNIFICANT and lines[-3:] == [last] * 3:
            return Judged(Move.REDRAW, why="a line repeated")
        return KEEP

    def end(self, text: str) -> Judged:
        fence = _FENCE.search(text)
        if fence is None:
            return KEEP
        code = text[fence.end() :]
        closing = code.find("\n```")
        code = code[: closing + 1] if closing >= 0 else code
        if not code.strip():
            return KEEP
        try:
            compile(code, "<reply>", "exec", flags=_NO_DEDENT, dont_inherit=True)
        except SyntaxError as e:
            opened = _open_string(code)
            if opened is not None and _is_docstring(code.splitlines(), opened):
                return Judged(Move.REPLACE, replace=_closer(code, opened), why="an open docstring")
            return Judged(Move.REDRAW, why=e.msg)
        except ValueError:  # a null byte
            return Judged(Move.REDRAW, why="a null byte")
        return KEEP


def _breaks(code: str) -> str:
    """Why no continuation can make `code` (whole lines) parse; "" when one can."""
    try:
        compile(code, "<reply>", "exec", flags=_INCOMPLETE | _NO_DEDENT, dont_inherit=True)
    except SyntaxError as e:
        return "" if e.msg == "incomplete input" else e.msg
    except ValueError:
        return "a null byte"
    return ""


def _open_string(code: str) -> int | None:
    """The line index where a triple-quoted string left open begins, or None."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO(code).readline):
            pass
    except tokenize.TokenError as e:
        if "string" not in str(e.args[0]):
            return None  # an open bracket, not a string
        return int(e.args[1][0]) - 1
    except (SyntaxError, ValueError):  # a bad dedent or a null byte: another rule's
        return None
    return None


def _is_docstring(lines: list[str], opened: int) -> bool:
    """A statement that is the string alone, not `x = \"\"\"...`."""
    return opened < len(lines) and _DOCSTRING.match(lines[opened]) is not None


def _docstring(lines: list[str], opened: int, last: str) -> Judged:
    body = [line.strip() for line in lines[opened + 1 : -1]]
    stripped = last.strip()
    closer = _closer("\n".join(lines), opened)
    indented = lines[opened][:1].isspace()
    if indented and len(lines) - opened > DOCSTRING_LINES:
        return Judged(Move.REPLACE, replace=closer, why="a docstring too long")
    if len(stripped) >= _SIGNIFICANT and stripped in body:
        return Judged(Move.REPLACE, replace=closer, why="a docstring line repeated")
    return KEEP


def _closer(code: str, opened: int) -> str:
    """The line that closes the docstring opened at line `opened`: its quotes, indented
    as the line that opened it."""
    first = code.splitlines()[opened]
    quote = _TRIPLE.search(first)
    mark = quote.group(0) if quote else '"""'
    indent = first[: len(first) - len(first.lstrip())]
    return f"{indent}{mark}\n"
