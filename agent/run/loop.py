"""The red-to-green loop: test, then either edit from feedback or restart fresh.

    step() = test -> (green? stop) -> feedback edits | fresh restart

Strong models use test feedback well; small ones gain nothing from it and real
ground from fresh samples (see DESIGN.md). So the loop starts with feedback,
turns to restarts when feedback stops raising the pass count, goes back to
feedback when a restart sets a new best, and always keeps the best candidate:
a run never ends worse than its best state. Stops are exceptions with names.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from agent.edits import FORMATS, EditFormat, render_failures
from agent.model import Message
from agent.run.budget import Caller, LimitsExceeded
from agent.run.candidates import candidate_change, failure_details
from agent.run.events import Record
from agent.run.prompts import feedback_messages
from agent.run.replies import edit_reply
from agent.run.runner_files import keep_trusted
from agent.task import TaskConfig
from sandbox.base import Sandbox, TestReport

__all__ = ["Candidate", "Green", "Loop", "LoopOutcome"]

log = logging.getLogger(__name__)

Prompt = Callable[[Mapping[str, str], TestReport, str, str], list[Message]]
"""(files, report, edit instructions, refused edits) -> the feedback request."""
Mode = Literal["feedback", "restart"]
RESTART_TEMPERATURE = 0.8


class Green(Exception):
    """The tests pass."""


@dataclass(frozen=True)
class Candidate:
    """A set of generated files and how they did."""

    files: dict[str, str]
    report: TestReport
    iteration: int

    @property
    def score(self) -> tuple[int, int]:
        return (self.report.passed, -len(self.report.failing_ids))


def _digest(files: Mapping[str, str]) -> str:
    blob = "\0".join(f"{p}\0{t}" for p, t in sorted(files.items()))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class LoopOutcome:
    """How the loop ended."""

    green: bool
    exit_reason: str
    iterations: int
    best: Candidate | None


class Loop:
    """Drive candidates to green in a warm sandbox. One instance per run."""

    def __init__(
        self,
        *,
        ask: Caller,
        sandbox: Sandbox,
        spec: str,
        tests: Mapping[str, str],
        fresh: Callable[[float], dict[str, str]],
        config: TaskConfig,
        record: Record,
        test_args: Sequence[str] = (),
        edit_format: str = "search-replace",
        prompt: Prompt | None = None,
        is_green: Callable[[TestReport], bool] | None = None,
        trusted: Mapping[str, str] | None = None,
        allow_runner: bool = False,
        expected: Callable[[TestReport], TestReport] | None = None,
    ) -> None:
        """`prompt` replaces the spec-based feedback request (`greenloop fix` sends a repo
        map); `is_green` replaces "every test passed" (fix: the targets pass and nothing
        that passed before fails). Files that configure the test runner are taken only
        from `trusted` (the task's or repository's own) unless `allow_runner`;
        `expected` marks the tests that should have run and did not."""
        self.ask, self.sandbox, self.spec = ask, sandbox, spec
        self.tests = dict(tests)
        self.fresh, self.config, self.record = fresh, config, record
        self.test_args = tuple(test_args)
        self.format: EditFormat = FORMATS[edit_format]
        self.prompt = prompt
        self.is_green = is_green or (lambda report: report.green)
        self.trusted = dict(trusted or {})
        self.allow_runner = allow_runner
        self.expected = expected or (lambda report: report)
        self.iteration = 0
        self.mode: Mode = "feedback"
        self.best: Candidate | None = None
        self._refused = ""
        self._seen: dict[str, TestReport] = {}
        self._unapplied = 0
        self._repeats = 0
        self._last: dict[str, str] = {}

    def seed(self, files: dict[str, str], report: TestReport) -> None:
        """Start from files already tested elsewhere (a baseline run): the first best."""
        self.best = Candidate(dict(files), report, 0)
        self._seen[_digest(files)] = report
        self._last = dict(files)

    def run(self, files: dict[str, str] | None) -> LoopOutcome:
        """Test `files` (None: start from the seed), then improve until green or out of budget."""
        reason = "iterations"
        pending: dict[str, str] | None = files
        try:
            while True:
                pending = self.step(pending)
        except Green:
            reason = "green"
        except LimitsExceeded as stop:
            reason = stop.reason
        return LoopOutcome(
            green=reason == "green",
            exit_reason=reason,
            iterations=self.iteration,
            best=self.best,
        )

    def step(self, files: dict[str, str] | None) -> dict[str, str] | None:
        """Test the candidate (if there is a new one), keep the best, make the next one."""
        self.ask.budget.check()
        if files is not None:
            self.judge(self.test(files))
        assert self.best is not None
        if self.mode == "feedback":
            return self.feedback(self.best)
        return self.restart()

    def judge(self, candidate: Candidate) -> None:
        """Keep the best; stop on green, tampered or stuck; choose feedback or restart next."""
        if candidate.report.tampered:
            self.record("tampered", iteration=candidate.iteration, why=candidate.report.tampered)
            raise LimitsExceeded("tampered", candidate.report.tampered)
        improved = self.best is None or candidate.score > self.best.score
        if improved:
            self.best = candidate
        if self.is_green(candidate.report):
            raise Green
        if self._repeats >= self.config.stuck_after:
            raise LimitsExceeded("stuck", f"the same code and failures {self._repeats} times")
        if self.iteration >= self.config.max_iterations:
            raise LimitsExceeded("iterations", f"{self.iteration} test runs")
        self.mode = "feedback" if improved else "restart"
        self.record("mode", mode=self.mode, improved=improved, iteration=self.iteration)

    def test(self, files: dict[str, str]) -> Candidate:
        """Write the candidate and the pristine acceptance tests, then run them.

        Code already tested is not run again: its report is reused and the repeat
        counts towards "stuck" (the model keeps producing what already failed).
        """
        if not self.allow_runner:
            files, refused = keep_trusted(files, self.trusted, self.tests)
            if refused:
                self.record("refused", files=refused, iteration=self.iteration)
        digest = _digest(files)
        if digest in self._seen:
            self._repeats += 1
            self.record("repeat", repeats=self._repeats, iteration=self.iteration)
            return Candidate(dict(files), self._seen[digest], self.iteration)
        self._repeats = 0
        self.iteration += 1
        self.record("candidate", iteration=self.iteration, **candidate_change(self._last, files))
        self._last = dict(files)
        self.sandbox.run(["find", ".", "-mindepth", "1", "-delete"], 30)
        self.sandbox.write({**files, **self.tests})
        report = self.expected(self.sandbox.run_tests(self.test_args, timeout=self.config.timeout))
        self._seen[digest] = report
        self.record(
            "test",
            iteration=self.iteration,
            passed=report.passed,
            failed=report.failed,
            errors=report.errors,
            timed_out=report.timed_out,
            failing=sorted(report.failing_ids),
            failures=failure_details(report),
            note=report.note,
            tampered=report.tampered,
            duration=round(report.duration, 3),
        )
        return Candidate(dict(files), report, self.iteration)

    def feedback(self, best: Candidate) -> dict[str, str] | None:
        """Ask for edits to the best candidate from its failures; apply what applies."""
        if self.prompt is not None:
            messages = self.prompt(best.files, best.report, self.format.instructions, self._refused)
        else:
            messages = feedback_messages(
                self.spec, best.files, best.report, self.format.instructions, self._refused
            )
        reply = self.ask(
            messages, "feedback", temperature=0.0, **edit_reply(best.files, self.format.name)
        )
        edits = self.format.parse(reply) or FORMATS["whole"].parse(reply)
        usable = [e for e in edits if not e.problem]
        if not usable:
            self._refused = "Your reply had no edit in the required format."
            self.record("apply", applied=0, failed=[], malformed=True)
            self.ask.budget.bad_reply()
            self.mode = "restart"  # feedback that gives nothing is not paying off
            return None
        result = self.format.apply(
            {**best.files, **self.tests},
            edits,
            protected=frozenset(self.tests),
            allow_runner=self.allow_runner,
        )
        self._refused = render_failures(result.failed) if result.failed else ""
        self.record(
            "apply",
            applied=len(result.applied),
            failed=[{"path": f.path, "reason": f.reason} for f in result.failed],
            changed=sorted(result.changed),
        )
        if not result.changed:
            self.ask.budget.bad_reply()
            # One more try with the precise failures; a second miss means feedback
            # is not paying off.
            self._unapplied += 1
            if self._unapplied >= 2 or not result.failed:
                self.mode = "restart"
            return None
        self._unapplied = 0
        return {p: t for p, t in result.files.items() if p not in self.tests}

    def restart(self) -> dict[str, str]:
        """A fresh sample from the clean prompt at a higher temperature."""
        self._refused = ""
        self._unapplied = 0
        self.record("restart", iteration=self.iteration, temperature=RESTART_TEMPERATURE)
        return self.fresh(RESTART_TEMPERATURE)
