"""`new` from its options: the task loaded, the run prepared, its place held, its
inputs saved; or a killed run of it resumed.

    with started_new(NewOptions(spec=Path("tasks/00-add")), warn=print) as (prepared, s):
        result = run_new(prepared, s.chat)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent import git as gitops
from agent.choices import EditFormatName
from agent.commands.started import (
    ModelChoice,
    Started,
    Warn,
    digest,
    resumed_options,
    start,
)
from agent.new.scaffold import PreparedNew, prepare_new
from agent.run.resume import RunInputs
from agent.run.settings import RunSettings
from agent.task import Task, load_task, override_config
from sandbox import SandboxConfig
from sandbox.base import SandboxKind

__all__ = ["NewOptions", "fingerprints", "started_new"]


class NewOptions(BaseModel):
    """What `greenloop new` is given (the same names as its options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: Path
    """A spec .md file, or a task folder (spec.md, tests/)."""
    out: Path | None = None
    """The project folder (a git repository; made if new). Default greenloop-out/<task>."""
    model: str | None = None
    base_url: str | None = None
    replay: Path | None = None
    sandbox: SandboxKind = SandboxKind.DOCKER
    commit_partial: bool = False
    edit_format: EditFormatName = EditFormatName.SEARCH_REPLACE
    max_iterations: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_calls: int | None = Field(default=None, ge=1)

    def choice(self) -> ModelChoice:
        return ModelChoice(self.model, self.base_url, self.replay)


def _task(opts: NewOptions) -> Task:
    task = load_task(opts.spec)
    overrides = {"max_iterations": opts.max_iterations, "max_tokens": opts.max_tokens,
                 "max_calls": opts.max_calls}  # fmt: skip
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        flags = "--max-iterations/--max-tokens/--max-calls"
        task = dataclasses.replace(task, config=override_config(task.config, given, flags))
    return task


def fingerprints(task: Task, out: Path) -> dict[str, str]:
    """A digest of each input of a `new` run: the spec, its tests and starter files, its
    task.toml, and the out folder's HEAD (made if new, as the run makes it)."""
    repo = gitops.open_or_init(out)
    return {
        "spec": digest(task.spec),
        "tests": digest(dict(task.tests)),
        "starter files": digest(dict(task.starter)),
        "task.toml": digest(task.config.model_dump(mode="json")),
        "the out folder's HEAD": gitops.head_sha(repo),
    }


@contextmanager
def started_new(
    opts: NewOptions, warn: Warn, resume: Path | None = None
) -> Iterator[tuple[PreparedNew, Started]]:
    """The run prepared and ready, its place held until the block ends. With `resume`
    (a killed run's folder) the options are that run's (the model ones given here
    win), and it is refused when finished or when an input changed since."""
    opts, resumed, run_id = resumed_options("new", opts, resume)
    task = _task(opts)
    settings = RunSettings(
        out=opts.out, run_id=run_id, model_name="",  # named once the client is made
        sandbox=SandboxConfig(kind=opts.sandbox), edit_format=opts.edit_format,
        commit_partial=opts.commit_partial,
    )  # fmt: skip
    prepared = prepare_new(task, settings)
    out = prepared.out.absolute()
    replay = opts.replay.absolute() if opts.replay else None
    recorded = opts.model_copy(update={"out": out, "spec": opts.spec.absolute(), "replay": replay})
    inputs = RunInputs("new", str(out), recorded.model_dump(mode="json"))
    with start("new", prepared.common.run, inputs, opts.choice(), warn, resumed,
               lambda: fingerprints(task, out)) as started:  # fmt: skip
        yield prepared.named(started.chat.name), started
