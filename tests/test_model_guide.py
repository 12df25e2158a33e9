"""The guide that judges a reply's Python line by line as it is decoded
(`agent.model.guide`): what it takes back, what it mends, and that honest code passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.model.guide import DOCSTRING_LINES, LONG_LINE, Move, guide_for

ROOT = Path(__file__).resolve().parents[1]
GUIDE = guide_for("python")
assert GUIDE is not None
OPEN = "Here it is:\n\n```python\n"


def _line(code: str) -> tuple[Move, str]:
    judged = GUIDE.line(OPEN + code)
    return judged.move, judged.replace


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n",
        "def f(x):\n    return (x +\n",  # an open bracket goes on
        'def f(x):\n    """Add one.\n',  # an open docstring goes on
        "def f(x):\n    if x:\n",  # a block with no body yet
        "def f(x):\n    return 1\n",
        "x = 1\n" * 3,  # short lines repeat in honest code
        "def f(x):\n    return x)",  # the line has not ended: not judged yet
    ],
)
def test_code_that_can_still_parse_is_kept(code: str) -> None:
    assert _line(code) == (Move.KEEP, "")


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n    return x)\n",
        "def f(x):\n    y = [1, 2)\n",
        "def f(x):\n    return 'Yes' if x\n",
        "def f(x):\n    return x +\n",
        "def f(x):\n" + "    total = total + x * 2\n" * 3,  # the model looping
        "def f(x):\n    return " + "g(" * (LONG_LINE // 2),  # a line with no end
    ],
)
def test_a_line_no_continuation_can_mend_is_drawn_again(code: str) -> None:
    assert _line(code)[0] is Move.REDRAW


def test_a_blocks_first_line_at_the_blocks_level_is_indented() -> None:
    move, replace = _line("def f(x):\n    if x:\n    return True\n")
    assert (move, replace) == (Move.REPLACE, "        return True\n")


def test_a_docstring_that_repeats_a_line_is_closed_in_its_place() -> None:
    code = (
        "def f(x):\n    '''Add one to x.\n    The road is perfectly symmetrical.\n"
        "    The road is perfectly symmetrical.\n"
    )
    assert _line(code) == (Move.REPLACE, "    '''\n")


def test_a_docstring_too_long_is_closed_and_a_modules_is_not() -> None:
    prose = "".join(f"    line {i} of the text\n" for i in range(DOCSTRING_LINES + 1))
    assert _line('def f(x):\n    """Doc.\n' + prose) == (Move.REPLACE, '    """\n')
    assert _line('"""Doc.\n' + prose.replace("    ", ""))[0] is Move.KEEP


def test_a_string_that_is_not_a_docstring_is_left_to_repeat() -> None:
    table = 'ROWS = """\n' + "0, 0, 0, 0, 0, 0, 0\n" * 5
    assert _line(table)[0] is Move.KEEP


def test_prose_before_the_block_and_after_it_is_not_judged() -> None:
    assert GUIDE.line("Use x = (1,]\nas a start\n").move is Move.KEEP
    assert GUIDE.line(OPEN + "x = 1\n```\nthen y = (]\n").move is Move.KEEP


@pytest.mark.parametrize(
    ("code", "move", "replace"),
    [
        ("def f(x):\n    return x + 1\n", Move.KEEP, ""),
        ("def f(x):\n    return x + 1\n```", Move.KEEP, ""),
        ('def f(x):\n    """Add one.\n    Examples:\n', Move.REPLACE, '    """\n'),
        ("def f(x):\n    return (x +\n", Move.REDRAW, ""),
        ("def f(x):\n", Move.REDRAW, ""),
    ],
)
def test_at_the_end_the_reply_must_parse(code: str, move: Move, replace: str) -> None:
    judged = GUIDE.end(OPEN + code)
    assert (judged.move, judged.replace) == (move, replace)


def test_only_python_has_a_guide() -> None:
    assert guide_for(None) is None and guide_for("javascript") is None


@pytest.mark.parametrize(
    "path",
    sorted(p for d in ("agent/model", "agent/run", "sandbox") for p in (ROOT / d).glob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_honest_code_written_line_by_line_is_never_taken_back(path: Path) -> None:
    """greenloop's own modules, as if the model wrote them: no false alarm."""
    source = path.read_text()
    text = OPEN
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        text += line
        judged = GUIDE.line(text)
        assert judged.move is Move.KEEP, f"line {number}: {line!r}: {judged.why}"
    assert GUIDE.end(text + "```").move is Move.KEEP
