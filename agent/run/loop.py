"""The red-to-green loop: test, then either edit from feedback or restart fresh.

    step() = test -> (green? stop) -> feedback edits | fresh restart

Strong models use test feedback well; small ones gain nothing from it and real
ground from fresh samples (see DESIGN.md). So the way forward is learned, not
fixed (`agent.run.moves`): feedback that just raised the best is asked again, a
best that already had its feedback gets fresh samples, and otherwise the way
likelier to pay is taken, judged from this run's tries and what the batch's
finished tasks saw (a way tried less than twice gets the benefit of the doubt,
feedback comes first on a tie). A run that gets no better in
`STALL_AFTER` rounds, both ways tried, ends early and gives its time back. The best
candidate is always kept: a run never ends worse than its best state. Stops are
exceptions with names.
What differs between `new` and `fix` (the feedback request, a fresh sample, what
counts as green, the tests expected) comes in a `Job` (`agent.run.job`).

A restart draws `candidates` fresh samples at once (each with its own seed,
recorded), tests them together in one sandbox exec (each in its own folder),
and keeps the best; a green found that way is confirmed alone before it counts.
The outcome says which way forward paid: how often each was tried and how
often it raised the best (`RunResult.ways`, the batch's prior for its next tasks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent.edits import FORMATS, EditFormat, apply_reply, render_failures
from agent.run.bench import Bench, digest
from agent.run.budget import Caller, LimitsExceeded
from agent.run.candidates import Candidates, ConfirmAlone, TestRun, candidate_change
from agent.run.events import Apply, ModeSwitch, Record, Refused, Repeat, Restart, Tampered
from agent.run.job import Job
from agent.run.moves import MOVES, Move, Moves, Ways
from agent.run.replies import edit_reply
from agent.run.samples import draw_at_once, report_summary
from agent.task import TaskConfig
from sandbox.base import TestReport

__all__ = ["Candidate", "Green", "Loop", "LoopOutcome", "Policy"]

log = logging.getLogger(__name__)

Mode = Move
Origin = Literal["first", "feedback", "restart"]
RESTART_TEMPERATURE = 0.8
STALL_AFTER = 4
"""Test rounds in a row without a better candidate, both ways tried, that end a run early:
it gives its time back (to the batch's other tasks) instead of spending its budget."""


class Green(Exception):
    """The tests pass."""


@dataclass(frozen=True)
class Candidate:
    """A set of generated files and how they did."""

    files: dict[str, str]
    report: TestReport
    iteration: int
    origin: Origin = "first"
    seed: int | None = None

    @property
    def score(self) -> tuple[int, int]:
        return (self.report.passed, -len(self.report.failing_ids))


@dataclass(frozen=True)
class LoopOutcome:
    """How the loop ended."""

    green: bool
    exit_reason: str
    iterations: int
    best: Candidate | None
    candidates: int = 0
    """Candidates tested (each fresh sample of a restart counts)."""
    ways: dict[str, dict[str, int]] = field(default_factory=dict)
    """{"feedback": {"tried", "paid"}, "restart": {...}}: requests made, and how many
    of them raised the best."""


@dataclass(frozen=True)
class Policy:
    """The loop's knobs: the task's budgets, fresh samples per restart, the edit format."""

    limits: TaskConfig
    candidates: int = 1
    """Fresh samples per restart, tested at once (1: one sample, alone)."""
    edit_format: str = "search-replace"
    prior: Ways | None = None
    """What each way forward paid in the batch's finished tasks (`agent.run.moves`)."""


class Loop:
    """Drive candidates to green on a bench. One instance per run: the policy is here, the
    mechanics of a test run are the bench's (`agent.run.bench`)."""

    def __init__(self, job: Job, ask: Caller, bench: Bench, policy: Policy, record: Record) -> None:
        """`job`: the command's feedback request, fresh samples, green and expected tests
        (`agent.run.job`)."""
        self.job, self.ask, self.bench, self.record = job, ask, bench, record
        self.config = policy.limits
        self.format: EditFormat = FORMATS[policy.edit_format]
        self.candidates = max(1, policy.candidates)
        self.iteration = 0
        self.mode: Mode = "feedback"
        self.best: Candidate | None = None
        self._refused = ""
        self._unapplied = 0
        self._repeats = 0
        self.tested = 0
        self.moves = Moves(policy.prior)
        self.ways = self.moves.counts
        """Per way forward: requests tried, and how many raised the best (this run's own)."""
        self._stall = 0
        self._fed: Candidate | None = None
        """The best candidate that last had its feedback."""
        self._origin: Origin = "first"
        self._seed = 0
        self._last: dict[str, str] = {}

    def seed(self, files: dict[str, str], report: TestReport) -> None:
        """Start from files already tested elsewhere (a baseline run): the first best."""
        self.best = Candidate(dict(files), report, 0)
        self.bench.remember(files, report)
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
            candidates=self.tested,
            ways={w: dict(counts) for w, counts in self.ways.items()},
        )

    def step(self, files: dict[str, str] | None) -> dict[str, str] | None:
        """Test the candidate (if there is a new one), keep the best, make the next one."""
        self.ask.budget.check()
        if files is not None:
            self.judge(self.test(files))
        assert self.best is not None
        if self.mode == "feedback":
            return self.feedback(self.best)
        best, stop = self.restart()
        self.judge(best)  # a budget spent while drawing still keeps (or stops on) the best
        if stop is not None:
            raise stop
        return None

    def judge(self, candidate: Candidate) -> None:
        """Keep the best; stop on green, tampered or stuck; choose feedback or restart next."""
        if candidate.report.tampered:
            self.record(Tampered(iteration=candidate.iteration, why=candidate.report.tampered))
            raise LimitsExceeded("tampered", candidate.report.tampered)
        improved = self.best is None or candidate.score > self.best.score
        if improved:
            self.best = candidate
            if candidate.origin != "first":
                self.moves.paid(candidate.origin)
        if self.job.is_green(candidate.report):
            raise Green
        if self._repeats >= self.config.stuck_after:
            raise LimitsExceeded("stuck", f"the same code and failures {self._repeats} times")
        if self.iteration >= self.config.max_iterations:
            raise LimitsExceeded("iterations", f"{self.iteration} test runs")
        self._stall = 0 if improved else self._stall + 1
        if self._stall >= STALL_AFTER and all(self.ways[m]["tried"] for m in MOVES):
            raise LimitsExceeded(
                "no-progress", f"{self._stall} rounds of both ways without a better candidate"
            )
        last = None if candidate.origin == "first" else candidate.origin
        self.mode = self.moves.choose(improved, last, fed=self.best is self._fed)
        self.record(ModeSwitch(mode=self.mode, improved=improved, iteration=self.iteration))

    def test(self, files: dict[str, str]) -> Candidate:
        """Write the candidate and the pristine acceptance tests, then run them.

        Code already tested is not run again: its report is reused and the repeat
        counts towards "stuck" (the model keeps producing what already failed).
        """
        files = self._screen(files)
        seen = self.bench.seen(files)
        if seen is not None:
            return self._repeat(files, seen, self._origin, None)
        return self._tested_alone(files, self._origin, None)

    def _screen(self, files: dict[str, str]) -> dict[str, str]:
        """`files` without the runner files the model may not write (unless allowed)."""
        kept, refused = self.bench.screen(files)
        if refused:
            self.record(Refused(files=refused, iteration=self.iteration))
        return kept

    def _repeat(
        self, files: dict[str, str], report: TestReport, origin: Origin, seed: int | None
    ) -> Candidate:
        self._repeats += 1
        self.record(Repeat(repeats=self._repeats, iteration=self.iteration))
        return Candidate(dict(files), report, self.iteration, origin, seed)

    def _tested_alone(self, files: dict[str, str], origin: Origin, seed: int | None) -> Candidate:
        self._repeats = 0
        self.tested += 1
        report = self._run_alone(files)
        self.bench.remember(files, report)
        return Candidate(dict(files), report, self.iteration, origin, seed)

    def _run_alone(self, files: Mapping[str, str]) -> TestReport:
        """One test run of `files` in the cleaned workspace: the verdict that counts."""
        self.iteration += 1
        self.record(candidate_change(self._last, files, iteration=self.iteration))
        self._last = dict(files)
        report = self.job.expected(self.bench.run_alone(files, self._focus()))
        self._record_test(report)
        return report

    def _focus(self) -> frozenset[str]:
        """The tests a run is about: those the best candidate so far fails."""
        return self.best.report.failing_ids if self.best is not None else frozenset()

    def _record_test(self, report: TestReport) -> None:
        self.record(TestRun.of(report, green=self.job.is_green(report), iteration=self.iteration))

    def feedback(self, best: Candidate) -> dict[str, str] | None:
        """Ask for edits to the best candidate from its failures; apply what applies."""
        messages = self.job.feedback(
            best.files, best.report, self.format.instructions, self._refused
        )
        self._fed = best
        self.moves.tried("feedback")
        reply = self.ask(
            messages, "feedback", temperature=0.0, **edit_reply(best.files, self.format.name)
        )
        applied = apply_reply(
            self.format, reply, best.files, self.bench.tests, allow_runner=self.bench.allow_runner
        )
        if not applied.usable:
            self._refused = "Your reply had no edit in the required format."
            self.record(Apply(applied=0, failed=(), malformed=True))
            self.ask.budget.bad_reply()
            self.mode = "restart"  # feedback that gives nothing is not paying off
            return None
        result = applied.result
        self._refused = render_failures(result.failed) if result.failed else ""
        self.record(
            Apply(
                applied=len(result.applied),
                failed=tuple({"path": f.path, "reason": f.reason} for f in result.failed),
                changed=tuple(sorted(result.changed)),
            )
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
        self._origin = "feedback"
        return applied.code

    def restart(self) -> tuple[Candidate, LimitsExceeded | None]:
        """Fresh samples at a higher temperature, tested at once: the best of them (a green
        confirmed alone), and the budget stop hit while drawing (what was drawn is tested)."""
        self._refused = ""
        self._unapplied = 0
        seeds = [self._seed + i + 1 for i in range(self.candidates)]
        self._seed = seeds[-1]
        self.moves.tried("restart")
        self.record(
            Restart(iteration=self.iteration, temperature=RESTART_TEMPERATURE, seeds=tuple(seeds))
        )
        drawn, stop = draw_at_once(self.job.fresh, seeds, RESTART_TEMPERATURE)
        drawn = [(seed, self._screen(f)) for seed, f in drawn if any(t.strip() for t in f.values())]
        if not drawn:  # no sample held any code: nothing to test, the best stays
            if stop is not None:
                raise stop
            # A restart is one try however many samples it draws (a sample with no code
            # charges nothing itself): one unusable reply when none of them held code.
            self.ask.budget.bad_reply()
            assert self.best is not None
            return self.best, None
        new: dict[str, tuple[int, dict[str, str]]] = {}
        for seed, files in drawn:
            if self.bench.seen(files) is None:
                new.setdefault(digest(files), (seed, files))
        if not new:
            if stop is not None:
                raise stop
            seed, files = drawn[0]
            seen = self.bench.seen(files)
            assert seen is not None  # every drawn sample was seen: that is why none is new
            return self._repeat(files, seen, "restart", seed), None
        if len(new) == 1:
            seed, files = next(iter(new.values()))
            return self._tested_alone(files, "restart", seed), stop
        self._repeats = 0
        return self._test_together(new), stop

    def _test_together(self, new: Mapping[str, tuple[int, dict[str, str]]]) -> Candidate:
        """Test the new samples in one exec, remember every report, return the best (a
        tampered one first: it stops the run, as it does tested alone)."""
        self.iteration += 1
        reports = self.bench.run_together([files for _, files in new.values()], self._focus())
        self.tested += len(reports)
        tested = [
            Candidate(files, self.job.expected(report), self.iteration, "restart", seed)
            for (seed, files), report in zip(new.values(), reports, strict=True)
        ]
        for candidate in tested:
            self.bench.remember(candidate.files, candidate.report)
        results = [report_summary(c.report, c.seed, self.job.is_green(c.report)) for c in tested]
        self.record(Candidates(iteration=self.iteration, results=tuple(results)))
        tampered = [c for c in tested if c.report.tampered]
        if tampered:
            return tampered[0]
        best = max(tested, key=lambda c: (self.job.is_green(c.report), c.score))
        if not self.job.is_green(best.report):
            return best
        confirmed = self._run_alone(best.files)  # its own clean run: the verdict that counts
        self.bench.remember(best.files, confirmed)
        self.record(ConfirmAlone(seed=best.seed, green=self.job.is_green(confirmed)))
        return Candidate(best.files, confirmed, self.iteration, "restart", best.seed)
