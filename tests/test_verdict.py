"""agent.run.verdict on its own: the expected tests, what counts as run, the confirmation."""

from __future__ import annotations

from typing import Any

from agent.run.candidates import Confirm
from agent.run.events import Event
from agent.run.loop import Candidate, LoopOutcome
from agent.run.verdict import NOT_RUN, confirm, expected_tests, missing_tests, with_missing
from sandbox.base import TestCase, TestReport

TESTS = {
    "tests/test_a.py": (
        "import pytest\n\n\ndef helper():\n    pass\n\n\n@pytest.mark.parametrize('x', [1, 2])\n"
        "def test_one(x):\n    pass\n\n\nclass TestGroup:\n"
        "    def test_two(self):\n        pass\n\n"
        "    def setup_method(self):\n        pass\n\n\nasync def test_three():\n    pass\n"
    ),
    "tests/test_broken.py": "def test_x(:\n",
    "tests/data.txt": "not python",
}


def test_expected_tests_are_read_from_the_files() -> None:
    assert expected_tests(TESTS) == {
        "tests/test_a.py::test_one",
        "tests/test_a.py::TestGroup::test_two",
        "tests/test_a.py::test_three",
        "tests/test_broken.py",
    }


def _case(test_id: str, outcome: Any = "passed") -> TestCase:
    return TestCase(id=test_id, outcome=outcome)


def test_parameters_and_collection_errors_count_as_run() -> None:
    report = TestReport(
        tests=(_case("tests/test_a.py::test_one[1]"), _case("tests/test_a.py::test_three")),
        collection_errors=(_case("tests/test_broken.py", "error"),),
    )
    assert missing_tests(report, expected_tests(TESTS)) == ["tests/test_a.py::TestGroup::test_two"]
    judged = with_missing(report, expected_tests(TESTS))
    assert [(t.id, t.outcome, t.message) for t in judged.tests][-1] == (
        "tests/test_a.py::TestGroup::test_two", "error", NOT_RUN)  # fmt: skip


def _outcome(report: TestReport) -> LoopOutcome:
    return LoopOutcome(True, "green", 1, Candidate({"a.py": "x = 1\n"}, report, 1))


def test_confirm_keeps_green_only_when_the_fresh_run_holds() -> None:
    green = TestReport(tests=(_case("t.py::test_a"),))
    red = TestReport(tests=(_case("t.py::test_a", "failed"),))
    forged = TestReport(tests=(_case("t.py::test_a"),), tampered="a canary passed")
    events: list[Event] = []
    record = events.append

    def judge(report: TestReport) -> bool:
        return report.green

    assert confirm(_outcome(green), lambda files: green, judge, record).green
    assert confirm(_outcome(green), lambda files: red, judge, record).exit_reason == "unconfirmed"
    tampered = confirm(_outcome(green), lambda files: forged, judge, record)
    assert (tampered.green, tampered.exit_reason) == (False, "tampered")
    assert all(isinstance(e, Confirm) for e in events) and len(events) == 3
    assert [e.green for e in events if isinstance(e, Confirm)] == [True, False, False]
    assert isinstance(events[2], Confirm) and events[2].tampered
