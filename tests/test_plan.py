"""The plan: messy model replies in, a validated plan (or the reason why not) out."""

from __future__ import annotations

import re

import pytest

from agent.errors import FormatError
from agent.new.plan import (
    DEFAULT_TEST_COMMAND,
    Plan,
    PlanInvalid,
    PlannedFile,
    enforce_requirements,
    fallback_plan,
    implied_plan,
    parse_plan,
    plan_schema,
    plan_size,
    without_example,
)
from agent.new.prompts import plan_prompt
from agent.new.requirements import extract_requirements

GOOD = '{"files": [{"path": "fizzbuzz.py", "purpose": "the function", "interface": ["def fizzbuzz(n: int) -> str"]}]}'  # noqa: E501

EXPECTED = Plan(
    files=[
        PlannedFile(
            path="fizzbuzz.py", purpose="the function", interface=["def fizzbuzz(n: int) -> str"]
        )
    ]
)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(GOOD, id="bare-json"),
        pytest.param(f"Here is my plan:\n```json\n{GOOD}\n```\nLet me know!", id="fenced"),
        pytest.param(f"Sure! The plan is {GOOD} and that's it.", id="wrapped-in-prose"),
        pytest.param(
            '```\n{\n  "files": [\n    {"path": "fizzbuzz.py", "purpose": "the function",\n'
            '     "interface": ["def fizzbuzz(n: int) -> str",],},\n  ],\n}\n```',
            id="trailing-commas",
        ),
        pytest.param(
            '{\r\n  // the files\r\n  "files": [{"path": "./fizzbuzz.py", "purpose": '
            '"the function", "interface": ["def fizzbuzz(n: int) -> str"]}]\r\n}',
            id="comments-crlf-dot-slash",
        ),
        pytest.param(
            "{'files': [{'path': 'fizzbuzz.py', 'purpose': 'the function', "
            "'interface': ['def fizzbuzz(n: int) -> str']}]}",
            id="python-dict",
        ),
        pytest.param(
            '{"plan": {"files": [{"filename": "fizzbuzz.py", "description": "the function", '
            '"functions": "def fizzbuzz(n: int) -> str"}]}}',
            id="aliases-and-wrapper",
        ),
        pytest.param(
            'First I thought {"x": 1} but no.\n' + GOOD, id="first-valid-object-wins-over-noise"
        ),
        pytest.param(
            '{"files": [{"path": "fizzbuzz.py", "purpose": "the function", "interface": '
            '["def fizzbuzz(n: int) -> str"]}, {"path": "fizzbuzz.py", "interface": []}]}',
            id="duplicate-files-merged",
        ),
    ],
)
def test_parse_plan(reply: str) -> None:
    assert parse_plan(reply) == EXPECTED


def test_parse_plan_full_fields_and_strings_with_braces() -> None:
    reply = (
        '{"files": ["app.py", {"path": "pkg/util.py", '
        '"purpose": "uses {braces} and \\"quotes\\""}],'
        ' "test_cmd": "pytest -x", "dependencies": "requests, json, pytest", '
        '"test_files": [{"path": "tests/test_app.py"}]}'
    )
    plan = parse_plan(reply)
    assert [f.path for f in plan.files] == ["app.py", "pkg/util.py"]
    assert plan.files[1].purpose == 'uses {braces} and "quotes"'
    assert plan.test_command == "pytest -x"
    assert plan.packages == ["requests"]  # stdlib and preinstalled dropped
    assert [f.path for f in plan.test_files] == ["tests/test_app.py"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param("I will write fizzbuzz.py.", "no JSON object", id="no-json"),
        pytest.param('{"files": [', "no JSON object", id="truncated"),
        pytest.param('{"files": []}', "files", id="empty-files"),
        pytest.param('{"files": [{"path": "../../evil.py"}]}', "refused path", id="escape"),
        pytest.param('{"files": [{"path": "/etc/x.py"}]}', "absolute", id="absolute"),
        pytest.param('{"files": [{"path": ".git/config"}]}', ".git", id="git-dir"),
        pytest.param('{"files": ["a.py"], "author": "me"}', "author", id="unknown-key"),
        pytest.param(
            '{"files": ["a.py"], "packages": ["x; rm -rf /"]}', "pip requirement", id="bad-package"
        ),
        pytest.param('{"files": ["a.py"], "test_command": ""}', "test_command", id="empty-cmd"),
    ],
)
def test_invalid_plan_says_why(reply: str, message: str) -> None:
    with pytest.raises(PlanInvalid) as info:
        parse_plan(reply)
    assert message in str(info.value)
    assert isinstance(info.value, FormatError)


TESTS = {
    "tests/test_shop.py": (
        "import yaml\nfrom shop.cart import Cart\nfrom shop.prices import total\n"
        "def test_cart():\n    c = Cart()\n    c.add('apple', 2)\n    assert total(c) == 2\n"
    )
}


def test_enforce_adds_missing_files_and_names_and_drops_tests() -> None:
    reqs = extract_requirements(TESTS)
    plan = Plan(
        files=[
            PlannedFile(path="shop/cart.py", purpose="cart", interface=["class Cart"]),
            PlannedFile(path="tests/test_shop.py", purpose="tests"),
        ],
        test_files=[PlannedFile(path="tests/test_more.py")],
    )
    enforced = enforce_requirements(plan, reqs)
    by_path = {f.path: f for f in enforced.files}
    assert set(by_path) == {"shop/cart.py", "shop/__init__.py", "shop/prices.py"}
    assert by_path["shop/cart.py"].interface == ["class Cart"]  # Cart already named
    assert by_path["shop/prices.py"].interface == ["total(arg1)"]
    assert "tests/test_shop.py" in by_path["shop/prices.py"].purpose
    assert enforced.test_files == []
    assert enforced.packages == ["pyyaml"]


def test_enforce_appends_a_missing_name_to_an_existing_file() -> None:
    reqs = extract_requirements({"tests/test_m.py": "from m import f, g\nf(1)\n"})
    plan = Plan(files=[PlannedFile(path="m.py", interface=["def f(x)"])])
    [planned] = enforce_requirements(plan, reqs).files
    assert planned.interface == ["def f(x)", "g"]


def test_fallback_plan_from_tests() -> None:
    plan = fallback_plan(extract_requirements(TESTS), "# Shopping cart\n\nA cart.")
    assert [f.path for f in plan.files] == ["shop/__init__.py", "shop/cart.py", "shop/prices.py"]
    assert plan.files[0].purpose == "Shopping cart"
    assert plan.files[1].interface == ["class Cart: Cart(), add(arg1, arg2)"]
    assert plan.test_command == DEFAULT_TEST_COMMAND
    assert plan.test_files == []


def test_fallback_plan_without_tests_writes_its_own() -> None:
    plan = fallback_plan(extract_requirements({}), "\n## Word counter\nCount words.")
    assert [f.path for f in plan.files] == ["main.py"]
    assert [f.path for f in plan.test_files] == ["tests/test_main.py"]
    assert "Word counter" in plan.test_files[0].purpose


@pytest.mark.parametrize("has_tests", [True, False])
def test_plan_prompt(has_tests: bool) -> None:
    reqs = extract_requirements(TESTS if has_tests else {})
    system, user = plan_prompt("Build a cart.", reqs, has_tests)
    assert system.role == "system" and '"files"' in system.content
    assert user.role == "user" and "Build a cart." in user.content
    assert ("`shop/prices.py` must exist" in user.content) is has_tests
    assert ("no acceptance tests" in user.content) is not has_tests
    parse_plan(system.content)  # the example in the instructions is itself a valid plan


def test_a_plan_cut_off_at_the_token_limit_keeps_its_complete_entries() -> None:
    cut = (
        '{"files": [{"path": "fizzbuzz.py", "purpose": "the function", "interface": '
        '["def fizzbuzz(n: int) -> str"]}, {"path": "extra.py", "purpose": "more and mo'
    )
    plan = parse_plan(cut)
    assert plan.files[0] == EXPECTED.files[0]
    assert [f.path for f in plan.files] == ["fizzbuzz.py", "extra.py"]


def test_the_schema_admits_what_the_plan_model_validates() -> None:
    schema = plan_schema(has_tests=False, max_files=3)
    assert schema["properties"]["files"]["maxItems"] == 3
    assert schema["properties"]["test_files"]["maxItems"] > 0
    fields = set(Plan.model_fields)
    assert set(schema["properties"]) == fields == set(schema["required"])
    file_schema = schema["properties"]["files"]["items"]
    assert set(file_schema["properties"]) == set(PlannedFile.model_fields)
    assert file_schema["additionalProperties"] is False
    assert plan_schema(has_tests=True)["properties"]["test_files"]["maxItems"] == 0
    assert schema["properties"]["test_command"]["minLength"] == 1  # as the model demands
    package = re.compile(schema["properties"]["packages"]["items"]["pattern"])
    for name in ("requests", "requests>=2.31", "py-yaml==6.0", "attrs<24"):
        assert package.match(name) and Plan(files=EXPECTED.files, packages=[name]).packages
    for bad in ("todo/", "numpy ~2", "a b", "=2"):
        assert not package.match(bad)


def test_the_copied_example_file_is_dropped_unless_the_spec_names_it() -> None:
    plan = Plan(files=[PlannedFile(path="pkg/mod.py"), PlannedFile(path="calc.py")])
    assert [f.path for f in without_example(plan, "Write calc.py").files] == ["calc.py"]
    assert without_example(plan, "Write pkg/mod.py and calc.py") == plan
    alone = Plan(files=[PlannedFile(path="pkg/mod.py")])
    assert without_example(alone, "Write calc.py") == alone


def test_the_tests_plan_takes_the_specs_own_signatures() -> None:
    spec = "# Add\n\n```python\ndef add(a: int, b: int) -> int:\n```\n"
    reqs = extract_requirements({"tests/test_calc.py": "from calc import add, SCALE\nadd(1, 2)\n"})
    [planned] = fallback_plan(reqs, spec).files
    assert planned.interface == ["def add(a: int, b: int) -> int", "SCALE"]
    implied = implied_plan(spec, reqs, has_tests=True)
    assert implied is not None and implied[0] == fallback_plan(reqs, spec)
    assert plan_size(spec, reqs) == 4
