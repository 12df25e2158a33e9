"""The `greenloop` command line: thin; the library raises, this turns errors into messages.

Exit codes: 0 green / all fine, 1 run failed, 2 usage error, 130 interrupted.
Each command lives in its own module of `agent.cli`; this one makes the Typer
app, registers them, and is the one place errors become messages.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from agent.cli import batch, doctor, fix, mcp, new, sandbox, show
from agent.cli.common import console, shown_text
from agent.errors import GreenloopError

__all__ = ["app", "main"]

app = typer.Typer(
    help="greenloop: spec in, green tests out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sandbox_app = typer.Typer(help="Build, check and clean the Docker sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


app.command()(doctor.doctor)
sandbox_app.command("build")(sandbox.sandbox_build)
sandbox_app.command("prune")(sandbox.sandbox_prune)
sandbox_app.command("test")(sandbox.sandbox_test)
app.command()(new.new)
app.command()(fix.fix)
app.command()(batch.batch)
app.command()(batch.report)
app.command()(show.show)
app.command(help=mcp.HELP)(mcp.mcp)


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    try:
        app()
    except GreenloopError as exc:
        console.print(f"[red]error:[/] {shown_text(exc.message)}", soft_wrap=True)
        if exc.fix:
            console.print(f"[bold]fix:[/] {shown_text(exc.fix)}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
