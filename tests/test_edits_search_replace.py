"""Search/replace blocks: messy replies in, edits and new file contents out."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.edits import FORMATS, Edit, render_failures
from agent.edits.search_replace import apply, parse

CALC = """\
def add(a, b):
    return a - b


class Calc:
    def mul(self, a, b):
        total = 0
        for _ in range(b):
            total += a
        return total
"""


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


# ---- parse -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            "I'll fix the sign.\n\ncalc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n"
            "    return a + b\n>>>>>>> REPLACE\n\nThat should do it.",
            [Edit("calc.py", "    return a - b\n", "    return a + b\n")],
            id="bare-path-line",
        ),
        pytest.param(
            "```python\ncalc.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```",
            [Edit("calc.py", "x\n", "y\n")],
            id="path-inside-fence",
        ),
        pytest.param(
            "```python pkg/calc.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```",
            [Edit("pkg/calc.py", "x\n", "y\n")],
            id="path-in-fence-info",
        ),
        pytest.param(
            "**pkg/calc.py**\n```python\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```",
            [Edit("pkg/calc.py", "x\n", "y\n")],
            id="path-before-fence",
        ),
        pytest.param(
            "calc.py\r\n<<<<<<< SEARCH\r\nx\r\n=======\r\ny\r\n>>>>>>> REPLACE\r\n",
            [Edit("calc.py", "x\n", "y\n")],
            id="crlf",
        ),
        pytest.param(
            "new.py\n<<<<<<< SEARCH\n=======\nprint('hi')\n>>>>>>> REPLACE",
            [Edit("new.py", "", "print('hi')\n")],
            id="empty-search-creates",
        ),
        pytest.param(
            "a.py\n<<<<<<< SEARCH\nx\n=======\n>>>>>>> REPLACE\n"
            "<<<<<<< SEARCH\nz\n=======\nw\n>>>>>>> REPLACE\n",
            [Edit("a.py", "x\n", ""), Edit("a.py", "z\n", "w\n")],
            id="second-block-inherits-path",
        ),
        pytest.param(
            "```python\n# calc.py\n<<<<<<< SEARCH\nx\n=======\ny\n```\n",
            [Edit("calc.py", "x\n", "y\n")],
            id="closing-fence-instead-of-replace-marker",
        ),
        pytest.param("No changes needed, the tests should pass.", [], id="no-blocks"),
    ],
)
def test_parse(reply: str, expected: list[Edit]) -> None:
    assert parse(reply) == expected


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        pytest.param(
            "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path", id="no-path"
        ),
        pytest.param(
            "a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "no ======= line", id="no-divider"
        ),
        pytest.param("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "no >>>>>>> REPLACE", id="no-tail"),
    ],
)
def test_malformed_blocks_carry_a_problem_and_never_apply(reply: str, problem: str) -> None:
    edits = parse(reply)
    assert len(edits) == 1
    assert problem in edits[0].problem
    result = apply({"a.py": "x\n"}, edits)
    assert result.files == {"a.py": "x\n"}
    assert problem in result.failed[0].reason


def test_malformed_block_does_not_swallow_the_next_one() -> None:
    reply = "a.py\n<<<<<<< SEARCH\nx\na.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    result = apply({"a.py": "x\n"}, parse(reply))
    assert result.files == {"a.py": "y\n"}
    assert [f.block for f in result.failed] == [1]


# ---- apply -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "replace", "expected"),
    [
        pytest.param(
            "    return a - b\n", "    return a + b\n", CALC.replace("a - b", "a + b"), id="exact"
        ),
        pytest.param(
            "return a - b\n",
            "return a + b\n",
            CALC.replace("a - b", "a + b"),
            id="missing-indentation-reindented",
        ),
        pytest.param(
            "def mul(self, a, b):\n    total = 0\n    for _ in range(b):\n        total += a\n"
            "    return total\n",
            "def mul(self, a, b):\n    return a * b\n",
            CALC.split("    def mul")[0] + "    def mul(self, a, b):\n        return a * b\n",
            id="whole-method-dedented-by-model",
        ),
        pytest.param(
            "\n        total = 0   \n\n",
            "        total = 1\n",
            CALC.replace("total = 0", "total = 1"),
            id="blank-edges-and-trailing-space",
        ),
        pytest.param(
            "            total = 0\n            for _ in range(b):\n",
            "            total = 0\n            if b < 0:\n                raise ValueError(b)\n"
            "            for _ in range(b):\n",
            CALC.replace(
                "        total = 0\n",
                "        total = 0\n        if b < 0:\n            raise ValueError(b)\n",
            ),
            id="over-indented-by-model",
        ),
        pytest.param(
            "class Calc:\n",
            "class Calc:\n    '''A calculator.'''\n",
            CALC.replace("class Calc:\n", "class Calc:\n    '''A calculator.'''\n"),
            id="insert-after",
        ),
        pytest.param(
            "def add(a, b):\n    return a - b\n\n\n",
            "",
            CALC.split("\n\n\n", 1)[1],
            id="delete",
        ),
    ],
)
def test_apply_block(search: str, replace: str, expected: str) -> None:
    result = apply({"calc.py": CALC}, [Edit("calc.py", search, replace)])
    assert result.failed == []
    assert result.files["calc.py"] == expected
    assert result.changed == frozenset({"calc.py"})


def test_blocks_apply_in_order_and_see_each_other() -> None:
    reply = block("calc.py", "    return a - b\n", "    return a + b  # fixed\n") + block(
        "calc.py", "    return a + b  # fixed\n", "    return b + a\n"
    )
    result = apply({"calc.py": CALC}, parse(reply))
    assert result.ok
    assert "    return b + a\n" in result.files["calc.py"]
    assert len(result.applied) == 2


def test_crlf_file_keeps_its_line_endings() -> None:
    files = {"w.py": "a = 1\r\nb = 2\r\n"}
    result = apply(files, [Edit("w.py", "b = 2\n", "b = 3\n")])
    assert result.files["w.py"] == "a = 1\r\nb = 3\r\n"


def test_file_without_final_newline_stays_so() -> None:
    result = apply({"a.py": "x = 1\ny = 2"}, [Edit("a.py", "x = 1\n", "x = 0\n")])
    assert result.files["a.py"] == "x = 0\ny = 2"


def test_tab_indented_file_gets_tabs() -> None:
    files = {"t.py": "def f():\n\treturn 1\n"}
    result = apply(files, [Edit("t.py", "return 1\n", "x = 2\nreturn x\n")])
    assert result.files["t.py"] == "def f():\n\tx = 2\n\treturn x\n"


def test_create_with_empty_search_and_dot_slash_path() -> None:
    result = apply({}, parse(block("./pkg/new.py", "", "VALUE = 1\n")))
    assert result.files == {"pkg/new.py": "VALUE = 1\n"}
    assert result.changed == frozenset({"pkg/new.py"})


@pytest.mark.parametrize(
    ("files", "edit", "reason", "nearest"),
    [
        pytest.param(
            {"calc.py": CALC},
            Edit("calc.py", "def add(x, y):\n    return x - y\n", "pass\n"),
            "does not match",
            "def add(a, b):\n    return a - b\n",
            id="no-match-shows-nearest",
        ),
        pytest.param(
            {"d.py": "x = 1\ny = 2\nx = 1\n"},
            Edit("d.py", "x = 1\n", "x = 3\n"),
            "matches 2 places",
            None,
            id="ambiguous-exact",
        ),
        pytest.param(
            {"d.py": "if a:\n    x = 1\nif b:\n        x = 1\n"},
            Edit("d.py", "x = 1\n", "x = 3\n"),
            "lines 2, 4",
            None,
            id="ambiguous-fuzzy",
        ),
        pytest.param(
            {}, Edit("gone.py", "x = 1\n", "x = 2\n"), "does not exist", None, id="missing-file"
        ),
        pytest.param(
            {"calc.py": CALC},
            Edit("calc.py", "", "x = 1\n"),
            "already exists",
            None,
            id="empty-search-on-existing-file",
        ),
    ],
)
def test_failed_block(files: dict[str, str], edit: Edit, reason: str, nearest: str | None) -> None:
    result = apply(files, [edit])
    assert result.files == files
    assert result.applied == []
    [failure] = result.failed
    assert reason in failure.reason
    assert failure.nearest == nearest
    assert failure.block == 1


@pytest.mark.parametrize(
    "path", ["../../evil.py", "/etc/passwd", ".git/hooks/pre-commit", "a/../../b.py", "a\\b.py"]
)
def test_unsafe_paths_are_failed_edits_not_writes(path: str) -> None:
    result = apply({}, parse(block(path, "", "boom\n")))
    assert result.files == {}
    assert "refused path" in result.failed[0].reason


def test_symlink_escape_is_refused_against_a_real_root(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path.parent)
    result = apply({}, [Edit("link/evil.py", "", "x\n")], root=tmp_path)
    assert "outside the project" in result.failed[0].reason


def test_protected_test_files_are_refused() -> None:
    files = {"tests/test_calc.py": "def test_add():\n    assert add(1, 2) == 3\n", "calc.py": CALC}
    reply = block("tests/test_calc.py", "    assert add(1, 2) == 3\n", "    assert True\n")
    reply += block("calc.py", "    return a - b\n", "    return a + b\n")
    result = apply(files, parse(reply), protected=frozenset({"tests/test_calc.py"}))
    assert result.files["tests/test_calc.py"] == files["tests/test_calc.py"]
    assert "a + b" in result.files["calc.py"]
    [failure] = result.failed
    assert "tests may not be edited" in failure.reason
    assert failure.block == 1


def test_render_failures_names_block_reason_and_nearest_text() -> None:
    reply = block("calc.py", "    return a + b\n", "    return a * b\n") + block(
        "calc.py", "def add(x, y):\n    return x - y\n", "pass\n"
    )
    result = apply({"calc.py": CALC}, parse(reply))
    text = render_failures(result.failed)
    assert "Edit 1 to `calc.py` failed" in text
    assert "Edit 2 to `calc.py` failed" in text
    assert "def add(x, y):" in text  # their search
    assert "(line 1)" in text
    assert "```\ndef add(a, b):\n    return a - b\n```" in text
    assert render_failures([]) == ""


def test_format_registry() -> None:
    fmt = FORMATS["search-replace"]
    assert "<<<<<<< SEARCH" in fmt.instructions
    result = fmt.apply({"calc.py": CALC}, fmt.parse(block("calc.py", "a - b\n", "a + b\n")))
    # a partial-line SEARCH does not match: blocks quote whole lines
    assert not result.ok
