"""Fresh candidates for a restart: drawn at once, each with its own seed.

    drawn, stop = draw_at_once(fresh, seeds=[4, 5, 6], temperature=0.8)

`Fresh` makes one sample of the files from the clean prompt; `Together` tests
several projects at once (by default `sandbox.together.run_projects_together`:
one exec, each project in its own folder). A budget that runs out while the
samples are drawn keeps the ones already drawn: they were paid for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from agent.run.budget import LimitsExceeded
from agent.run.candidates import CandidateResult, TestRun
from sandbox.base import Sandbox, Suite, TestReport

__all__ = ["Drawn", "Fresh", "Together", "draw_at_once", "report_summary"]

Drawn = list[tuple[int, dict[str, str]]]
"""(seed, files) of each sample drawn."""
Together = Callable[
    [Sandbox, Sequence[Mapping[str, str]], Sequence[str], float, Sequence[Suite]], list[TestReport]
]
"""(sandbox, projects, pytest args, timeout) -> one report per project, tested at once."""


class Fresh(Protocol):
    """A fresh sample of the files from the clean prompt."""

    def __call__(self, temperature: float, seed: int) -> dict[str, str]: ...


def draw_at_once(
    fresh: Fresh, seeds: Sequence[int], temperature: float
) -> tuple[Drawn, LimitsExceeded | None]:
    """The samples for `seeds`, asked for at once (the model's own limit queues them),
    and the budget stop one of them hit, if any (then some may be missing, or all)."""

    def draw(seed: int) -> tuple[int, dict[str, str]] | LimitsExceeded:
        try:
            return seed, fresh(temperature, seed)
        except LimitsExceeded as stop:
            return stop

    with ThreadPoolExecutor(max_workers=max(1, len(seeds))) as pool:
        results = list(pool.map(draw, seeds))
    drawn = [r for r in results if not isinstance(r, LimitsExceeded)]
    stops = [r for r in results if isinstance(r, LimitsExceeded)]
    return drawn, (stops[0] if stops else None)


def report_summary(report: TestReport, seed: int | None, green: bool) -> CandidateResult:
    """What the trajectory keeps of one candidate tested with others: its seed and its
    test run (`agent.run.candidates.TestRun`), without the failures' text."""
    return CandidateResult.of(TestRun.of(report, green=green), seed)
