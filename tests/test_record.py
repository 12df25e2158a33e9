"""agent.run.record: the recorder keeps the result current from the events; counts are typed."""

from __future__ import annotations

import json
from pathlib import Path

from agent.run.candidates import TestRun
from agent.run.events import Syntax
from agent.run.record import FixResult, RunDir, recorded_run
from sandbox.base import TestCase, TestCounts, TestReport


def test_a_test_event_becomes_typed_counts_and_the_same_json(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "r1")
    seen: list[str] = []
    result = FixResult(run_id="r1", run_dir=str(run.path), model="fake")
    report = TestReport(
        tests=(TestCase("t::a", "passed"), TestCase("t::b", "passed"), TestCase("t::c", "failed")),
        timed_out=True,
    )
    with recorded_run(run, result, lambda event: seen.append(event.name)) as record:
        record(TestRun.of(report, green=False, iteration=1))
        record(Syntax(path="a.py", problems=("1:1 invalid syntax",)))
    assert result.tests == TestCounts(passed=2, failed=1, errors=0)
    assert (result.iterations, result.history, result.timeouts) == (1, [2], 1)
    assert result.syntax_errors == 1
    on_disk = json.loads(run.result_path.read_text())
    assert on_disk["tests"] == {"passed": 2, "failed": 1, "errors": 0}
    assert on_disk["fixed"] == [] and on_disk["exit_reason"] == "interrupted"
    assert seen == ["test", "syntax", "result"]


def test_a_report_gives_its_counts() -> None:
    report = TestReport(
        tests=(TestCase("t::a", "passed"), TestCase("t::b", "failed"), TestCase("t::c", "error")),
        collection_errors=(TestCase("t2", "error"),),
    )
    assert report.counts == TestCounts(passed=1, failed=1, errors=2)
    assert str(report.counts) == "1 passed, 1 failed, 2 errors"
