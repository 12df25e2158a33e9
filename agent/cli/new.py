"""`greenloop new SPEC.md`: load the task, resolve the model, run `agent.new.scaffold.run_new`.

The run itself: `agent.new.scaffold` (plan, generate, confirm, commit), which drives
`agent.run.loop.Loop` (test, then feedback edits or fresh samples, to green).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from agent.choices import EditFormatName
from agent.cli.common import (
    BaseUrlOpt,
    EditFormatOpt,
    ModelOpt,
    SandboxOpt,
    auto_prune,
    console,
    model_config,
    run_shown,
    say_endpoint,
    shown_text,
)
from sandbox.base import SandboxKind


def new(
    spec: Annotated[
        Path, typer.Argument(help="A spec .md file, or a task folder (spec.md, tests/).")
    ],
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Scaffold a project from a spec: plan, write, test in the sandbox, loop to green, commit."""
    from agent.model import make_model
    from agent.new.scaffold import prepare_new, run_new
    from agent.run.record import new_run_id
    from agent.run.settings import RunSettings
    from agent.show.page import write_page_quietly
    from agent.task import load_task, override_config
    from sandbox import SandboxConfig

    task = load_task(spec)
    overrides = {"max_iterations": max_iterations, "max_tokens": max_tokens,
                 "max_calls": max_calls}  # fmt: skip
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        budgets = override_config(
            task.config, overrides, "--max-iterations/--max-tokens/--max-calls"
        )
        task = dataclasses.replace(task, config=budgets)
    settings = RunSettings(
        out=out,
        run_id=new_run_id(),
        model_name="",  # named below, once the client is made
        sandbox=SandboxConfig(kind=sandbox),
        commit_partial=commit_partial,
        edit_format=edit_format,
    )
    prepared = prepare_new(task, settings)
    record = None if replay else prepared.common.run.cassette_path.resolve()
    config, endpoint = model_config(model, base_url, replay=replay, record=record)
    chat = make_model(config)
    say_endpoint(endpoint)
    prepared = prepared.named(chat.name)
    auto_prune(sandbox)
    result = run_shown(
        lambda view: run_new(prepared, chat, view, write_page_quietly),
        as_json,
        f"{task.name} -> {prepared.out}",
    )
    if result.error:
        console.print(f"[red]error:[/] {shown_text(result.error)}", soft_wrap=True)
    raise typer.Exit(0 if result.status == "green" else 1)
