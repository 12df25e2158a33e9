"""One reply applied, as both the loop's feedback and `greenloop fix`'s restarts apply it:
the format's edits, else whole files; the tests protected and left out of the code."""

from __future__ import annotations

from agent.edits import FORMATS, apply_reply

CODE = {"calc.py": "def add(a, b):\n    return a - b\n"}
TESTS = {"tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(1, 2)\n"}
SR = FORMATS["search-replace"]


def test_a_search_replace_edit_applies_and_the_tests_stay_out_of_the_code() -> None:
    reply = (
        "calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n"
        "    return a + b\n>>>>>>> REPLACE\n```\n"
    )
    applied = apply_reply(SR, reply, CODE, TESTS)
    assert applied.usable and applied.result.changed == {"calc.py"}
    assert applied.code == {"calc.py": "def add(a, b):\n    return a + b\n"}


def test_a_whole_file_reply_is_taken_when_the_format_finds_nothing() -> None:
    reply = "```python calc.py\ndef add(a, b):\n    return a + b\n```\n"
    applied = apply_reply(SR, reply, CODE, TESTS)
    assert applied.usable and applied.code["calc.py"].endswith("return a + b\n")


def test_a_reply_with_no_edit_is_unusable_and_changes_nothing() -> None:
    applied = apply_reply(SR, "I would check the sign.", CODE, TESTS)
    assert not applied.usable and not applied.result.changed
    assert applied.code == CODE and applied.result.files == {**CODE, **TESTS}


def test_an_edit_to_a_test_is_refused() -> None:
    reply = "```python tests/test_calc.py\ndef test_add():\n    assert True\n```\n"
    applied = apply_reply(SR, reply, CODE, TESTS)
    assert applied.usable and not applied.result.changed
    assert "tests may not be edited" in applied.result.failed[0].reason
    assert applied.code == CODE
