"""`greenloop new`'s part in the loop (`agent.run.job.Job`): feedback from the spec,
fresh samples from the generator on top of the starter files, green when every test
passes and every acceptance test ran."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from agent.model import Message
from agent.new.prompts import feedback_messages
from agent.run.samples import Fresh
from agent.run.verdict import with_missing
from sandbox.base import TestReport

__all__ = ["NewJob"]


@dataclass(frozen=True)
class NewJob:
    """The spec, the starter files, the generator of fresh files, the expected tests."""

    spec: str
    starter: Mapping[str, str]
    generate: Fresh
    expected_ids: Collection[str]
    """Node ids the acceptance tests define (`agent.run.verdict.expected_tests`)."""

    def feedback(
        self, files: Mapping[str, str], report: TestReport, instructions: str, refused: str
    ) -> list[Message]:
        return feedback_messages(self.spec, files, report, instructions, refused)

    def fresh(self, temperature: float, seed: int) -> dict[str, str]:
        return {**self.starter, **self.generate(temperature, seed)}

    def is_green(self, report: TestReport) -> bool:
        return report.green

    def expected(self, report: TestReport) -> TestReport:
        return with_missing(report, self.expected_ids)
