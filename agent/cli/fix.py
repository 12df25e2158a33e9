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
from sandbox.base import SandboxKind

if TYPE_CHECKING:
    from git import Repo


def fix(
    repo: Annotated[Path, typer.Argument(help="The repository (default: here).")] = Path("."),
    test_cmd: Annotated[
        str | None,
        typer.Option(
            help="Test command (default: detected: pytest, or package.json's node --test)."
        ),
    ] = None,
    setup_cmd: Annotated[
        str | None,
        typer.Option(
            help="Run first, with network, in its own container: 'pip install -e .', 'npm ci'."
        ),
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
    resume: ResumeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make a repository's failing tests pass, on a new branch; your branch stays as it is."""
    from agent import git as gitops
    from agent.commands.fix import FixOptions, started_fix
    from agent.fix.repair import run_fix
    from agent.show.page import write_page_quietly

    _check_commands(test_cmd, setup_cmd)
    opts = FixOptions(
        repo=repo, test_cmd=test_cmd, setup_cmd=setup_cmd, allow_test_edits=allow_test_edits,
        allow_dirty=allow_dirty, model=model, base_url=base_url, replay=replay, sandbox=sandbox,
        context_tokens=context_tokens, edit_format=edit_format,
    )  # fmt: skip
    with started_fix(opts, warn, resume, stashes=_warn_of_stashes) as (prepared, started):
        head = prepared.snapshot.sha
        base = gitops.current_branch(prepared.repo) or head[:12]
        console.print(
            f"test command: [bold]{escape(prepared.test_command)}[/] ({escape(prepared.why)})"
        )
        say_endpoint(started.endpoint)
        auto_prune(prepared.common.sandbox.kind)
        root = prepared.root
        result = run_shown(
            lambda view: run_fix(prepared, started.chat, view, write_page_quietly),
            as_json,
            f"fix {root}",
        )
    say_resumed(started)
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
