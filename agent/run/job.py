"""What a command asks of the loop: the `Job` that `greenloop new` and `greenloop fix`
each implement (`agent.new.job.NewJob`, `agent.fix.job.FixJob`).

    loop = Loop(NewJob(...), ask, Bench(sandbox, tests, ...), Policy(limits), record)

The loop owns the policy (test, keep the best, feedback or restart, stop); the job
owns what differs between the commands: the feedback request for the best candidate,
a fresh sample, what counts as green, and which tests should have run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agent.model import Message
from sandbox.base import TestReport

__all__ = ["Job"]


class Job(Protocol):
    """One command's part in the red-to-green loop."""

    def feedback(
        self, files: Mapping[str, str], report: TestReport, instructions: str, refused: str
    ) -> list[Message]:
        """The request for edits to `files` from their `report` (`instructions`: the edit
        format's; `refused`: why the last edits did not apply, or "")."""
        ...

    def fresh(self, temperature: float, seed: int) -> dict[str, str]:
        """A fresh sample of the files (a restart), drawn with `seed`."""
        ...

    def is_green(self, report: TestReport) -> bool:
        """Whether `report` is the run's goal."""
        ...

    def expected(self, report: TestReport) -> TestReport:
        """`report` with the tests that should have run and did not, as errors."""
        ...
