"""`greenloop batch TASKS` (many tasks, resumable) and `greenloop report BATCH_DIR...`."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.choices import EditFormatName, ExecutorName
from agent.cli.common import (
    BaseUrlOpt,
    EditFormatOpt,
    ModelOpt,
    SandboxOpt,
    auto_prune,
    console,
    model_config,
    say_endpoint,
)
from sandbox.base import SandboxKind

if TYPE_CHECKING:
    from agent.batch.ledger import BatchSummary
    from agent.batch.task_run import TaskSettings
    from agent.task import Task


def batch(
    tasks: Annotated[Path, typer.Argument(help="A folder of task folders, or a tasks .jsonl.")],
    workers: Annotated[int, typer.Option(min=1, help="Tasks run at once.")] = 2,
    tries: Annotated[
        int, typer.Option(min=1, help="Tries per red task; each sees the last one's tests.")
    ] = 1,
    resume: Annotated[
        bool, typer.Option(help="Continue the batch in --out: skip finished, redo partial tasks.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Run dir (default greenloop-batch/<run-id>).")
    ] = None,
    budget_tokens: Annotated[
        int | None, typer.Option(min=1, help="Start no task once the batch spent these tokens.")
    ] = None,
    budget_cost: Annotated[
        float | None, typer.Option(min=0, help="Start no task once the batch spent these US$.")
    ] = None,
    budget_wall: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Seconds this run may take: each task gets its share of the time left, a "
            "task that ends early leaves its time to the rest, and none starts past it.",
        ),
    ] = None,
    executor: Annotated[
        ExecutorName, typer.Option(help="local (process pool) or ray.")
    ] = ExecutorName.LOCAL,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to use (default RAY_ADDRESS or a local one).")
    ] = None,
    grace: Annotated[
        float, typer.Option(help="Seconds running tasks get after Ctrl-C before being cut.")
    ] = 60.0,
    ship_limit_mb: Annotated[
        float, typer.Option(min=1, help="MiB a task may send back from a Ray node (gzipped).")
    ] = 64.0,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    sandbox: SandboxOpt = SandboxKind.DOCKER,
    commit_partial: Annotated[
        bool, typer.Option(help="Commit the best red result too (the message says red).")
    ] = False,
    edit_format: EditFormatOpt = EditFormatName.SEARCH_REPLACE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    max_calls: Annotated[
        int | None,
        typer.Option(min=1, help="Model calls each task may make (overrides its task.toml)."),
    ] = None,
) -> None:
    """Run every task in parallel, each in its own sandbox; resumable; writes a report.

    Exit 0 when every task passed, 1 when some did not (or some are left), 130 when interrupted.
    """
    from agent.batch.live_view import BatchView
    from agent.batch.report import write_report
    from agent.batch.scheduler import BatchOptions, load_batch_tasks, run_batch
    from agent.run.record import new_run_id

    _check_options(executor, ray_address, grace, budget_cost, ship_limit_mb, out, budget_wall)
    settings = _batch_settings(model, base_url, sandbox, edit_format, commit_partial, tries)
    settings = dataclasses.replace(settings, ship_limit_mb=ship_limit_mb)
    task_list = load_batch_tasks(tasks)
    if max_calls is not None:
        task_list = [_with_calls(t, max_calls) for t in task_list]
    batch_dir = out or Path("greenloop-batch") / new_run_id()
    options = BatchOptions(
        out=batch_dir,
        settings=settings,
        workers=workers,
        resume=resume,
        budget_tokens=budget_tokens,
        budget_cost=budget_cost,
        budget_wall=budget_wall,
        executor=executor,
        ray_address=ray_address,
        grace=grace,
    )
    auto_prune(sandbox)
    with BatchView(console, f"{len(task_list)} tasks from {tasks} -> {batch_dir}") as view:
        summary = run_batch(task_list, options, view)
    _md, page = write_report(batch_dir)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    _print_summary(summary, page)
    if summary.interrupted:
        raise typer.Exit(130)
    raise typer.Exit(0 if summary.passed == summary.total else 1)


def _with_calls(task: Task, max_calls: int) -> Task:
    from agent.task import override_config

    config = override_config(task.config, {"max_calls": max_calls}, "--max-calls")
    return dataclasses.replace(task, config=config)


def _check_options(
    executor: ExecutorName,
    ray_address: str | None,
    grace: float,
    budget_cost: float | None,
    ship_limit_mb: float,
    out: Path | None,
    budget_wall: float | None = None,
) -> None:
    """Refuse what typer's ranges let through (NaN, inf) and options that do not go together."""
    from agent.errors import UsageError
    from sandbox.paths import refuse_bidi

    if ray_address is not None and executor != ExecutorName.RAY:
        raise UsageError(
            f"--ray-address {ray_address} is for the ray executor, not {executor.value}",
            fix="add --executor ray, or drop --ray-address",
        )
    numbers = {"--grace": (grace, 0.0, "60"), "--ship-limit-mb": (ship_limit_mb, 1.0, "64")}
    if budget_cost is not None:
        numbers["--budget-cost"] = (budget_cost, 0.0, "5")
    if budget_wall is not None:
        numbers["--budget-wall"] = (budget_wall, 1.0, "3600")
    for flag, (value, low, example) in numbers.items():
        if not (math.isfinite(value) and value >= low):
            raise UsageError(
                f"{flag} {value}: not a finite number of at least {low:g}",
                fix=f"give one, e.g. {flag} {example}",
            )
    if out is not None:
        refuse_bidi(out, "--out folder", fix="give --out a name without that character")


def _batch_settings(
    model: str | None,
    base_url: str | None,
    sandbox: SandboxKind,
    edit_format: EditFormatName,
    commit_partial: bool,
    tries: int,
) -> TaskSettings:
    from agent.batch.task_run import TaskSettings
    from agent.model import describe_model, price_of
    from sandbox import SandboxConfig

    config, endpoint = model_config(model, base_url)
    say_endpoint(endpoint)
    return TaskSettings(
        model=config,
        model_name=describe_model(config),
        tries=tries,
        sandbox=SandboxConfig(kind=sandbox),
        edit_format=edit_format,
        commit_partial=commit_partial,
        price=price_of(config),
    )


def _print_summary(summary: BatchSummary, page: Path) -> None:
    pass_at = ", ".join(f"pass@{k} {v:.0%}" for k, v in enumerate(summary.pass_at, 1))
    cost = "unknown" if summary.cost is None else f"${summary.cost:.4f}"
    console.print(
        f"{summary.done}/{summary.total} done: [green]{summary.passed} passed[/], "
        f"{summary.failed} failed, {summary.errors} errors; {pass_at}; "
        f"{summary.tokens:,} tokens, cost {cost}"
    )
    if summary.stopped_by_budget:
        console.print("[yellow]stopped by the budget:[/] tasks left are pending")
    if summary.interrupted:
        console.print("[yellow]interrupted:[/] finished results are kept")
    if summary.pending:
        console.print(f"{summary.pending} task(s) left: run again with --resume to finish")
    console.print(f"report: {page}")


def report(
    batch_dirs: Annotated[
        list[Path],
        typer.Argument(help="A `greenloop batch` --out folder; two or more: compared."),
    ],
    show: Annotated[bool, typer.Option("--print", help="Also print the Markdown.")] = False,
    out: Annotated[
        Path, typer.Option(help="Where a comparison's compare.md and compare.html go.")
    ] = Path("."),
) -> None:
    """Render a batch's results (BATCH_DIR/report.md, report.html), or compare batch runs."""
    if len(batch_dirs) > 1:
        from agent.batch.compare import check_comparison_out, compare, write_comparison

        check_comparison_out(out)  # before compare(), which writes missing trajectory pages
        md, page = write_comparison(compare(batch_dirs), out)
    else:
        from agent.batch.report import write_report

        md, page = write_report(batch_dirs[0])
    if show:
        typer.echo(md.read_text())
    console.print(f"wrote {md} and {page}")
