"""How `greenloop new` and `greenloop fix` both end a run: the loop's outcome into the
result, the best files kept in the run folder, the trailers every commit carries.

    best = note_outcome(result, outcome)          # status, exit reason, counts, best_from
    keep_best(result, files)                      # result.files, <run dir>/best/
    trailers = run_trailers(result, tests=...)    # Greenloop-Run, Model, Tokens, Tests

The commits themselves stay with each command: `new` commits a new project (refusing
secrets and unwritable paths, leaving the folder as it was on any failure), `fix`
commits onto the user's repository (HEAD must not have moved, their uncommitted work
set aside and put back); what they share is above.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent.run.loop import Candidate, LoopOutcome
from agent.run.record import RunResult, save_files

__all__ = ["keep_best", "note_outcome", "run_trailers"]


def note_outcome(result: RunResult, outcome: LoopOutcome) -> Candidate | None:
    """Write how the loop ended into `result`; the best candidate, if there is one."""
    result.status = "green" if outcome.green else "red"
    result.exit_reason = outcome.exit_reason
    result.candidates, result.ways = outcome.candidates, outcome.ways
    result.iterations = outcome.iterations  # test runs, the ones of several candidates too
    best = outcome.best
    if best is not None:
        result.best_from = best.origin
        result.tests = best.report.counts
    return best


def keep_best(result: RunResult, files: Mapping[str, str]) -> None:
    """The best candidate's files, named in the result and saved in `<run dir>/best`."""
    result.files = sorted(files)
    save_files(Path(result.run_dir) / "best", files)


def run_trailers(result: RunResult, tests: str) -> dict[str, str]:
    """The git trailers of a run's commit: the run, the model, the tokens, the tests."""
    return {
        "Greenloop-Run": result.run_id,
        "Model": result.model,
        "Tokens": f"{result.tokens['prompt']} prompt, {result.tokens['completion']} completion",
        "Tests": tests,
    }
