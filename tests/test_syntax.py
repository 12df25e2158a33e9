"""The syntax gate: source in, problems out."""

from __future__ import annotations

import threading

import pytest

from agent.syntax import SyntaxProblem, check_python, render_problems


@pytest.mark.parametrize(
    "source",
    [
        "",
        "x = 1\n",
        "def f(n: int) -> int:\n    return n * 2\n",
        "class A:\n    def f(self):\n        pass\n",
        # PEP 701 f-string: valid on the sandbox's 3.12 even where the host is older
        'x = f"{d["a"]}"\n',
        "match x:\n    case 1:\n        pass\n",
        "x = 1\r\ny = 2\r\n",
    ],
)
def test_valid_source_has_no_problems(source: str) -> None:
    assert check_python(source) == []


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("def f(:\n    return 1\n", 1, "missing `)`"),
        ("class A:\n    def f(self)\n        pass\n", 2, "expected ':'"),
        ("if x:\nreturn 1\n", 2, "indented block"),
        ("def f():\n    return 1\n      x = 2\n", 3, "unexpected indent"),
        ('def f():\n    print "hi"\n', 2, "print"),
        ("x = (1,\n", 1, "never closed"),
        ("a\x00b\n", 1, "null bytes"),
    ],
)
def test_broken_source_names_the_line(source: str, line: int, fragment: str) -> None:
    problems = check_python(source)
    assert problems, "expected a problem"
    assert problems[0].line == line
    assert fragment in problems[0].text


def test_several_problems_in_source_order_and_limited() -> None:
    source = "def f(:\n    pass\n\n\ny = [1,\n\nz = )\n" + "w = (\n" * 10
    problems = check_python(source, limit=3)
    assert 1 <= len(problems) <= 3
    assert problems == sorted(problems, key=lambda p: (p.line, p.column))
    assert problems[0].line == 1


def test_parser_is_usable_from_threads() -> None:
    results: list[list[SyntaxProblem]] = []

    def work() -> None:
        results.append(check_python("def f(:\n    pass\n"))
        results.append(check_python("x = 1\n"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0] * 4 + [1] * 4


def test_render_quotes_the_offending_line() -> None:
    source = "x = 1\ndef f(:\n    pass\n"
    text = render_problems("pkg/mod.py", source, check_python(source))
    assert "`pkg/mod.py` does not parse" in text
    assert "line 2" in text
    assert "   2 | def f(:" in text
