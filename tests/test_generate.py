"""The syntax gate's cheap repair: keep the parseable head of a cut-off or junk-trailed file."""

from __future__ import annotations

from typing import Any

import pytest

from agent.new.generate import trim_to_parseable
from agent.syntax import check_python
from agent.task import TaskConfig

GOOD_HEAD = "def fizzbuzz(n):\n    return str(n)\n"
LOOPING = "def evens(n):\n    if n < 0:\n        return []\n    if n == 0:\n        return [0]\n"
"""A function cut at the token cap as it repeats itself: its whole lines are kept."""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (GOOD_HEAD + "\n\ndef test_x():\n    assert fizzbuzz(1) == 'FizzFizzFizz", GOOD_HEAD),
        (GOOD_HEAD + "\nThis function returns the number as text.\n", GOOD_HEAD),
        ("def broken(:\n    pass\n", None),
        ("x = (1,\n", None),
        (LOOPING + "        return [x for x in range(n) if x %", LOOPING),
        (LOOPING + "    if n > 1:\n        return [x for", LOOPING),
        (LOOPING + "    return (n + 1))\n    return n\n", None),
        ('def f(n):\n    """Return n.\n\n    Example:\n    >>> f(1', None),
    ],
    ids=[
        "cut-off-test",
        "prose-after-code",
        "error-on-first-line",
        "nothing-before-error",
        "function-cut-mid-line",
        "function-cut-in-open-block",
        "broken-mid-function",
        "cut-in-its-docstring",
    ],
)
def test_trim_to_parseable(source: str, expected: str | None) -> None:
    problems = check_python(source)
    assert problems
    assert trim_to_parseable(source, problems) == expected


def test_a_written_file_gets_the_specs_imports_back_and_loses_its_self_import() -> None:
    from agent.model import ScriptedModel
    from agent.new.generate import Generator
    from agent.new.plan import Plan, PlannedFile
    from agent.new.requirements import extract_requirements
    from agent.run.budget import Budget, Caller
    from agent.run.events import Event, ImportsRestored, SelfImportDropped
    from agent.task import TaskConfig

    spec = "```python\nfrom typing import List\n\n\ndef total(xs: List[int]) -> int:\n```\n"
    tests = {"tests/test_s.py": "from solution import total\n\ndef test_t():\n    total([1])\n"}
    reply = "```python\nfrom solution import total\n\ndef total(xs: List[int]) -> int:\n"
    reply += "    return sum(xs)\n```\n"
    events: list[Event] = []
    model = ScriptedModel([reply])
    ask = Caller(model, Budget(TaskConfig()), events.append)
    plan = Plan(files=[PlannedFile(path="solution.py", interface=["total(arg1)"])])
    files = Generator(ask, spec, plan, tests, extract_requirements(tests))(0.0)
    assert files["solution.py"] == (
        "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    )
    recorded = {
        e.name: list(e.lines) for e in events if isinstance(e, ImportsRestored | SelfImportDropped)
    }
    assert recorded == {
        "self_import_dropped": ["from solution import total"],
        "imports_restored": ["from typing import List"],
    }
    prompt = model.calls[0].messages[-1].content
    assert prompt.startswith("Complete this Python code: `solution.py`.")
    assert "```python\nfrom typing import List\n\n\ndef total(xs: List[int]) -> int:\n```" in prompt


def _generator(spec: str, replies: list[str], interface: list[str]) -> tuple[Any, Any, list[str]]:
    from agent.model import ScriptedModel
    from agent.new.generate import Generator
    from agent.new.plan import Plan, PlannedFile
    from agent.new.requirements import extract_requirements
    from agent.run.budget import Budget, Caller

    tests = {"tests/test_s.py": "from solution import total\n\ndef test_t():\n    total([1])\n"}
    events: list[str] = []
    model = ScriptedModel(replies)
    ask = Caller(model, Budget(TaskConfig()), lambda event: events.append(event.name))
    plan = Plan(files=[PlannedFile(path="solution.py", interface=interface)])
    return Generator(ask, spec, plan, tests, extract_requirements(tests)), model, events


SKELETON = (
    '# total\n\nWrite `solution.py`.\n\n```python\ndef total(xs):\n    """The sum of xs."""\n```\n'
)


def test_a_spec_showing_every_name_is_completed_with_its_words_and_no_tests() -> None:
    generate, model, _ = _generator(SKELETON, ["```python\ndef total(xs):\n    return 1\n```\n"],
                                    ["total(xs)"])  # fmt: skip
    generate(0.0)
    prompt = model.calls[0].messages[-1].content
    assert prompt.startswith("Complete this Python code: `solution.py`.")
    assert "# total\n\nWrite `solution.py`." in prompt
    assert '```python\ndef total(xs):\n    """The sum of xs."""\n```' in prompt
    assert "test_t" not in prompt  # the tests are the judge, not the brief


def test_a_restarts_odd_samples_are_asked_barely_its_even_ones_in_full() -> None:
    reply = "```python\ndef total(xs):\n    return 1\n```\n"
    generate, model, _ = _generator(SKELETON, [reply] * 3, ["total(xs)"])
    generate(0.8, seed=1)
    generate(0.8, seed=2)
    generate(0.0, seed=3)  # the first file, greedy: always in full
    bare, full, first = (c.messages[-1].content for c in model.calls)
    code = '```python\ndef total(xs):\n    """The sum of xs."""\n```'
    assert bare == "Complete this Python function. Reply with the whole function in one "\
        f"```python block.\n\n{code}"  # fmt: skip
    assert full == first and full.startswith("Complete this Python code: `solution.py`.")
    assert "Write `solution.py`." in full and code in full


def test_a_completed_skeleton_ends_where_top_level_tries_begin() -> None:
    generate, model, _ = _generator(SKELETON, ["```python\ndef total(xs):\n    return 1\n```\n"],
                                    ["total(xs)"])  # fmt: skip
    generate(0.8, seed=2)
    opts = model.calls[0].opts
    assert opts.get("seed") == 2 and opts.get("temperature") == 0.8
    assert {"\n```\n", "\nassert ", "\nprint("} <= set(opts.get("stop", ()))
    assert opts.get("code") == "python"  # a model that can guide its lines by it does


def test_a_sample_with_no_code_charges_nothing_the_first_file_does() -> None:
    generate, _, events = _generator(SKELETON, ["no code here", "no code either"], ["total(xs)"])
    assert generate(0.8, seed=1) == {"solution.py": ""}
    assert generate.ask.budget.malformed == 0 and "malformed" in events
    assert generate(0.0) == {"solution.py": ""}
    assert generate.ask.budget.malformed == 1


def test_a_spec_missing_a_required_name_gets_the_full_brief() -> None:
    generate, model, _ = _generator(SKELETON, ["```python\ndef total(xs):\n    return 1\n```\n"],
                                    ["total(xs)", "mean(xs)"])  # fmt: skip
    generate(0.0)
    prompt = model.calls[0].messages[-1].content
    assert prompt.startswith("Spec:") and "It must define:" in prompt


def test_a_sample_that_does_not_parse_is_dropped_not_mended() -> None:
    broken = '```python\ndef total(xs):\n    """The sum of xs.\n    return 1\n```\n'
    fixed = "```python\ndef total(xs):\n    return sum(xs)\n```\n"
    generate, model, events = _generator(SKELETON, [broken, broken, fixed], ["total(xs)"])
    assert generate(0.8, seed=3) == {"solution.py": ""}
    assert len(model.calls) == 1 and "syntax" in events
    # The first candidate (temperature 0) is still sent back to be mended.
    assert generate(0.0) == {"solution.py": "def total(xs):\n    return sum(xs)\n"}
    assert len(model.calls) == 3


@pytest.mark.parametrize(
    ("reply", "names", "expected"),
    [
        ("```python\n# test_add.py\ndef add(a, b):\n    return a + b\n```\n", ["add"], "def add"),
        ("```python\n# other.py\nx = 1\n```\n", [], "x = 1"),
        ("```python\n# a.py\nx = 1\n```\n```python\n# b.py\ny = 2\n```\n", [], None),
        ("```python\n# test_add.py\ndef test_add():\n    pass\n```\n", ["add"], None),
    ],
    ids=["defines-the-names", "the-only-block", "several-blocks", "defines-nothing-asked"],
)
def test_a_block_named_for_another_file_is_kept_when_it_is_the_file(
    reply: str, names: list[str], expected: str | None
) -> None:
    from agent.new.generate import misnamed_block

    found = misnamed_block(reply, names)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found


def test_a_correction_that_repeats_the_broken_code_is_not_asked_for_again() -> None:
    broken = '```python\ndef total(xs):\n    """The sum of xs.\n    return 1\n```\n'
    generate, model, events = _generator(SKELETON, [broken, broken, broken], ["total(xs)"])
    generate(0.0)
    assert len(model.calls) == 2  # the file, then one correction that changed nothing
    assert events.count("syntax") == 1


def test_a_correction_gets_no_more_room_than_the_file_was_given() -> None:
    # a long broken file: its rewrite would be sized past the cap the file itself ran to
    body = "".join(f"    x{i} = {i} * 2  # step {i}\n" for i in range(150))
    broken = f'```python\ndef total(xs):\n    """The sum of xs.\n{body}    return 1\n```\n'
    fixed = "```python\ndef total(xs):\n    return sum(xs)\n```\n"
    generate, model, _ = _generator(SKELETON, [broken, fixed], ["total(xs)"])
    generate(0.0)
    asked, corrected = (c.opts["max_tokens"] for c in model.calls)
    assert corrected <= asked
    assert [c.opts.get("code") for c in model.calls] == ["python", "python"]
    from agent.run.replies import rewrite_reply

    source = broken.split("\n", 1)[1].rsplit("```", 1)[0]
    assert rewrite_reply(source)["max_tokens"] > asked  # the bound is what held it


def test_each_file_of_a_package_completes_only_its_own_blocks() -> None:
    from agent.new.plan import PlannedFile
    from agent.new.prompts import code_to_complete

    spec = (
        "## `pkg/a.py`\n\n```python\ndef words(text: str) -> list[str]:\n```\n\n"
        "## `pkg/b.py`\n\n```python\ndef mean(text: str) -> float:\n```\n"
    )
    a = PlannedFile(path="pkg/a.py", interface=["words(text)"])
    both = PlannedFile(path="pkg/a.py", interface=["words(text)", "mean(text)"])
    assert code_to_complete(spec, a) == "def words(text: str) -> list[str]:"
    assert "def mean" in code_to_complete(spec, both)
    assert code_to_complete(spec, PlannedFile(path="pkg/c.py", interface=["other(x)"])) == ""


def test_the_completion_request_keeps_the_specs_other_blocks() -> None:
    from agent.new.plan import Plan, PlannedFile
    from agent.new.prompts import code_to_complete, completion_messages

    spec = SKELETON + "\nLast output:\n```\nImportError: not written yet\n```\n"
    target = PlannedFile(path="solution.py", interface=["total(xs)"])
    prompt = completion_messages(spec, Plan(files=[target]), target, code_to_complete(spec, target))
    text = prompt[-1].content
    assert "```\nImportError: not written yet\n```" in text  # the note's output stays
    assert text.count('"""The sum of xs."""') == 1  # the code is shown once, last
    assert text.rstrip().endswith('"""The sum of xs."""\n```')
