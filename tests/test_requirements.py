"""Requirements read from acceptance tests: test sources in, required files and names out."""

from __future__ import annotations

import pytest

from agent.new.requirements import (
    CallShape,
    ModuleRequirement,
    RequiredName,
    Requirements,
    extract_requirements,
    requirements_text,
)

FIZZ_TEST = """\
import pytest
from fizzbuzz import fizzbuzz


@pytest.mark.parametrize("n, want", [(3, "Fizz"), (5, "Buzz")])
def test_fizzbuzz(n, want):
    assert fizzbuzz(n) == want
"""


def test_single_function() -> None:
    reqs = extract_requirements({"tests/test_fizzbuzz.py": FIZZ_TEST})
    assert reqs == Requirements(
        modules=(
            ModuleRequirement(
                "fizzbuzz",
                "fizzbuzz.py",
                (RequiredName("fizzbuzz", "function", (CallShape(1, (), False, "fizzbuzz(n)"),)),),
                ("tests/test_fizzbuzz.py",),
            ),
        ),
        packages=(),
        test_files=("tests/test_fizzbuzz.py",),
    )
    assert reqs.paths() == ["fizzbuzz.py"]
    assert requirements_text(reqs) == (
        "The acceptance tests require:\n"
        "- file `fizzbuzz.py` must exist and define:\n"
        "  - `fizzbuzz(arg1)`: called as `fizzbuzz(n)`"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "from calc import add, sub\ndef test():\n    add(1, 2)\n    sub(3, b=1)\n",
            {"calc.py": ["add(arg1, arg2)", "sub(arg1, b=...)"]},
            id="from-import-several",
        ),
        pytest.param(
            "from pkg.mod import f\ndef test():\n    f()\n",
            {"pkg/__init__.py": [], "pkg/mod.py": ["f()"]},
            id="dotted-from-import-needs-package",
        ),
        pytest.param(
            "import pkg.mod as m\ndef test():\n    assert m.f(1) == m.CONST\n",
            {"pkg/__init__.py": [], "pkg/mod.py": ["f(arg1)", "CONST"]},
            id="aliased-module-attribute-call",
        ),
        pytest.param(
            "import pkg.mod\ndef test():\n    pkg.mod.g(x=1)\n",
            {"pkg/__init__.py": [], "pkg/mod.py": ["g(x=...)"]},
            id="dotted-attribute-call",
        ),
        pytest.param(
            "from shapes import Stack as S\ndef test():\n    s = S(10)\n    s.push(1)\n"
            "    assert s.pop() == 1\n    assert s.size == 0\n",
            {"shapes.py": ["class Stack: Stack(arg1), push(arg1), pop(), size"]},
            id="class-instance-methods",
        ),
        pytest.param(
            "import bank\ndef test():\n    with bank.Account(owner='a') as acct:\n"
            "        acct.deposit(5)\n",
            {"bank.py": ["class Account: Account(owner=...), deposit(arg1)"]},
            id="with-as-instance",
        ),
        pytest.param(
            "from wc import count\ndef test():\n    count('a b')\n    count('a', sep=',')\n",
            {"wc.py": ["count(arg1, sep=...)"]},
            id="optional-keyword",
        ),
        pytest.param(
            "import os, sys, json\nimport pytest\nfrom collections import Counter\n"
            "from unittest import mock\nimport hypothesis\nfrom conftest import helper\n"
            "from tests.util import x\nfrom . import sibling\n",
            {},
            id="stdlib-third-party-and-test-helpers-ignored",
        ),
        pytest.param("from app import *\n", {"app.py": []}, id="star-import-still-needs-file"),
    ],
)
def test_required_files_and_signatures(source: str, expected: dict[str, list[str]]) -> None:
    tests = {"tests/test_x.py": source, "tests/util.py": "", "tests/conftest.py": ""}
    reqs = extract_requirements(tests)
    got = {m.path: [n.signature() for n in m.names] for m in reqs.modules}
    assert got == expected


def test_third_party_imports_become_packages() -> None:
    source = "import numpy as np\nimport yaml\nimport pytest\nfrom stats import mean\n"
    reqs = extract_requirements({"tests/test_s.py": source})
    assert reqs.packages == ("numpy", "pyyaml")
    assert reqs.paths() == ["stats.py"]


def test_known_files_decide_package_or_module() -> None:
    source = "from inventory import Item\n"
    plain = extract_requirements({"tests/test_i.py": source})
    assert plain.paths() == ["inventory.py"]
    starter = extract_requirements(
        {"tests/test_i.py": source}, known_files=["inventory/__init__.py", "inventory/db.py"]
    )
    assert starter.paths() == ["inventory/__init__.py"]


def test_several_test_files_merge() -> None:
    tests = {
        "tests/test_a.py": "from lib import f\ndef test():\n    f(1)\n",
        "tests/test_b.py": "from lib import f, g\ndef test():\n    f(1, 2)\n    g()\n",
    }
    reqs = extract_requirements(tests)
    [module] = reqs.modules
    assert module.used_by == ("tests/test_a.py", "tests/test_b.py")
    assert [n.signature() for n in module.names] == ["f(arg1, arg2=...)", "g()"]
    assert reqs.for_path("lib.py") is module
    assert reqs.for_path("other.py") is None


def test_broken_test_source_still_yields_what_parses() -> None:
    source = "from calc import add\ndef test(:\n    add(1, 2)\n"
    reqs = extract_requirements({"tests/test_c.py": source})
    assert reqs.paths() == ["calc.py"]
    assert reqs.modules[0].names[0].name == "add"


def test_requirements_text_for_classes_and_packages() -> None:
    source = (
        "import numpy\nfrom pkg.shapes import Square\ndef test():\n"
        "    sq = Square(2)\n    assert sq.area() == 4\n"
    )
    text = requirements_text(extract_requirements({"tests/test_sq.py": source}))
    assert "- file `pkg/__init__.py` must exist (module `pkg`)" in text
    assert "- file `pkg/shapes.py` must exist and define:" in text
    assert "`Square`: a class, created as `Square(2)`; used: `area()`" in text
    assert "- third-party packages: numpy" in text
    assert requirements_text(Requirements()) == ""
