"""What every command shares: the console, the common options, the model settings,
and running with the live view (or quietly, as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agent.choices import EditFormatName
from sandbox.base import SandboxKind

if TYPE_CHECKING:
    from agent.commands.started import Started

console = Console(stderr=True)
"""The one console: everything but --json output goes to stderr."""

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Model name, 'local', or 'local:/path/x.gguf' [GREENLOOP_MODEL]."),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint [GREENLOOP_BASE_URL]."),
]
SandboxOpt = Annotated[
    SandboxKind, typer.Option(help="docker (isolated) or local (NOT isolation).")
]
EditFormatOpt = Annotated[EditFormatName, typer.Option(help="search-replace or whole.")]
ResumeOpt = Annotated[
    Path | None,
    typer.Option(
        help="Continue a killed run: its folder (<place>/.greenloop/runs/<id>). The model "
        "calls it made are replayed, not paid again."
    ),
]


def model_config(
    model: str | None,
    base_url: str | None,
    replay: Path | None = None,
    record: Path | None = None,
) -> tuple[Any, str]:
    """Model settings and where requests go (`agent.commands.model.model_config`); its
    warnings on the console."""
    from agent.commands.model import model_config as resolve

    return resolve(model, base_url, warn=warn, replay=replay, record=record)


def warn(text: str) -> None:
    console.print(f"[yellow]warning:[/] {shown_text(text)}", soft_wrap=True)


def say_endpoint(line: str) -> None:
    console.print(f"endpoint: {shown_text(line)}", soft_wrap=True)


def say_resumed(started: Started) -> None:
    """On a resume: how many model calls the killed run's cassette answered."""
    resuming = started.resuming
    if resuming is not None:
        console.print(
            f"resumed: {resuming.replayed} of the killed run's {resuming.recorded} model calls "
            f"replayed, {resuming.live} made live"
        )


def run_shown(run: Callable[[Any], Any], as_json: bool, title: str) -> Any:
    """Run with the live view and a summary, or quietly with the result as JSON."""
    from agent.run.live_view import RunView

    if as_json:
        result = run(None)
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return result
    with RunView(console, title) as view:
        result = run(view)
    _print_result(result)
    return result


def _print_result(result: Any) -> None:
    colour = "green" if result.status == "green" else "red"
    console.print(
        f"[{colour}]{result.status}[/] ({result.exit_reason}) after {result.iterations} "
        f"iterations: {result.tests.passed} passed, {result.tests.failed} failed; "
        f"{result.tokens['prompt']}+{result.tokens['completion']} tokens; run {result.run_dir}",
        soft_wrap=True,
    )
    if result.commit:
        console.print(f"committed {result.commit[:10]} on branch {result.branch}")
    page = Path(result.run_dir) / "trajectory.html"
    if page.is_file():
        console.print(f"trajectory: {page}", soft_wrap=True, highlight=False)


def shown_text(text: str) -> str:
    """Text from the sandbox, the model or a repository, safe for the terminal and for rich."""
    from sandbox.output import printable

    return escape(printable(text))


def auto_prune(kind: SandboxKind) -> None:
    """Clean up after killed runs before starting new sandboxes."""
    if kind != "docker":
        return
    from sandbox.image import docker_client
    from sandbox.prune import prune

    prune(docker_client())
