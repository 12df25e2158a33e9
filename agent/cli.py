"""The `greenloop` command line: thin; the library raises, this turns errors into messages.

Exit codes: 0 green / all fine, 1 run failed, 2 usage error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from agent.errors import GreenloopError

console = Console(stderr=True)
app = typer.Typer(
    help="greenloop: spec in, green tests out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sandbox_app = typer.Typer(help="Build, check and clean the Docker sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

SandboxKind = Literal["docker", "local"]


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def doctor() -> None:
    """Check the engine, the sandbox image and the model; print the fix for each missing part."""
    from agent.doctor import run_checks

    checks = run_checks()
    table = Table(show_header=True, header_style="bold")
    for column in ("part", "state", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        state = "[green]ok[/]" if check.ok else "[red]missing[/]"
        table.add_row(check.name, state, check.detail, check.fix)
    Console().print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


@sandbox_app.command("build")
def sandbox_build(
    bootstrap: Annotated[
        bool, typer.Option(help="Make the base image from Debian's packages (no registry).")
    ] = False,
    base: Annotated[str | None, typer.Option(help="Base image (default python:3.12-slim).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when the image exists.")] = False,
) -> None:
    """Build the sandbox image, tagged with a hash of its Dockerfile."""
    from sandbox.image import build_image, docker_client

    with console.status("building the sandbox image (bootstrapping can take minutes)..."):
        result = build_image(docker_client(), base=base, bootstrap=bootstrap, force=force)
    verb = "built" if result.built else "already present:"
    console.print(f"[green]{verb}[/] {result.tag} (base {result.base})")


@sandbox_app.command("prune")
def sandbox_prune(
    older_than: Annotated[
        float, typer.Option(help="Also remove sandboxes older than this many seconds.")
    ] = 24 * 3600.0,
    all_: Annotated[bool, typer.Option("--all", help="Remove every greenloop sandbox.")] = False,
) -> None:
    """Remove containers and volumes that killed runs left behind."""
    from sandbox.image import docker_client
    from sandbox.prune import prune

    result = prune(docker_client(), older_than=older_than, everything=all_)
    console.print(f"removed {len(result.containers)} containers, {len(result.volumes)} volumes")


@sandbox_app.command("test")
def sandbox_test(
    directory: Annotated[Path, typer.Argument(help="Project folder with a pytest suite.")],
    timeout: Annotated[float, typer.Option(help="Seconds the test run may take.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    sandbox: Annotated[
        str, typer.Option(help="docker (isolated) or local (NOT isolation).")
    ] = "docker",
) -> None:
    """Copy DIR into a fresh sandbox, run its tests, print the report; exit 0 only when green."""
    from agent.errors import UsageError
    from sandbox import SandboxConfig, open_sandbox
    from sandbox.paths import collect_files

    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder: name the project folder to test")
    if sandbox not in ("docker", "local"):
        raise UsageError(f"--sandbox {sandbox!r}: choose docker or local")
    _auto_prune(sandbox)
    files = collect_files(directory)
    with open_sandbox(SandboxConfig(kind=sandbox, run_id="sandbox-test")) as sb:  # type: ignore[arg-type]
        sb.write(files)
        report = sb.run_tests(timeout=timeout)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.green else 1)


def _auto_prune(kind: str) -> None:
    """Clean up after killed runs before starting new sandboxes."""
    if kind != "docker":
        return
    from sandbox.image import docker_client
    from sandbox.prune import prune

    prune(docker_client())


def _print_report(report: object) -> None:
    from sandbox.base import TestReport

    assert isinstance(report, TestReport)
    for case in (*report.tests, *report.collection_errors):
        colour = {"passed": "green", "skipped": "yellow"}.get(case.outcome, "red")
        console.print(f"[{colour}]{case.outcome:8}[/] {case.id}  {case.message[:120]}")
    console.print(
        f"{report.passed} passed, {report.failed} failed, {report.errors} errors"
        + (", TIMED OUT" if report.timed_out else "")
        + f" in {report.duration:.1f}s"
    )


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    try:
        app()
    except GreenloopError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
