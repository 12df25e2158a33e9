"""One run's settings, for `greenloop new` and `greenloop fix` alike, and the option choices.

    settings = RunSettings(run_id=run_id, model_name=chat.name, out=out,
                           sandbox=SandboxConfig(kind=SandboxKind.DOCKER, run_id=run_id))
    result = run_new(task, chat, settings)

The choices are enums, so the CLI (typer) validates them and the library gets
a value it can use without checking it again. A batch shares `TaskSettings`
(`agent.batch.task_run`) across its tasks and makes one `RunSettings` per try.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.choices import EditFormatName, ExecutorName
from agent.task import TaskConfig
from sandbox.base import SandboxKind
from sandbox.config import SandboxConfig

__all__ = ["EditFormatName", "ExecutorName", "RunSettings", "SandboxKind"]


@dataclass(frozen=True)
class RunSettings:
    """How to run one `new` or `fix`: what both share, then what only one reads."""

    run_id: str
    model_name: str
    """How the model is described in the result and the commit's trailers."""
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    edit_format: EditFormatName = EditFormatName.SEARCH_REPLACE
    out: Path | None = None
    """new: the project folder the result is committed in (default greenloop-out/<task>);
    fix works in its repository."""
    commit_partial: bool = False
    """new: commit the best red result too (the message says red)."""
    config: TaskConfig = field(default_factory=TaskConfig)
    """fix: budgets (iterations, malformed replies, tokens, wall clock) and the test timeout;
    new reads them from its task."""
    test_command: str | None = None
    """fix: the repository's test command (None: pytest, when the repository shows it)."""
    setup_command: str | None = None
    """fix: runs first, in its own container with network (e.g. `pip install -e .`)."""
    allow_test_edits: bool = False
    """fix: let the model edit tests and the files that configure the test runner."""
    allow_dirty: bool = False
    """fix: set uncommitted work aside and restore it afterwards."""
    context_tokens: int = 6000
    """fix: most tokens one feedback prompt may take (estimated as characters / 4)."""
    prior: Mapping[str, Mapping[str, int]] | None = None
    """What each way forward (feedback, restart) paid in the batch's finished tasks: where
    the loop starts looking (`agent.run.moves`); None outside a batch."""
