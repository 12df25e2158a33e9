"""The disguised tests: fresh names, canaries and mutants among the real tests, read back.

Pure: source in, source and mappings out; the judge's rules on hand-made reports.
The real runner in the real sandboxes is in test_judge.py.
"""

from __future__ import annotations

import ast
import random

import pytest

from sandbox.base import TestCase, TestReport
from sandbox.disguise import CANARIES, Disguise, disguise_tests, selects_by_name

CALC = """from calc import add, words


def test_zero():
    assert add(0, 0) == 0


@pytest.mark.parametrize("a", [1, 2])
def test_add(a):
    total = add(a, 2)
    assert total == a + 2
    assert add(2, 3) == 5


def test_words():
    assert words("a b") == ["a", "b"]


class TestMore:
    def test_method(self):
        assert add(1, 1) == 2
"""
TESTS = {"tests/test_calc.py": CALC}


def _names(source: str) -> list[str]:
    tree = ast.parse(source)
    return [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]


def test_every_test_gets_a_fresh_name_and_keeps_its_line() -> None:
    disguise = disguise_tests(TESTS, rng=random.Random(1))
    text = disguise.files["tests/test_calc.py"]
    for real in ("test_zero", "test_add", "test_words", "test_method"):
        assert f"def {real}(" not in text
    real_lines = CALC.splitlines()
    for number, line in enumerate(text.splitlines()[: len(real_lines)]):
        if not line.lstrip().startswith("def "):
            assert line == real_lines[number]
    assert set(disguise.renamed.values()) == {"test_zero", "test_add", "test_words",
                                              "TestMore::test_method"}  # fmt: skip


def test_names_differ_between_runs_and_look_alike_whatever_they_name() -> None:
    first = disguise_tests(TESTS, rng=random.Random(1))
    second = disguise_tests(TESTS, rng=random.Random(2))
    assert first.renamed.keys() != second.renamed.keys()
    for name in _names(first.files["tests/test_calc.py"]):
        assert name.startswith("test_") and name.count("_") >= 2


def test_canaries_fail_and_mutants_differ_from_their_original_by_one_value() -> None:
    disguise = disguise_tests(TESTS, rng=random.Random(3))
    assert len(disguise.canaries) == CANARIES
    text = disguise.files["tests/test_calc.py"]
    namespace: dict[str, object] = {"pytest": pytest}
    exec(compile(text.replace("from calc import add, words", ""), "t", "exec"), namespace)
    for _, name in disguise.canaries:
        with pytest.raises(Exception):  # noqa: B017 - any failure is a canary's job
            namespace[name]()  # type: ignore[operator]
    assert disguise.mutants
    tree = ast.parse(text)
    bodies = {n.name: ast.unparse(n) for n in tree.body if isinstance(n, ast.FunctionDef)}
    for (_, mutant), original in disguise.mutants.items():
        renamed = {v: k[1] for k, v in disguise.renamed.items()}[original]
        before, after = bodies[renamed].splitlines(), bodies[mutant].splitlines()
        pairs = zip(before, after, strict=True)
        changed = [(b, a) for b, a in pairs if b != a and not b.startswith("def ")]
        assert len(changed) == 1 and "assert" in changed[0][0]


def test_a_method_is_renamed_but_never_copied() -> None:
    disguise = disguise_tests(TESTS, rng=random.Random(4))
    assert all("::" not in original for original in disguise.mutants.values())


def test_a_test_named_elsewhere_keeps_its_name() -> None:
    source = "def test_a():\n    assert 1 == 1\n\n\nREFERRED = test_a\n"
    disguise = disguise_tests({"tests/test_r.py": source}, rng=random.Random(5))
    assert "def test_a(" in disguise.files["tests/test_r.py"]


@pytest.mark.parametrize(
    ("args", "selects"),
    [(["-k", "zero"], True), (["-kzero"], True), (["-m", "slow"], True),
     (["tests/test_calc.py::test_zero"], True), (["--deselect=tests/x.py::t"], True),
     (["-q", "tests"], False), (["--maxfail=1"], False), ([], False)],
)  # fmt: skip
def test_selection_by_name_is_told(args: list[str], selects: bool) -> None:
    assert selects_by_name(args) is selects


def test_under_a_selection_names_stay_and_mutants_carry_their_originals_name() -> None:
    disguise = disguise_tests(TESTS, ["-k", "add"], rng=random.Random(6))
    assert not disguise.renamed and disguise.relaxed
    assert all(m.startswith(o + "_") for (_, m), o in disguise.mutants.items())


def _case(test_id: str, outcome: str = "passed", message: str = "") -> TestCase:
    return TestCase(id=test_id, outcome=outcome, message=message)  # type: ignore[arg-type]


def _honest(disguise_seed: int, outcome_of_real: str = "passed") -> tuple[Disguise, TestReport]:
    disguise = disguise_tests({"tests/test_w.py": "def test_w():\n    assert f() == 3\n"},
                              rng=random.Random(disguise_seed))  # fmt: skip
    path = "tests/test_w.py"
    cases = [_case(f"{path}::{new}", outcome_of_real, f"in {new}") for (_, new) in disguise.renamed]
    cases += [_case(f"{path}::{m}", "failed") for (_, m) in disguise.mutants]
    cases += [_case(f"{path}::{c}", "failed") for (_, c) in disguise.canaries]
    return disguise, TestReport(tests=tuple(cases))


def test_an_honest_report_reads_back_under_real_names_and_is_not_tampered() -> None:
    disguise, report = _honest(7)
    judged, why = disguise.judge(report, 1)
    assert why == ""
    assert [(t.id, t.message) for t in judged.tests] == [("tests/test_w.py::test_w", "in test_w")]


def test_a_passing_canary_a_passing_mutant_or_a_missing_one_is_tampered() -> None:
    disguise, report = _honest(8)
    canary = next(iter(disguise.canaries))
    forced = TestReport(tests=tuple(
        t if not t.id.endswith("::" + canary[1]) else _case(t.id, "passed") for t in report.tests
    ))  # fmt: skip
    assert "must fail" in disguise.judge(forced, 1)[1]
    canaries = {f"tests/test_w.py::{c[1]}" for c in disguise.canaries}
    equal = TestReport(tests=tuple(t if t.id in canaries else _case(t.id, "passed")
                                   for t in report.tests))  # fmt: skip
    assert "equal to anything" in disguise.judge(equal, 1)[1]
    hidden = TestReport(tests=tuple(t for t in report.tests if not t.id.endswith(canary[1])))
    assert "missing" in disguise.judge(hidden, 1)[1]


def test_a_mutant_of_a_failing_test_may_pass() -> None:
    disguise, report = _honest(9, outcome_of_real="failed")
    lenient = TestReport(tests=tuple(
        _case(t.id, "passed") if any(t.id.endswith(m) for (_, m) in disguise.mutants) else t
        for t in report.tests
    ))  # fmt: skip
    assert disguise.judge(lenient, 1)[1] == ""


def test_an_exit_code_that_contradicts_the_report_is_tampered() -> None:
    disguise, report = _honest(10)
    assert "exited 0" in disguise.judge(report, 0)[1]


def test_an_inherited_method_reads_back_under_its_real_name() -> None:
    """`class TestCustom(TestBase)` runs TestBase's methods under its own class name."""
    base = "class TestBase:\n    def test_get(self):\n        assert 1 == 1\n"
    sub = "from test_base import TestBase\n\n\nclass TestCustom(TestBase):\n    pass\n"
    disguise = disguise_tests({"tests/test_base.py": base, "tests/test_sub.py": sub},
                              rng=random.Random(11))  # fmt: skip
    new = next(n for (_, n) in disguise.renamed).rpartition("::")[2]
    report = TestReport(tests=(_case(f"tests/test_sub.py::TestCustom::{new}"),))
    judged, _ = disguise.judge(report, 1)
    assert [t.id for t in judged.tests] == ["tests/test_sub.py::TestCustom::test_get"]
