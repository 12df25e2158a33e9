"""`fix` from its options: the repository checked, the run prepared, the repository
held, its inputs saved; or a killed run of it resumed.

    with started_fix(FixOptions(repo=Path(".")), warn=print) as (prepared, started):
        result = run_fix(prepared, started.chat)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agent.choices import EditFormatName
from agent.commands.started import (
    ModelChoice,
    Started,
    Warn,
    digest,
    resumed_options,
    start,
)
from agent.fix.repair import PreparedFix, prepare_fix
from agent.run.resume import RunInputs
from agent.run.settings import RunSettings
from sandbox import SandboxConfig
from sandbox.base import SandboxKind

if TYPE_CHECKING:
    from git import Repo

__all__ = ["FixOptions", "started_fix"]


class FixOptions(BaseModel):
    """What `greenloop fix` is given (the same names as its options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repo: Path = Path(".")
    """The repository."""
    test_cmd: str | None = None
    """The test command (default: detected: pytest, or package.json's `node --test`)."""
    setup_cmd: str | None = None
    """Run first, with network, in its own container: 'pip install -e .', 'npm ci'."""
    allow_test_edits: bool = False
    allow_dirty: bool = False
    model: str | None = None
    base_url: str | None = None
    replay: Path | None = None
    sandbox: SandboxKind = SandboxKind.DOCKER
    context_tokens: int = Field(default=6000, ge=1)
    edit_format: EditFormatName = EditFormatName.SEARCH_REPLACE

    def choice(self) -> ModelChoice:
        return ModelChoice(self.model, self.base_url, self.replay)


def _fingerprints(prepared: PreparedFix) -> dict[str, str]:
    """A digest of each input of a `fix` run: HEAD (the code and tests it fixes), and the
    test and setup commands it runs."""
    settings = prepared.settings
    return {
        "HEAD": prepared.snapshot.sha,
        "the test command": digest(prepared.test_command),
        "the setup command": digest(settings.setup_command or ""),
    }


@contextmanager
def started_fix(
    opts: FixOptions,
    warn: Warn,
    resume: Path | None = None,
    stashes: Callable[[Repo], object] | None = None,
) -> Iterator[tuple[PreparedFix, Started]]:
    """The run prepared and ready, the repository held until the block ends. With
    `resume` (a killed run's folder) the options are that run's (the model ones given
    here win), and it is refused when finished or when HEAD or a command changed.
    `stashes(repo)` names work a killed run set aside (`prepare_fix`)."""
    opts, resumed, run_id = resumed_options("fix", opts, resume)
    settings = RunSettings(
        run_id=run_id, model_name="",  # named once the client is made
        test_command=opts.test_cmd, setup_command=opts.setup_cmd,
        allow_test_edits=opts.allow_test_edits, allow_dirty=opts.allow_dirty,
        sandbox=SandboxConfig(kind=opts.sandbox), context_tokens=opts.context_tokens,
        edit_format=opts.edit_format,
    )  # fmt: skip
    prepared = prepare_fix(opts.repo, settings, warn=stashes)
    root = prepared.root.absolute()
    replay = opts.replay.absolute() if opts.replay else None
    recorded = opts.model_copy(update={"repo": root, "replay": replay})
    inputs = RunInputs("fix", str(root), recorded.model_dump(mode="json"))
    with start("fix", prepared.common.run, inputs, opts.choice(), warn, resumed,
               lambda: _fingerprints(prepared)) as started:  # fmt: skip
        yield prepared.named(started.chat.name), started
