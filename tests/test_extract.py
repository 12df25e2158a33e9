"""Pulling one file's content out of messy model replies."""

from __future__ import annotations

import pytest

from agent.edits.extract import extract_file, fenced_blocks, path_in_line

FIZZ = "def fizzbuzz(n):\n    return str(n)\n"
UTIL = "def helper():\n    return 1\n"


@pytest.mark.parametrize(
    ("reply", "path", "expected"),
    [
        pytest.param(
            f"Sure! Here is the implementation:\n\n```python\n{FIZZ}```\n\nHope it helps.",
            "fizzbuzz.py",
            FIZZ,
            id="prose-around-one-block",
        ),
        pytest.param(
            f"```python utils.py\n{UTIL}```\n\n```python fizzbuzz.py\n{FIZZ}```\n",
            "fizzbuzz.py",
            FIZZ,
            id="path-in-info-string",
        ),
        pytest.param(
            f"**utils.py**\n```python\n{UTIL}```\n**fizzbuzz.py**\n```python\n{FIZZ}```",
            "fizzbuzz.py",
            FIZZ,
            id="bold-path-line-before",
        ),
        pytest.param(
            f"Here is the updated `fizzbuzz.py`:\n```\n{FIZZ}```\nand `utils.py`:\n"
            f"```py\n{UTIL}```",
            "utils.py",
            UTIL,
            id="backticked-path-in-prose",
        ),
        pytest.param(
            f"```python\n# utils.py\n{UTIL}```\n```python\n# fizzbuzz.py\n{FIZZ}```",
            "fizzbuzz.py",
            "# fizzbuzz.py\n" + FIZZ,
            id="first-line-comment",
        ),
        pytest.param(
            f"```python\n# file: src/pkg/mod.py\n{FIZZ}```",
            "src/pkg/mod.py",
            "# file: src/pkg/mod.py\n" + FIZZ,
            id="labelled-comment",
        ),
        pytest.param(
            f"```python\nx = 1\n```\nFull file:\n```python\n{FIZZ}# more\n```\n"
            "Run it with:\n```bash\npython -m pytest -q tests/test_fizzbuzz.py --tb=short\n```",
            "fizzbuzz.py",
            FIZZ + "# more\n",
            id="longest-python-block-not-bash",
        ),
        pytest.param(FIZZ, "fizzbuzz.py", FIZZ, id="bare-code-no-fence"),
        pytest.param(
            "Sure\r\n```python\r\ndef f():\r\n    return 1\r\n```\r\n",
            "f.py",
            "def f():\n    return 1\n",
            id="crlf",
        ),
        pytest.param(
            f"### File: pkg/fizzbuzz.py\n```python\n{FIZZ}```",
            "pkg/fizzbuzz.py",
            FIZZ,
            id="heading-with-label",
        ),
        pytest.param(
            f"```python fizzbuzz.py\n{FIZZ}```", "pkg/fizzbuzz.py", FIZZ, id="basename-named"
        ),
        pytest.param(
            f"```python fizzbuzz.py\nx = 1\n```\nOops, corrected:\n"
            f"```python fizzbuzz.py\n{FIZZ}```",
            "fizzbuzz.py",
            FIZZ,
            id="last-named-wins",
        ),
        pytest.param(
            "1. Create the module:\n\n    ```python\n    def fizzbuzz(n):\n"
            "        return str(n)\n    ```",
            "fizzbuzz.py",
            FIZZ,
            id="indented-fence-in-list",
        ),
        pytest.param(f"```python\n{FIZZ}", "fizzbuzz.py", FIZZ, id="truncated-unclosed-fence"),
        pytest.param(
            f"````markdown\n```python\n{UTIL}```\n````\n```python fizzbuzz.py\n{FIZZ}```",
            "fizzbuzz.py",
            FIZZ,
            id="nested-fence",
        ),
        pytest.param(
            "```text requirements.txt\nrequests\n```", "requirements.txt", "requests\n", id="txt"
        ),
    ],
)
def test_extract_file(reply: str, path: str, expected: str) -> None:
    assert extract_file(reply, path) == expected


@pytest.mark.parametrize(
    ("reply", "path"),
    [
        pytest.param("I cannot help with that.", "fizzbuzz.py", id="prose-only"),
        pytest.param("", "fizzbuzz.py", id="empty"),
        pytest.param(f"```python utils.py\n{UTIL}```", "fizzbuzz.py", id="only-another-file"),
        pytest.param("```bash\npip install x\n```", "fizzbuzz.py", id="only-shell"),
        pytest.param("```python\n```", "fizzbuzz.py", id="empty-block"),
    ],
)
def test_extract_nothing(reply: str, path: str) -> None:
    assert extract_file(reply, path) is None


def test_named_empty_block_is_an_empty_file() -> None:
    assert extract_file("```python pkg/__init__.py\n```", "pkg/__init__.py") == ""


def test_fenced_blocks_records_language_path_and_line() -> None:
    reply = f"intro\n```fizzbuzz.py\n{FIZZ}```\ntext\n~~~\nplain\n~~~\n```python\nopen"
    blocks = fenced_blocks(reply)
    assert [(b.language, b.path, b.line, b.closed) for b in blocks] == [
        ("python", "fizzbuzz.py", 2, True),
        ("", None, 7, True),
        ("python", None, 10, False),
    ]
    assert blocks[1].body == "plain\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fizzbuzz.py", "fizzbuzz.py"),
        ("**src/app.py**", "src/app.py"),
        ("`./pkg/mod.py`:", "pkg/mod.py"),
        ("Now update `self.count` in `counter.py`:", "counter.py"),
        ("Here's the fix for tests/test_a.py.", "tests/test_a.py"),
        ("Use `self.count` instead", None),
        ("Python 3.12 is great", None),
        ("Here is the code:", None),
    ],
)
def test_path_in_line(line: str, expected: str | None) -> None:
    assert path_in_line(line) == expected


ADD_THEN_TESTS = """```python
# calc.py

def add(a, b):
    return a + b
```

```python
# calc.py

def test_calc():
    return add(2, 3) == 5
```
"""


@pytest.mark.parametrize(
    ("defines", "expected_start"),
    [((), "def test_calc"), (("add",), "def add"), (("missing",), "def test_calc")],
    ids=["last-named-block", "the-block-that-defines-add", "nothing-fits-falls-back"],
)
def test_a_block_defining_the_required_names_wins(
    defines: tuple[str, ...], expected_start: str
) -> None:
    body = extract_file(ADD_THEN_TESTS, "calc.py", defines)
    assert body is not None
    assert body.replace("# calc.py\n", "").lstrip().startswith(expected_start)
