"""A run resolved and checked once, before anything is touched: the value both commands run.

    prepared = prepare_new(task, settings)           # or prepare_fix(root, settings)
    chat = make_model(config.with_record(prepared.run.cassette_path))
    result = run_new(prepared.named(chat.name), chat)

`agent.new.scaffold.prepare_new` and `agent.fix.repair.prepare_fix` do the checks
(the out folder or the repository, the test command) and resolve what a run needs
into a `PreparedRun`: its record folder, the sandbox config with the run id and the
task's limits, the parsed test command, the budgets. The CLI and the batch make one
and pass it on; `run_new` / `run_fix` check nothing again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Self

from agent.choices import EditFormatName
from agent.run.moves import Ways
from agent.run.record import RunDir
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox.config import SandboxConfig
from sandbox.toolchains import toolchain

__all__ = ["PreparedRun"]


@dataclass(frozen=True)
class PreparedRun:
    """What `new` and `fix` both resolve before a run."""

    run: RunDir
    """The run's record folder (`.greenloop/runs/<run-id>/`; its cassette is there too)."""
    model_name: str
    """How the model is described in the result and the commit's trailers."""
    sandbox: SandboxConfig
    """The sandbox config, with the run id (its containers' label) and the task's limits."""
    test_args: tuple[str, ...]
    """The test command, parsed once (the runner's arguments: pytest's, or node's files)."""
    limits: TaskConfig
    """The budgets (iterations, malformed replies, tokens, wall clock) and the test timeout."""
    edit_format: EditFormatName
    prior: Ways | None = None
    """What each way forward paid in the batch's finished tasks (`agent.run.moves`)."""

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @classmethod
    def of(cls, run: RunDir, settings: RunSettings, limits: TaskConfig, command: str) -> Self:
        """The prepared run from the command's settings, the budgets and the test command."""
        memory = {"memory_mb": limits.limits.memory_mb} if limits.limits.memory_mb else {}
        pids = {"pids": limits.limits.pids} if limits.limits.pids else {}
        chain = toolchain(limits.language or "python")
        update = {"run_id": run.run_id, "toolchain": chain.name} | memory | pids
        sandbox = settings.sandbox.model_copy(update=update)
        return cls(run, settings.model_name, sandbox, tuple(chain.test_args(command)), limits,
                   settings.edit_format, settings.prior)  # fmt: skip

    def named(self, model_name: str) -> Self:
        """This run, its model described as `model_name` (known once the client is made)."""
        return dataclasses.replace(self, model_name=model_name)
