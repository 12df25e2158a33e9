"""The syntax gate's cheap repair: keep the parseable head of a cut-off or junk-trailed file."""

from __future__ import annotations

import pytest

from agent.generate import trim_to_parseable
from agent.syntax import check_python

GOOD_HEAD = "def fizzbuzz(n):\n    return str(n)\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (GOOD_HEAD + "\n\ndef test_x():\n    assert fizzbuzz(1) == 'FizzFizzFizz", GOOD_HEAD),
        (GOOD_HEAD + "\nThis function returns the number as text.\n", GOOD_HEAD),
        ("def broken(:\n    pass\n", None),
        ("x = (1,\n", None),
    ],
    ids=["cut-off-test", "prose-after-code", "error-on-first-line", "nothing-before-error"],
)
def test_trim_to_parseable(source: str, expected: str | None) -> None:
    problems = check_python(source)
    assert problems
    assert trim_to_parseable(source, problems) == expected
