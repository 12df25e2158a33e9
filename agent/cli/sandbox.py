"""`greenloop sandbox build | prune | test`: the Docker sandbox's image and leftovers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import (
    SandboxOpt,
    auto_prune,
    console,
    shown_text,
)
from sandbox.base import SandboxKind


def sandbox_build(
    bootstrap: Annotated[
        bool, typer.Option(help="Make the base image from Debian's packages (no registry).")
    ] = False,
    base: Annotated[str | None, typer.Option(help="Base image (default python:3.12-slim).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when the image exists.")] = False,
    toolchain: Annotated[
        str, typer.Option(help="Whose image: python, javascript or rust.")
    ] = "python",
) -> None:
    """Build a toolchain's sandbox image, tagged with a hash of its Dockerfile."""
    from sandbox.image import build_image, docker_client
    from sandbox.toolchains import toolchain as toolchain_named

    spec = toolchain_named(toolchain).image
    with console.status(f"building the {toolchain} sandbox image (bootstrapping takes minutes)..."):
        result = build_image(
            docker_client(), base=base, bootstrap=bootstrap, force=force, spec=spec
        )
    if result.built:
        console.print(f"[green]built[/] {result.tag} (base {result.base})")
    else:
        console.print(f"[green]already present:[/] {result.tag} (--force rebuilds it)")


def sandbox_prune(
    older_than: Annotated[
        float,
        typer.Option(help="Remove other hosts' sandboxes older than this many seconds."),
    ] = 24 * 3600.0,
    all_: Annotated[
        bool, typer.Option("--all", help="Remove every greenloop sandbox, live runs' too.")
    ] = False,
) -> None:
    """Remove containers and volumes that killed runs left behind; live runs' stay."""
    from sandbox.image import docker_client
    from sandbox.prune import check_older_than, prune

    check_older_than(older_than)
    result = prune(docker_client(), older_than=older_than, everything=all_)
    console.print(f"removed {len(result.containers)} containers, {len(result.volumes)} volumes")


def sandbox_test(
    directory: Annotated[Path, typer.Argument(help="Project folder with its tests.")],
    timeout: Annotated[float, typer.Option(help="Seconds the test run may take.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    sandbox: SandboxOpt = SandboxKind.DOCKER,
    toolchain: Annotated[
        str | None,
        typer.Option(help="python, javascript or rust (default: told by the folder's test files)."),
    ] = None,
) -> None:
    """Copy DIR into a fresh sandbox, run its tests, print the report; exit 0 only when green."""
    from agent.errors import UsageError
    from sandbox import SandboxConfig, open_sandbox
    from sandbox.paths import collect_files
    from sandbox.toolchains import detect

    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder: name the project folder to test")
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: give a number of seconds above 0, e.g. 120")
    auto_prune(sandbox)
    files = collect_files(directory)
    chain = detect(files, toolchain)
    suite = chain.folder_suite(files)
    config = SandboxConfig(kind=sandbox, run_id="sandbox-test", toolchain=chain.name)
    with open_sandbox(config) as sb:
        sb.write(files)
        report = sb.run_tests(timeout=timeout, suite=suite)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.green else 1)


def _print_report(report: object) -> None:
    from sandbox.base import TestReport

    assert isinstance(report, TestReport)
    for case in (*report.tests, *report.collection_errors):
        colour = {"passed": "green", "skipped": "yellow"}.get(case.outcome, "red")
        shown = f"{case.id}  {case.message[:120]}"
        console.print(f"[{colour}]{case.outcome:8}[/] {shown_text(shown)}", soft_wrap=True)
    console.print(
        f"{report.passed} passed, {report.failed} failed, {report.errors} errors"
        + (", TIMED OUT" if report.timed_out else "")
        + f" in {report.duration:.1f}s"
    )
