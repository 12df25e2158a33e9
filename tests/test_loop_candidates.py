"""The loop's two ways forward, with a small fake sandbox and the scripted model (no engine).

A candidate's `solution.py` says how many of the three tests it passes
(`PASSES = n`); the fake sandbox reports that. Fresh samples are asked with
their seed in the prompt, so the scripted model can answer by seed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import pytest

from agent.model import Message, ScriptedModel
from agent.new.job import NewJob
from agent.run.bench import Bench
from agent.run.budget import Budget, Caller
from agent.run.candidates import Candidates, ConfirmAlone
from agent.run.events import Event, ModeSwitch, Restart
from agent.run.loop import STALL_AFTER, Loop, LoopOutcome, Policy
from agent.run.moves import TRIAL, Moves, Ways, pooled
from agent.run.verdict import expected_tests
from agent.task import TaskConfig
from sandbox.base import ExecResult, Suite, TestCase, TestReport

TESTS = {"tests/test_s.py": "def test_a(): ...\ndef test_b(): ...\ndef test_c(): ...\n"}
_PASSES = re.compile(r"PASSES = (\d)")
_SEED = re.compile(r"sample with seed (\d+)")


def code(passes: int, salt: str = "") -> str:
    return f"PASSES = {passes}  # {salt}\n"


def report_for(files: Mapping[str, str]) -> TestReport:
    found = _PASSES.search(files.get("solution.py", ""))
    passes = int(found.group(1)) if found else 0
    cases = tuple(
        TestCase(f"tests/test_s.py::test_{name}", "passed" if i < passes else "failed", "boom")
        for i, name in enumerate("abc")
    )
    return TestReport(tests=cases)


class FakeSandbox:
    """Judges `solution.py` by its PASSES line; counts the runs alone and together."""

    def __init__(self, lie_green_together: bool = False) -> None:
        self.files: dict[str, str] = {}
        self.alone = 0
        self.together_calls: list[int] = []
        self.lie_green_together = lie_green_together

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def write(self, files: Mapping[str, str | bytes]) -> None:
        self.files.update({p: t if isinstance(t, str) else t.decode() for p, t in files.items()})

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        return ExecResult(output="", exit_code=0)

    def reset(self) -> None:
        self.files.clear()

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        return {}

    def read_optional(self, rel: str) -> bytes | None:
        return None

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        assert TESTS.items() <= self.files.items(), "the pristine tests are written with the code"
        self.alone += 1
        return report_for(self.files)

    def test_together(
        self,
        sandbox: Any,
        projects: Sequence[Mapping[str, str]],
        args: Sequence[str],
        t: float,
        suites: Sequence[Suite] = (),
    ) -> list[TestReport]:
        assert sandbox is self
        self.together_calls.append(len(projects))
        if self.lie_green_together:
            return [report_for({"solution.py": code(3)}) for _ in projects]
        return [report_for(p) for p in projects]


def fresh_by_seed(ask: Caller) -> Any:
    """A sample as the generator makes one: an unusable reply is no code (and charges
    nothing: the restart counts it)."""

    def fresh(temperature: float, seed: int) -> dict[str, str]:
        prompt = [Message.user(f"Write solution.py: a sample with seed {seed}")]
        reply = ask(prompt, "file:solution.py", temperature=temperature, seed=seed)
        return {"solution.py": reply}

    return fresh


def responder(
    by_seed: Mapping[int, int],
    feedback: str = "no edit here",
    unusable: frozenset[int] = frozenset(),
) -> Any:
    """Fresh samples pass `by_seed[seed]` tests (0 when unlisted), hold no code at all for
    seeds in `unusable`; feedback says `feedback`."""

    def reply(messages: Sequence[Message]) -> str:
        found = _SEED.search(messages[-1].content)
        if found is None:
            return feedback
        seed = int(found.group(1))
        if seed in unusable:
            return ""
        return f"```python\n{code(by_seed.get(seed, 0), f'seed {seed}')}```\n"

    return reply


def run_loop(
    model: ScriptedModel,
    sandbox: FakeSandbox,
    first: int = 0,
    candidates: int = 3,
    prior: Ways | None = None,
    **config: Any,
) -> tuple[LoopOutcome, list[Event]]:
    events: list[Event] = []
    task_config = TaskConfig(**config)
    ask = Caller(model, Budget(task_config), events.append)
    loop = Loop(
        NewJob("Write solution.py.", {}, fresh_by_seed(ask), expected_tests(TESTS)),
        ask,
        Bench(sandbox, TESTS, together=sandbox.test_together),
        Policy(task_config, candidates, prior=prior),
        events.append,
    )
    return loop.run({"solution.py": code(first, "first")}), events


def test_restart_tests_several_fresh_samples_at_once_and_keeps_the_best() -> None:
    sandbox = FakeSandbox()
    model = ScriptedModel(responder({1: 1, 2: 3, 3: 2}))
    outcome, events = run_loop(model, sandbox)
    assert outcome.green and outcome.best is not None
    assert outcome.best.origin == "restart" and outcome.best.seed == 2
    assert sandbox.together_calls == [3]  # one exec for the three samples
    assert sandbox.alone == 2  # the first candidate, then the green confirmed alone
    assert outcome.candidates == 4
    assert outcome.iterations == 3  # the first, the three together, the green alone
    assert outcome.ways == {"feedback": {"tried": 1, "paid": 0}, "restart": {"tried": 1, "paid": 1}}
    restarts = [e for e in events if isinstance(e, Restart)]
    assert restarts[0].seeds == (1, 2, 3)
    results = next(e.results for e in events if isinstance(e, Candidates))
    assert [(r.seed, r.passed) for r in results] == [(1, 1), (2, 3), (3, 2)]


def test_the_same_seeds_give_the_same_run() -> None:
    def once() -> list[Any]:
        model = ScriptedModel(responder({5: 1, 9: 3}))
        outcome, events = run_loop(model, FakeSandbox(), max_iterations=8)
        seeds = [call.opts.get("seed") for call in model.calls if "seed" in call.opts]
        return [outcome.green, outcome.best and outcome.best.seed, sorted(seeds), len(events)]

    first = once()
    assert first[0] is True and first[1] == 9
    assert once() == first


def test_a_green_seen_only_together_must_pass_alone() -> None:
    sandbox = FakeSandbox(lie_green_together=True)  # together claims green, alone says red
    model = ScriptedModel(responder({}))
    outcome, events = run_loop(model, sandbox, max_iterations=4)
    assert not outcome.green
    assert outcome.exit_reason in ("iterations", "stuck")
    confirms = [e for e in events if isinstance(e, ConfirmAlone)]
    assert confirms and not any(c.green for c in confirms)


def test_feedback_that_pays_is_kept_and_no_restart_is_drawn() -> None:
    edit = "solution.py\n<<<<<<< SEARCH\nPASSES = 1  # first\n=======\nPASSES = 3\n"
    edit += ">>>>>>> REPLACE\n"
    model = ScriptedModel(responder({}, feedback=edit))
    sandbox = FakeSandbox()
    outcome, _ = run_loop(model, sandbox, first=1)
    assert outcome.green and outcome.best is not None and outcome.best.origin == "feedback"
    assert outcome.ways["feedback"] == {"tried": 1, "paid": 1}
    assert outcome.ways["restart"]["tried"] == 0 and sandbox.together_calls == []


def test_feedback_that_never_pays_is_not_asked_again_after_a_restart_improves() -> None:
    # Every restart improves a little (seed 3k+1 passes k tests), feedback never gives an edit.
    model = ScriptedModel(responder({1: 1, 4: 2}))
    outcome, events = run_loop(model, FakeSandbox(), max_iterations=5)
    assert outcome.ways["feedback"]["tried"] == TRIAL
    assert outcome.ways["restart"]["paid"] == 2
    modes = [e.mode for e in events if isinstance(e, ModeSwitch)]
    assert modes[-1] == "restart"


def test_samples_drawn_before_the_budget_ran_out_are_still_tested() -> None:
    sandbox = FakeSandbox()
    model = ScriptedModel(responder({1: 2, 2: 2, 3: 2}))
    # The feedback request (~267 tokens) and one draw (~19) fit; the other two overrun.
    outcome, _ = run_loop(model, sandbox, max_tokens=300)
    assert outcome.exit_reason == "tokens"
    assert sandbox.alone == 2 and sandbox.together_calls == []  # the one drawn, alone
    assert outcome.best is not None and outcome.best.report.passed == 2


@pytest.mark.parametrize("candidates", [1, 3])
def test_stuck_when_restarts_only_repeat_what_failed(candidates: int) -> None:
    model = ScriptedModel(lambda messages: f"```python\n{code(0, 'same')}```\n")
    sandbox = FakeSandbox()
    outcome, _ = run_loop(model, sandbox, candidates=candidates, max_iterations=10)
    assert outcome.exit_reason == "stuck"
    assert outcome.candidates == 2  # the first and the one distinct restart sample


def test_unusable_samples_among_usable_ones_do_not_end_the_run_as_malformed() -> None:
    # Two of each restart's three samples hold no code; feedback gives no edit either.
    unusable = frozenset(s for s in range(1, 40) if s % 3 != 0)
    model = ScriptedModel(responder({9: 3}, unusable=unusable))
    outcome, _ = run_loop(model, FakeSandbox(), max_iterations=10, max_malformed=3)
    assert outcome.green and outcome.best is not None and outcome.best.seed == 9


def test_restarts_that_bring_no_code_at_all_count_once_each() -> None:
    model = ScriptedModel(responder({}, unusable=frozenset(range(1, 40))))
    outcome, _ = run_loop(model, FakeSandbox(), max_iterations=10, max_malformed=3)
    # The feedback reply (1) and two restarts of three empty samples (1 each) spend it.
    assert outcome.exit_reason == "malformed"
    assert outcome.ways["restart"]["tried"] == 2


# --- the policy: the budget goes where it pays ---------------------------------------


_LINE = re.compile(r"^PASSES = (\d).*$", re.MULTILINE)


def _stepwise_feedback() -> Any:
    """Feedback that raises the pass count by one each time; fresh samples pass nothing."""

    def reply(messages: Sequence[Message]) -> str:
        text = messages[-1].content
        if _SEED.search(text):
            return "```python\nPASSES = 0  # fresh\n```\n"
        line = _LINE.search(text)
        assert line is not None, "the feedback prompt shows the code"
        new = f"PASSES = {int(line.group(1)) + 1}  # fed"
        return f"solution.py\n<<<<<<< SEARCH\n{line.group(0)}\n=======\n{new}\n>>>>>>> REPLACE\n"

    return reply


def test_when_feedback_pays_and_samples_do_not_the_budget_goes_to_feedback() -> None:
    outcome, _ = run_loop(ScriptedModel(_stepwise_feedback()), FakeSandbox(), max_iterations=12)
    assert outcome.green and outcome.best is not None and outcome.best.origin == "feedback"
    assert outcome.ways["feedback"] == {"tried": 3, "paid": 3}
    assert outcome.ways["restart"]["tried"] == 0


def test_when_samples_pay_and_feedback_does_not_the_budget_goes_to_samples() -> None:
    # Seeds 3k+1 pass k+1 tests (one more each restart); feedback gives edits that change
    # nothing the tests see.
    lame = "solution.py\n<<<<<<< SEARCH\nPASSES\n=======\nPASSES\n>>>>>>> REPLACE\n"
    model = ScriptedModel(responder({1: 1, 4: 2, 7: 3}, feedback=lame))
    outcome, _ = run_loop(model, FakeSandbox(), max_iterations=12)
    assert outcome.green and outcome.best is not None and outcome.best.origin == "restart"
    assert outcome.ways["restart"] == {"tried": 3, "paid": 3}
    assert outcome.ways["feedback"]["tried"] <= TRIAL  # its trial, then no more


def test_when_neither_pays_the_run_ends_early_and_gives_its_time_back() -> None:
    model = ScriptedModel(responder({}))  # no sample passes anything; feedback gives no edit
    outcome, _ = run_loop(model, FakeSandbox(), first=1, max_iterations=12)
    assert not outcome.green and outcome.exit_reason == "no-progress"
    assert outcome.iterations < 12 and all(w["tried"] for w in outcome.ways.values())


def test_the_batch_prior_sends_a_new_task_where_the_others_found_pay() -> None:
    # Earlier tasks of the batch: feedback never paid, restarts often did.
    prior = pooled([{"feedback": {"tried": 20, "paid": 0}, "restart": {"tried": 10, "paid": 6}}])
    model = ScriptedModel(responder({1: 3}))
    outcome, events = run_loop(model, FakeSandbox(), max_iterations=6, prior=prior)
    assert outcome.green and outcome.ways["feedback"]["tried"] == 0
    assert next(e.mode for e in events if isinstance(e, ModeSwitch)) == "restart"


def test_a_prior_counts_for_at_most_a_few_tries_against_the_run_own() -> None:
    moves = Moves({"feedback": {"tried": 1000, "paid": 0}, "restart": {"tried": 0, "paid": 0}})
    assert moves.choose(improved=False, last=None) == "restart"
    for _ in range(STALL_AFTER):
        moves.tried("restart")
    moves.tried("feedback")
    moves.paid("feedback")
    assert moves.choose(improved=False, last=None) == "feedback"


def test_a_call_budget_ends_the_run_at_its_last_call_and_keeps_the_best() -> None:
    # A restart's four samples start together: the budget counts each as it begins, so a
    # restart that would pass the budget draws only what is left, and that is tested.
    model = ScriptedModel(responder({2: 2}))
    outcome, _ = run_loop(model, FakeSandbox(), first=1, candidates=4, max_calls=3,
                          max_iterations=20, max_malformed=20)  # fmt: skip
    assert outcome.exit_reason == "calls" and len(model.calls) == 3
    assert outcome.best is not None and outcome.best.report.passed == 2  # seed 2 was drawn
