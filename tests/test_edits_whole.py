"""Whole-file blocks: replies in, edits and new file contents out."""

from __future__ import annotations

import pytest

from agent.edits import FORMATS, Edit
from agent.edits.whole_file import apply, parse

OLD = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            "Here you go:\n```python calc.py\nx = 1\n```\nDone.",
            [Edit("calc.py", None, "x = 1\n")],
            id="info-string",
        ),
        pytest.param(
            "calc.py\n```python\nx = 1\n```\n\n`pkg/__init__.py`:\n```python\n```\n",
            [Edit("calc.py", None, "x = 1\n"), Edit("pkg/__init__.py", None, "")],
            id="path-line-before-and-empty-file",
        ),
        pytest.param(
            "```python\n# pkg/util.py\ndef f():\r\n    return 1\r\n```",
            [Edit("pkg/util.py", None, "# pkg/util.py\ndef f():\n    return 1\n")],
            id="first-line-comment-crlf",
        ),
        pytest.param(
            "Run this:\n```bash\npytest -q\n```\nand this code:\n```python\nx = 1\n```",
            [],
            id="unnamed-blocks-ignored",
        ),
        pytest.param(
            "```python calc.py\ncalc.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```",
            [],
            id="search-replace-block-is-not-a-whole-file",
        ),
    ],
)
def test_parse(reply: str, expected: list[Edit]) -> None:
    assert parse(reply) == expected


def test_apply_replaces_and_creates() -> None:
    reply = (
        "```python calc.py\ndef add(a, b):\n    return a + b\n```\n"
        "```python tests_helpers/new.py\nVALUE = 2\n```\n"
    )
    result = apply({"calc.py": OLD, "other.py": "y = 1\n"}, parse(reply))
    assert result.ok
    assert result.files == {
        "calc.py": "def add(a, b):\n    return a + b\n",
        "other.py": "y = 1\n",
        "tests_helpers/new.py": "VALUE = 2\n",
    }
    assert result.changed == frozenset({"calc.py", "tests_helpers/new.py"})


def test_later_block_for_the_same_file_wins() -> None:
    reply = "```python a.py\nx = 1\n```\nCorrection:\n```python a.py\nx = 2\n```"
    assert apply({}, parse(reply)).files == {"a.py": "x = 2\n"}


@pytest.mark.parametrize(
    "body",
    [
        "def add(a, b):\n    return a + b\n\n# ... rest of the code unchanged ...\n",
        "def add(a, b):\n    return a + b\n\n# ...\n",
        "# existing code here\ndef add(a, b):\n    return a + b\n",
    ],
)
def test_elided_file_is_refused(body: str) -> None:
    result = apply({"calc.py": OLD}, [Edit("calc.py", None, body)])
    assert result.files["calc.py"] == OLD
    assert "leaves code out" in result.failed[0].reason


def test_ellipsis_comment_in_a_new_file_is_fine() -> None:
    result = apply({}, [Edit("a.py", None, "# ... a comment about dots\nx = 1\n")])
    assert result.ok


@pytest.mark.parametrize("path", ["../evil.py", "/abs.py", ".git/config"])
def test_unsafe_paths_are_refused(path: str) -> None:
    result = apply({}, [Edit(path, None, "x\n")])
    assert result.files == {}
    assert "refused path" in result.failed[0].reason


def test_protected_test_file_is_refused() -> None:
    tests = {"tests/test_a.py": "def test_a():\n    assert False\n"}
    reply = "```python tests/test_a.py\ndef test_a():\n    assert True\n```"
    result = apply(tests, parse(reply), protected=frozenset(tests))
    assert result.files == tests
    assert "tests may not be edited" in result.failed[0].reason


def test_search_edit_is_not_a_whole_file_edit() -> None:
    result = apply({"a.py": "x\n"}, [Edit("a.py", "x\n", "y\n")])
    assert "not a whole-file edit" in result.failed[0].reason


def test_format_registry() -> None:
    fmt = FORMATS["whole"]
    assert "```python path/to/file.py" in fmt.instructions
    assert fmt.apply({}, fmt.parse("```python a.py\nx = 1\n```")).files == {"a.py": "x = 1\n"}
