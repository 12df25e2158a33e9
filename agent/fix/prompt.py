"""The prompt `greenloop fix` sends: what fails and why, the repository as context, the rules.

What `new` and `fix` share (the system prompt, how a failure reads) is `agent.run.prompts`.
"""

from __future__ import annotations

from collections.abc import Collection

from agent.languages import Language
from agent.model import Message
from agent.run.prompts import MAX_FAILURES, SYSTEM, failing, failure
from sandbox.base import TestReport

__all__ = ["fix_messages"]


def fix_messages(
    report: TestReport,
    targets: Collection[str],
    must_pass: Collection[str],
    context: str,
    edit_instructions: str,
    refused: str = "",
    language: Language | None = None,
) -> list[Message]:
    """For `greenloop fix`: what fails and why, the repository as `context` (some files
    whole, a map of the rest), and the rules (tests unchanged, nothing that passed breaks);
    in the repository's `language` (Python when None)."""
    failed = failing(report)
    parts = [
        "This repository's tests fail. Fix the code so that these tests pass:",
        "\n".join(f"- {t}" for t in sorted(targets)[:20]),
        context,
        f"Test results: {report.passed} passed, {report.failed} failed, {report.errors} errors"
        + (" (the run TIMED OUT: look for infinite loops)" if report.timed_out else ""),
    ]
    for case in failed[:MAX_FAILURES]:
        note = " (it passed before your edits: do not break it)" if case.id in must_pass else ""
        parts.append(failure(case) + note)
    if refused:
        parts.append(f"Your previous edits were NOT applied:\n{refused}")
    parts.append(
        "Fix the code, not the tests: test files may not be changed. Tests that pass now "
        "must keep passing. Edit only files shown above or named in the map."
    )
    parts.append(_in_language(edit_instructions, language))
    system = SYSTEM.replace("Python", language.name) if language else SYSTEM
    return [Message.system(system), Message.user("\n\n".join(p for p in parts if p))]


_EXTENSIONS = {"javascript": ".js", "typescript": ".ts", "go": ".go", "rust": ".rs"}


def _in_language(instructions: str, language: Language | None) -> str:
    """The edit format's instructions with their example file in the repository's language
    (a model copies the example's path and fence)."""
    extension = _EXTENSIONS.get(language.fence) if language else None
    if language is None or extension is None:
        return instructions
    return instructions.replace("```python", f"```{language.fence}").replace(
        "path/to/file.py", f"path/to/file{extension}"
    )
