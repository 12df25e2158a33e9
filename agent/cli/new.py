"""`greenloop new SPEC.md`: load the task, resolve the model, run `agent.new.scaffold.run_new`.

The run itself: `agent.new.scaffold` (plan, generate, confirm, commit), which drives
`agent.run.loop.Loop` (test, then feedback edits or fresh samples, to green).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.choices import EditFormatName
from agent.cli.common import (
    BaseUrlOpt,
    EditFormatOpt,
    ModelOpt,
    ResumeOpt,
    SandboxOpt,
    auto_prune,
    console,
    run_shown,
    say_endpoint,
    say_resumed,
    shown_text,
    warn,
)
from agent.errors import UsageError
from sandbox.base import SandboxKind


def new(
    spec: Annotated[
        Path | None,
        typer.Argument(help="A spec .md file, or a task folder (spec.md, tests/)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Project folder (a git repo; made if new).")
    ] = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    replay: Annotated[
        Path | None, typer.Option(help="Answer from this cassette instead of a model.")
    ] = None,
    sandbox: SandboxOpt = SandboxKind.DOCKER,
    commit_partial: Annotated[
        bool, typer.Option(help="Commit the best red result too (the message says red).")
    ] = False,
    edit_format: EditFormatOpt = EditFormatName.SEARCH_REPLACE,
    max_iterations: Annotated[
        int | None, typer.Option(help="Test runs at most (overrides task.toml).", min=1)
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Token budget (overrides task.toml).", min=1)
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option(help="Model calls at most (overrides task.toml).", min=1)
    ] = None,
    resume: ResumeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Scaffold a project from a spec: plan, write, test in the sandbox, loop to green, commit."""
    from agent.commands.new import NewOptions, started_new
    from agent.new.scaffold import run_new
    from agent.show.page import write_page_quietly

    if (spec is None) == (resume is None):
        raise UsageError(
            "give a spec, or --resume with a killed run's folder (not both)",
            fix="greenloop new tasks/00-add, or greenloop new --resume <out>/.greenloop/runs/<id>",
        )
    opts = NewOptions(
        spec=spec or Path("."), out=out, model=model, base_url=base_url, replay=replay,
        sandbox=sandbox, commit_partial=commit_partial, edit_format=edit_format,
        max_iterations=max_iterations, max_tokens=max_tokens, max_calls=max_calls,
    )  # fmt: skip
    with started_new(opts, warn, resume) as (prepared, started):
        say_endpoint(started.endpoint)
        auto_prune(prepared.common.sandbox.kind)
        result = run_shown(
            lambda view: run_new(prepared, started.chat, view, write_page_quietly),
            as_json,
            f"{prepared.task.name} -> {prepared.out}",
        )
    say_resumed(started)
    if result.error:
        console.print(f"[red]error:[/] {shown_text(result.error)}", soft_wrap=True)
    raise typer.Exit(0 if result.status == "green" else 1)
