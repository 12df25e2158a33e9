"""What the prompts of `new` and `fix` share: the system prompt, the fence, how a failure
reads (as aider keeps `base_prompts.py` beside each coder's own prompts). Each command
owns its own prompts: `agent.new.prompts`, `agent.fix.prompt`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.languages import language_of
from sandbox.base import TestCase, TestReport

__all__ = ["MAX_FAILURES", "SYSTEM", "failing", "failure", "fence", "pointed_at", "system_for"]

SYSTEM = (
    "You are an expert Python programmer. You write complete, working code "
    "that passes the given tests. Answer with code, no explanations."
)


def system_for(paths: Iterable[str]) -> str:
    """The system prompt for a project of these files: `SYSTEM`, in their language."""
    for path in paths:
        language = language_of(path)
        if language is not None:
            return SYSTEM.replace("Python", language.name)
    return SYSTEM


MAX_FAILURES = 6
"""The most failures a prompt shows."""


def fence(path: str, text: str) -> str:
    """A file as a prompt shows it: its path, then its text in a block of its language."""
    language = language_of(path)
    return f"{path}\n```{language.fence if language else 'python'}\n{text.rstrip()}\n```"


def failure(case: TestCase) -> str:
    """One failing test: its id, its message, the end of its traceback."""
    text = f"FAILED {case.id}: {case.message.strip()[:400]}"
    if case.traceback:
        text += "\n" + case.traceback.strip()[-1500:]
    return text


def pointed_at(report: TestReport, files: Mapping[str, str]) -> list[str]:
    """Files named in the failing tracebacks, then the rest, most relevant first."""
    text = " ".join(c.traceback + c.message for c in failing(report))
    named = [p for p in files if p in text]
    return named + [p for p in files if p not in named]


def failing(report: TestReport) -> list[TestCase]:
    """The collection errors, then the failed and errored tests."""
    bad = [t for t in report.tests if t.outcome in ("failed", "error")]
    return [*report.collection_errors, *bad]
