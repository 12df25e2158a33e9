"""The loop's policy, fast: a fake sandbox that judges the code by its text, the scripted
model, no engine. One test per exit reason and per mode switch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.model import ScriptedModel
from agent.new.job import NewJob
from agent.run.bench import Bench
from agent.run.budget import Budget, Caller
from agent.run.codec import read_events
from agent.run.events import Apply, Event, Malformed, ModeSwitch, Restart, Tampered
from agent.run.loop import Loop, LoopOutcome, Policy
from agent.run.record import RunDir, RunResult, read_result, recorded_run, unusable
from agent.run.verdict import expected_tests
from agent.task import TaskConfig
from sandbox.base import ExecResult, Suite, TestCase, TestReport

TESTS = {"tests/test_m.py": "from m import f\n\ndef test_a(): ...\n\ndef test_b(): ...\n"}


def _report(code: str) -> TestReport:
    """Both tests pass for GOOD, one for HALF, none otherwise; FORGE forges the report."""
    a = "passed" if "GOOD" in code or "HALF" in code else "failed"
    b = "passed" if "GOOD" in code else "failed"
    tests = (
        TestCase("tests/test_m.py::test_a", a, "" if a == "passed" else "assert 1 == 2"),
        TestCase("tests/test_m.py::test_b", b, "" if b == "passed" else "assert 3 == 4"),
    )
    return TestReport(tests=tests, tampered="a canary passed" if "FORGE" in code else "")


class FakeSandbox:
    """Keeps the written files; a test run reports on `m.py` by `_report`."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.test_runs = 0

    def write(self, files: Mapping[str, str | bytes]) -> None:
        self.files.update({p: t if isinstance(t, str) else t.decode() for p, t in files.items()})

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        return ExecResult(output="", exit_code=0)

    def reset(self) -> None:
        self.files.clear()

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        self.test_runs += 1
        return _report(self.files.get("m.py", ""))


def code(word: str) -> str:
    return f"def f():\n    return '{word}'\n"


def _edit(old: str, new: str) -> str:
    """A search/replace block turning `return 'old'` into `return 'new'` in m.py."""
    search, replace = f"    return '{old}'", f"    return '{new}'"
    return f"m.py\n```python\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n"


class Run:
    """One loop over the fake sandbox: the replies to feedback, the fresh samples in turn."""

    def __init__(self, feedback: list[str], fresh: list[str], **config: Any) -> None:
        self.model = ScriptedModel(feedback)
        self.samples = list(fresh)
        self.sandbox = FakeSandbox()
        self.events: list[Event] = []
        self.config = TaskConfig(**{"max_iterations": 6, "stuck_after": 2, **config})
        self.budget = Budget(self.config)

    def record(self, event: Event) -> None:
        self.events.append(event)

    def fresh(self, temperature: float, seed: int) -> dict[str, str]:
        assert temperature > 0  # restarts sample; the first candidate is not drawn here
        return {"m.py": self.samples.pop(0) if len(self.samples) > 1 else self.samples[0]}

    def __call__(self, first: str) -> LoopOutcome:
        loop = Loop(
            NewJob("write f", {}, self.fresh, expected_tests(TESTS)),
            Caller(self.model, self.budget, self.record),
            Bench(self.sandbox, TESTS),  # type: ignore[arg-type]
            Policy(self.config),
            self.record,
        )
        return loop.run({"m.py": first})

    def modes(self) -> list[str]:
        return [e.mode for e in self.events if isinstance(e, ModeSwitch)]


def test_green_on_the_first_candidate_asks_nothing() -> None:
    run = Run([], ["unused"])
    outcome = run(code("GOOD"))
    assert (outcome.green, outcome.exit_reason, outcome.iterations) == (True, "green", 1)
    assert run.model.calls == [] and run.sandbox.test_runs == 1


def test_feedback_that_applies_goes_green() -> None:
    run = Run([_edit("BAD", "GOOD")], ["unused"])
    outcome = run(code("BAD"))
    assert (outcome.exit_reason, outcome.iterations) == ("green", 2)
    assert outcome.best is not None and "GOOD" in outcome.best.files["m.py"]


def test_feedback_that_stops_paying_turns_to_restarts_and_back_on_a_new_best() -> None:
    run = Run([_edit("BAD", "BAD2"), _edit("HALF", "GOOD")], [code("HALF")])
    outcome = run(code("BAD"))
    assert outcome.exit_reason == "green"
    # first best -> feedback; its edit is no better -> restart; the sample is a new best
    # -> feedback again, which goes green
    assert run.modes() == ["feedback", "restart", "feedback"]
    assert sum(isinstance(e, Restart) for e in run.events) == 1


def test_a_reply_with_no_edit_turns_to_restarts_at_once() -> None:
    run = Run(["I would check the divisibility.", _edit("HALF", "GOOD")], [code("HALF")])
    outcome = run(code("BAD"))
    assert outcome.exit_reason == "green"
    restarts = [e for e in run.events if isinstance(e, Restart)]
    assert len(restarts) == 1 and restarts[0].temperature > 0


def test_the_best_candidate_is_kept_when_later_ones_are_worse() -> None:
    run = Run([_edit("HALF", "BAD")], [code("worse")],
              max_iterations=3)  # fmt: skip
    outcome = run(code("HALF"))
    assert outcome.exit_reason in ("iterations", "stuck")
    assert outcome.best is not None and "HALF" in outcome.best.files["m.py"]
    assert outcome.best.report.passed == 1


def test_replies_with_no_edit_end_malformed_and_are_counted() -> None:
    run = Run(["I would check the divisibility."] * 5, [code("HALF")], max_malformed=2)
    outcome = run(code("BAD"))
    assert outcome.exit_reason == "malformed"
    assert run.budget.malformed == 2


def test_edits_that_change_nothing_count_as_malformed() -> None:
    miss = _edit("no such line", "GOOD")
    run = Run([miss] * 5, [code("BAD")], max_malformed=2, stuck_after=5)
    outcome = run(code("BAD"))
    assert outcome.exit_reason == "malformed" and run.budget.malformed == 2
    applies = [e for e in run.events if isinstance(e, Apply)]
    assert applies and applies[0].failed  # the precise failure is fed back


def test_the_same_code_again_is_stuck() -> None:
    run = Run(["no edit"] * 5, [code("BAD")], max_malformed=9)
    outcome = run(code("BAD"))
    assert outcome.exit_reason == "stuck"
    assert run.sandbox.test_runs == 1  # code already tested is not run again


def test_the_iteration_budget_ends_the_run() -> None:
    samples = [code(f"BAD{i}") for i in range(10)]
    run = Run(["no edit"] * 20, samples, max_iterations=3, max_malformed=20)
    outcome = run(code("BAD"))
    assert (outcome.exit_reason, outcome.iterations) == ("iterations", 3)


def test_the_token_budget_ends_the_run() -> None:
    run = Run(["no edit " * 200] * 5, [code("BAD")], max_tokens=50)
    assert run(code("BAD")).exit_reason == "tokens"


def test_a_tampered_report_stops_the_run_and_is_never_the_best() -> None:
    run = Run([_edit("BAD", "FORGE GOOD")], ["unused"])
    outcome = run(code("BAD"))
    assert (outcome.green, outcome.exit_reason) == (False, "tampered")
    assert outcome.best is not None and "FORGE" not in outcome.best.files["m.py"]
    assert any(isinstance(e, Tampered) for e in run.events)


@pytest.mark.parametrize("reply", ["", "```python\n```"])
def test_an_empty_reply_is_malformed_not_a_crash(reply: str) -> None:
    run = Run([reply] * 4, [code("BAD")], max_malformed=1)
    assert run(code("BAD")).exit_reason == "malformed"


def test_the_result_counts_every_unusable_reply_its_trajectory_holds(tmp_path: Path) -> None:
    """Counts come from events, once: samples with no code (each a `malformed` event, the
    restart charged once) and edits that change nothing are all in `result.malformed`;
    the budget's own charge is `malformed_charged`."""
    run_dir = RunDir(tmp_path, "r1")
    result = RunResult("r1", str(run_dir.path), "scripted")
    model = ScriptedModel(["I would check the divisibility.", _edit("nope", "x")] * 4)
    config = TaskConfig(max_iterations=9, stuck_after=9, max_malformed=3)
    budget = Budget(config)
    with recorded_run(run_dir, result, None) as record:
        record.count_from(budget)

        def fresh(temperature: float, seed: int) -> dict[str, str]:
            record(Malformed(path="m.py", reply="no code here"))
            return {"m.py": ""}

        loop = Loop(
            NewJob("write f", {}, fresh, expected_tests(TESTS)),
            Caller(model, budget, record),
            Bench(FakeSandbox(), TESTS),  # type: ignore[arg-type]
            Policy(config, candidates=4),
            record,
        )
        outcome = loop.run({"m.py": code("BAD")})
    events = read_events(run_dir.trajectory_path, strict=True)
    unusable_events = sum(unusable(e.event) for e in events)
    saved = read_result(run_dir.path)
    assert outcome.exit_reason == "malformed" and saved is not None
    assert saved["malformed"] == unusable_events == result.malformed
    assert saved["malformed_charged"] == budget.malformed == 3
    assert result.malformed > result.malformed_charged
