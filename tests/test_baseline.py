"""The fix baseline: a rerun that reports nothing is a glitch, never a green baseline."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agent.errors import SandboxError
from agent.fix.baseline import run_baseline
from sandbox.base import Suite, TestCase, TestReport

RED = TestReport(
    tests=(
        TestCase("tests/test_a.py::test_ok", "passed"),
        TestCase("tests/test_a.py::test_bug", "failed"),
    )
)
EMPTY = TestReport(note="pytest wrote no JUnit report (exit code 0)")


class _Reports:
    """A sandbox whose test runs return the given reports in turn."""

    def __init__(self, *reports: TestReport) -> None:
        self.reports = list(reports)
        self.runs = 0

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        self.runs += 1
        return self.reports.pop(0)


def test_an_empty_rerun_is_run_again_not_taken_as_flakiness() -> None:
    sandbox = _Reports(RED, EMPTY, RED)
    baseline = run_baseline(sandbox, (), 30)  # type: ignore[arg-type]
    assert sandbox.runs == 3
    assert not baseline.green
    assert baseline.targets == {"tests/test_a.py::test_bug"}
    assert baseline.flaky == frozenset()
    assert baseline.must_pass == {"tests/test_a.py::test_ok"}


def test_reruns_that_keep_reporting_nothing_are_an_error() -> None:
    with pytest.raises(SandboxError, match="not answering reliably"):
        run_baseline(_Reports(RED, EMPTY, EMPTY), (), 30)  # type: ignore[arg-type]


def test_a_real_flaky_test_is_still_flaky() -> None:
    fixed = TestReport(
        tests=(TestCase("tests/test_a.py::test_ok", "passed"),
               TestCase("tests/test_a.py::test_bug", "passed"))
    )  # fmt: skip
    baseline = run_baseline(_Reports(RED, fixed), (), 30)  # type: ignore[arg-type]
    assert baseline.flaky == {"tests/test_a.py::test_bug"} and not baseline.targets
