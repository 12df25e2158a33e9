"""`greenloop fix`'s part in the loop (`agent.run.job.Job`): the fix prompt (failures,
the code they run, the repo map), restarts from the untouched repository, green when
every target passes and every test that passed still does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from agent.edits import EditFormat, apply_reply
from agent.fix.baseline import Baseline, is_fixed
from agent.fix.context import Localizer
from agent.fix.js_localize import with_node_errors
from agent.fix.prompt import fix_messages
from agent.fix.repomap import estimate_tokens
from agent.languages import Language
from agent.model import Message
from agent.run.budget import Caller
from agent.run.replies import edit_reply
from agent.run.verdict import with_missing
from sandbox.base import TestReport

__all__ = ["FixJob", "FixPrompt", "fix_green"]


class FixPrompt:
    """The feedback request: failures, the code they run (localized), the map; within budget."""

    def __init__(
        self,
        baseline: Baseline,
        budget: int,
        localizer: Localizer,
        language: Language | None = None,
    ) -> None:
        self.baseline, self.budget, self.localizer = baseline, budget, localizer
        self.language = language
        """The repository's language, when not Python."""

    def __call__(
        self, files: Mapping[str, str], report: TestReport, instructions: str, refused: str
    ) -> list[Message]:
        targets, must_pass = self.baseline.targets, self.baseline.must_pass
        flaky = self.baseline.flaky  # not the model's business: leave them out
        report = replace(report, tests=tuple(t for t in report.tests if t.id not in flaky))
        if self.language is not None:  # node's runner: a file that did not load says why
            report = with_node_errors(report, [*files, *self.localizer.tests])
        language = self.language
        bare = fix_messages(report, targets, must_pass, "", instructions, refused, language)
        used = sum(estimate_tokens(m.content) for m in bare) + 8
        context = self.localizer(files, report, max(0, self.budget - used))
        return fix_messages(
            report, targets, must_pass, context.text, instructions, refused, language
        )


def fix_green(baseline: Baseline, report: TestReport) -> bool:
    """Green for a fix: every target passes and every test that passed still does."""
    passed = {t.id for t in report.tests if t.outcome == "passed"}
    kept = all(t in passed for t in baseline.must_pass)
    return not report.timed_out and kept and all(is_fixed(t, report) for t in baseline.targets)


@dataclass(frozen=True)
class FixJob:
    """The baseline, HEAD's code and tests, the prompt, and how a restart asks and edits."""

    ask: Caller
    prompt: FixPrompt
    baseline: Baseline
    code: Mapping[str, str]
    tests: Mapping[str, str]
    format: EditFormat
    allow_runner: bool = False

    def feedback(
        self, files: Mapping[str, str], report: TestReport, instructions: str, refused: str
    ) -> list[Message]:
        return self.prompt(files, report, instructions, refused)

    def fresh(self, temperature: float, seed: int) -> dict[str, str]:
        """A restart: a new sample for the untouched repository."""
        messages = self.prompt(self.code, self.baseline.report, self.format.instructions, "")
        reply = self.ask(
            messages,
            "restart",
            temperature=temperature,
            seed=seed,
            **edit_reply(self.code, self.format.name),
        )
        return apply_reply(
            self.format, reply, self.code, self.tests, allow_runner=self.allow_runner
        ).code

    def is_green(self, report: TestReport) -> bool:
        return fix_green(self.baseline, report)

    def expected(self, report: TestReport) -> TestReport:
        return with_missing(report, self.baseline.targets | self.baseline.must_pass)
