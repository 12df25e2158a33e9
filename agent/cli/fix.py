"""`greenloop fix [REPO]`: check the repository, detect the test command, run
`agent.fix.repair.run_fix` on a new branch, say how to review and merge it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

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

if TYPE_CHECKING:
    from git import Repo


def fix(
    repo: Annotated[Path, typer.Argument(help="The repository (default: here).")] = Path("."),
    test_cmd: Annotated[
        str | None, typer.Option(help="Test command (default: pytest, detected from the repo).")
    ] = None,
    setup_cmd: Annotated[
        str | None,
        typer.Option(help="Run first, with network, in its own container: 'pip install -e .'."),
    ] = None,
    allow_test_edits: Annotated[bool, typer.Option(help="Let the model edit tests.")] = False,
    allow_dirty: Annotated[
        bool, typer.Option(help="Set uncommitted work aside and restore it afterwards.")
    ] = False,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    replay: Annotated[
        Path | None, typer.Option(help="Answer from this cassette instead of a model.")
    ] = None,
    sandbox: SandboxOpt = SandboxKind.DOCKER,
    context_tokens: Annotated[
        int, typer.Option(min=1, help="Most tokens one prompt may take.")
    ] = 6000,
    edit_format: EditFormatOpt = EditFormatName.SEARCH_REPLACE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make a repository's failing tests pass, on a new branch; your branch stays as it is."""
    from agent import git as gitops
    from agent.fix.repair import prepare_fix, run_fix
    from agent.model import make_model
    from agent.run.record import new_run_id
    from agent.run.settings import RunSettings
    from agent.show.page import write_page_quietly
    from sandbox import SandboxConfig

    _check_commands(test_cmd, setup_cmd)
    run_id = new_run_id()
    settings = RunSettings(
        run_id=run_id,
        model_name="",  # named below, once the client is made
        test_command=test_cmd,
        setup_command=setup_cmd,
        allow_test_edits=allow_test_edits,
        allow_dirty=allow_dirty,
        sandbox=SandboxConfig(kind=sandbox),
        context_tokens=context_tokens,
        edit_format=edit_format,
    )
    prepared = prepare_fix(repo, settings, warn=_warn_of_stashes)
    head = prepared.snapshot.sha
    base = gitops.current_branch(prepared.repo) or head[:12]
    console.print(
        f"test command: [bold]{escape(prepared.test_command)}[/] ({escape(prepared.why)})"
    )
    record = None if replay else prepared.common.run.cassette_path.resolve()
    config, endpoint = model_config(model, base_url, replay=replay, record=record)
    chat = make_model(config)
    say_endpoint(endpoint)
    prepared = prepared.named(chat.name)
    auto_prune(sandbox)
    root = prepared.root
    result = run_shown(
        lambda view: run_fix(prepared, chat, view, write_page_quietly), as_json, f"fix {root}"
    )
    if result.exit_reason == "nothing-to-fix":
        console.print("[green]nothing to fix:[/] the tests already pass; no branch was made")
    if result.flaky:
        flaky = ", ".join(result.flaky)
        console.print(f"[yellow]flaky[/] (failed, then passed unchanged): {shown_text(flaky)}")
    if result.error:
        console.print(f"[red]error:[/] {shown_text(result.error)}", soft_wrap=True)
    if result.branch:
        console.print(
            f"fixed {len(result.fixed)} test(s) on [bold]{result.branch}[/]; your {base} is as it "
            f"was.\n  review: git log -p {base}..{result.branch}   or   "
            f"git diff {base}...{result.branch}\n  merge:  git merge {result.branch}",
            soft_wrap=True,
        )
    raise typer.Exit(0 if result.status == "green" else 1)


def _warn_of_stashes(repo: Repo) -> None:
    """Name the work a killed run set aside, and how to restore it."""
    from agent import git as gitops

    for ref, sha, on in gitops.leftover_stashes(repo):
        console.print(
            f"[yellow]warning:[/] {ref} holds uncommitted work a killed greenloop run set aside "
            f"on {shown_text(on)}; to restore it: git switch {shown_text(on)} && "
            f"git stash apply --index {sha} && git stash drop {ref}",
            soft_wrap=True,
        )


def _check_commands(test_cmd: str | None, setup_cmd: str | None) -> None:
    """Refuse a blank command, or one that cannot be split into words, before anything runs."""
    from agent.errors import UsageError
    from sandbox.testrun import check_command

    given = {"--test-cmd": test_cmd, "--setup-cmd": setup_cmd}
    for flag, command in given.items():
        if command is None:
            continue
        if not command.strip():
            raise UsageError(
                f"{flag} is empty",
                fix=f"give the command, e.g. {flag} {_EXAMPLES[flag]!r}, or leave {flag} out",
            )
        try:
            check_command(command, flag)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


_EXAMPLES = {"--test-cmd": "python -m pytest -q tests", "--setup-cmd": "pip install -e ."}
