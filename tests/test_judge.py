"""The sandbox's side of the verdict: the judge, the disguised tests, the exit code.

Real pytest in the real local and Docker sandboxes, with the hostile files
written straight into the workspace (as if every file guard had failed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.run.verdict import NOT_RUN, expected_tests, with_missing
from sandbox.base import Sandbox, Suite
from sandbox.config import SandboxConfig
from sandbox.local import LocalSandbox

CODE = {"calc.py": "def add(a, b):\n    return a - b\n"}
TESTS = {
    "tests/test_calc.py": (
        "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n"
    )
}
FORCE_PASS = (
    "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
)
FORGED = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">'
    '<testcase classname="tests.test_calc" name="test_zero" file="tests/test_calc.py"/>'
    '<testcase classname="tests.test_calc" name="test_add" file="tests/test_calc.py"/>'
    "</testsuite></testsuites>"
)
EXIT_ZERO = "import atexit, os\natexit.register(lambda: os._exit(0))\n"
WRITE_FD3 = f"import os\nos.write(3, {FORGED.encode()!r})\n"
EXIT_BEFORE = "import os\nos._exit(0)\n"
EQUAL_TO_ALL = (
    "class _Any(int):\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = int.__hash__\n\n\ndef add(a, b):\n    return _Any(0)\n"
)
WATCH = Suite(TESTS, frozenset(CODE))

ATTACKS = {
    "conftest-forces-passes": ({"conftest.py": FORCE_PASS}, "must fail"),
    "exit-code-zero": ({"calc.py": CODE["calc.py"] + EXIT_ZERO}, ""),
    "forged-report-on-fd3": ({"calc.py": CODE["calc.py"] + WRITE_FD3}, ""),
    "exit-before-the-tests": ({"calc.py": EXIT_BEFORE + CODE["calc.py"]}, ""),
    "equal-to-everything": ({"calc.py": EQUAL_TO_ALL}, "equal to anything"),
}


@pytest.fixture(params=["local", "docker"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    if request.param == "local":
        with LocalSandbox(SandboxConfig(kind="local")) as local:
            yield local
        return
    yield request.getfixturevalue("docker_sandbox")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_forged_verdict_is_red_or_tampered(sandbox: Sandbox, attack: str) -> None:
    files, why = ATTACKS[attack]
    sandbox.write({**CODE, **TESTS, **files})
    report = sandbox.run_tests(timeout=60, suite=WATCH)
    assert not report.green
    assert why in report.tampered
    assert {t.id for t in report.tests} <= {"tests/test_calc.py::test_zero",
                                            "tests/test_calc.py::test_add"}  # fmt: skip


def test_an_honest_run_is_not_tampered_and_hides_the_canaries(sandbox: Sandbox) -> None:
    sandbox.write({"calc.py": "def add(a, b):\n    return a + b\n", **TESTS})
    report = sandbox.run_tests(timeout=60, suite=WATCH)
    assert report.green and report.tampered == ""
    assert sorted(t.id for t in report.tests) == [
        "tests/test_calc.py::test_add", "tests/test_calc.py::test_zero"]  # fmt: skip
    whole = sandbox.run_tests(["-x"], timeout=60, suite=WATCH)  # stops at no canary
    assert whole.green and whole.tampered == ""
    assert (
        sandbox.read(["tests/test_calc.py"])["tests/test_calc.py"].decode()
        == TESTS["tests/test_calc.py"]
    )  # the pristine tests are back


def test_canaries_run_whatever_the_selection(sandbox: Sandbox) -> None:
    sandbox.write({**CODE, **TESTS, "conftest.py": FORCE_PASS})
    report = sandbox.run_tests(["-k", "zero", "tests/test_calc.py"], timeout=60, suite=WATCH)
    assert "must fail" in report.tampered or "equal to anything" in report.tampered
    assert not report.green


def test_a_deselected_acceptance_test_counts_as_not_run(sandbox: Sandbox) -> None:
    ini = "[pytest]\naddopts = --deselect tests/test_calc.py::test_add\n"
    sandbox.write({"calc.py": "def add(a, b):\n    return 0\n", **TESTS, "pytest.ini": ini})
    report = sandbox.run_tests(timeout=60)
    assert report.green and report.passed == 1  # pytest alone is fooled
    judged = with_missing(report, expected_tests(TESTS))
    assert not judged.green
    assert [(t.id, t.message) for t in judged.tests if t.outcome == "error"] == [
        ("tests/test_calc.py::test_add", NOT_RUN)
    ]


def test_a_repository_with_many_test_files_disguises_its_focus_first() -> None:
    """Their hashes travel in one argument (128 KiB at most): a cap, the focus first."""
    from sandbox.testrun import DISGUISE_MAX, disguised_files, judge_argv

    many = {f"tests/test_{i:04d}.py": "def test_a():\n    assert 1 == 1\n" for i in range(900)}
    many["tests/data.json"] = "{}"
    chosen = disguised_files(many, {"tests/test_0899.py::test_a"})
    assert len(chosen) == DISGUISE_MAX and "tests/test_0899.py" in chosen
    assert all(p.endswith(".py") for p in chosen)
    assert max(len(arg) for arg in judge_argv([], [], chosen)) < 128 * 1024
