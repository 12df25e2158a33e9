"""The `greenloop` command line: thin; the library raises, this turns errors into messages.

Exit codes: 0 green / all fine, 1 run failed, 2 usage error.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
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


ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Model name, 'local', or 'local:/path/x.gguf' [GREENLOOP_MODEL]."),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint [GREENLOOP_BASE_URL]."),
]


def _model_config(
    model: str | None, base_url: str | None, replay: Path | None = None, record: Path | None = None
) -> tuple[Any, str]:
    """Model settings and where requests go: CLI > env > the user's config file > defaults.

    Never the folder's own `greenloop.toml`: a cloned repository could name a
    server there and receive the user's API key (the warning names the fix).
    """
    import os

    from agent.model import ModelConfig
    from agent.model.config import (
        endpoint_line,
        load_user_file,
        repo_model_keys,
        setting_origin,
        user_config_path,
    )

    ignored = repo_model_keys(Path.cwd())
    if ignored:
        console.print(
            f"[yellow]warning:[/] ignoring \\[model] {_shown_text(', '.join(ignored))} in "
            "./greenloop.toml: a folder's own file may not choose the model or its endpoint; "
            f"put your settings in {escape(str(user_config_path(os.environ)))} or pass --base-url",
            soft_wrap=True,
        )
    file, path = load_user_file(os.environ)
    cli = {"model": model, "base_url": base_url, "replay": replay, "record": record}
    config = ModelConfig.resolve(cli, os.environ, file)
    return config, endpoint_line(config, setting_origin("base_url", cli, os.environ, path))


def _say_endpoint(line: str) -> None:
    console.print(f"endpoint: {_shown_text(line)}", soft_wrap=True)


@app.command()
def doctor(model: ModelOpt = None, base_url: BaseUrlOpt = None) -> None:
    """Check the engine, the sandbox image and the model; print the fix for each missing part."""
    from agent.doctor import Check, run_checks
    from agent.errors import ConfigError
    from agent.model import check_model

    endpoint: list[str] = []

    def model_check() -> tuple[bool, str, str]:
        try:
            config, line = _model_config(model, base_url)
        except ConfigError as exc:
            return False, str(exc), "fix the model settings named above"
        endpoint.append(line)
        return check_model(config)

    checks = run_checks(model_check)
    if endpoint:
        checks.insert(-1, Check("endpoint", True, endpoint[0]))
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
    if result.built:
        console.print(f"[green]built[/] {result.tag} (base {result.base})")
    else:
        console.print(f"[green]already present:[/] {result.tag} (--force rebuilds it)")


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
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: give a number of seconds above 0, e.g. 120")
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


@app.command()
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
    sandbox: Annotated[
        str, typer.Option(help="docker (isolated) or local (NOT isolation).")
    ] = "docker",
    commit_partial: Annotated[
        bool, typer.Option(help="Commit the best red result too (the message says red).")
    ] = False,
    edit_format: Annotated[str, typer.Option(help="search-replace or whole.")] = "search-replace",
    max_iterations: Annotated[
        int | None, typer.Option(help="Test runs at most (overrides task.toml).", min=1)
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Token budget (overrides task.toml).", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Scaffold a project from a spec: plan, write, test in the sandbox, loop to green, commit."""
    from agent.edits import FORMATS
    from agent.errors import UsageError
    from agent.model import make_model
    from agent.new import RunOptions, check_out_dir, run_new
    from agent.runlog import RUNS_DIR, new_run_id
    from agent.task import load_task
    from sandbox import SandboxConfig

    if sandbox not in ("docker", "local"):
        raise UsageError(f"--sandbox {sandbox!r}: choose docker or local")
    if edit_format not in FORMATS:
        raise UsageError(f"--edit-format {edit_format!r}: choose one of {', '.join(FORMATS)}")
    task = load_task(spec)
    overrides = {"max_iterations": max_iterations, "max_tokens": max_tokens}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        task = dataclasses.replace(task, config=task.config.model_copy(update=overrides))
    out = out or Path("greenloop-out") / task.name
    run_id = new_run_id()
    record = None if replay else out.resolve() / RUNS_DIR / run_id / "cassette.jsonl"
    config, endpoint = _model_config(model, base_url, replay=replay, record=record)
    check_out_dir(task, out)
    chat = make_model(config)
    _say_endpoint(endpoint)
    options = RunOptions(
        out=out,
        run_id=run_id,
        model_name=chat.name,
        sandbox=SandboxConfig(kind=sandbox, run_id=run_id),  # type: ignore[arg-type]
        commit_partial=commit_partial,
        edit_format=edit_format,
    )
    _auto_prune(sandbox)
    result = _shown(
        lambda view: run_new(task, chat, options, view), as_json, f"{task.name} -> {out}"
    )
    if result.error:
        console.print(f"[red]error:[/] {_shown_text(result.error)}", soft_wrap=True)
    raise typer.Exit(0 if result.status == "green" else 1)


@app.command()
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
    sandbox: Annotated[
        str, typer.Option(help="docker (isolated) or local (NOT isolation).")
    ] = "docker",
    context_tokens: Annotated[int, typer.Option(help="Most tokens one prompt may take.")] = 6000,
    edit_format: Annotated[str, typer.Option(help="search-replace or whole.")] = "search-replace",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make a repository's failing tests pass, on a new branch; your branch stays as it is."""
    from agent import gitops
    from agent.edits import FORMATS
    from agent.errors import UsageError
    from agent.fix import FixOptions, detect_test_command, run_fix
    from agent.model import make_model
    from agent.runlog import RUNS_DIR, new_run_id
    from agent.task import TaskConfig
    from sandbox import SandboxConfig

    if sandbox not in ("docker", "local") or edit_format not in FORMATS:
        raise UsageError("choose --sandbox docker|local and --edit-format search-replace|whole")
    git_repo = gitops.open_repo(repo)
    root = Path(str(git_repo.working_tree_dir))
    head = gitops.head_sha(git_repo)  # no commit yet: a usage error before anything else
    gitops.refuse_leftovers(git_repo, "greenloop/fix-")
    for ref, sha, on in gitops.leftover_stashes(git_repo):
        console.print(
            f"[yellow]warning:[/] {ref} holds uncommitted work a killed greenloop run set aside "
            f"on {_shown_text(on)}; to restore it: git switch {_shown_text(on)} && "
            f"git stash apply --index {sha} && git stash drop {ref}",
            soft_wrap=True,
        )
    if not allow_dirty:
        gitops.ensure_clean(git_repo)
    base = gitops.current_branch(git_repo) or head[:12]
    command, why = detect_test_command(root, test_cmd)
    console.print(f"test command: [bold]{escape(command)}[/] ({escape(why)})")
    run_id = new_run_id()
    record = None if replay else root / RUNS_DIR / run_id / "cassette.jsonl"
    config, endpoint = _model_config(model, base_url, replay=replay, record=record)
    chat = make_model(config)
    _say_endpoint(endpoint)
    options = FixOptions(
        run_id=run_id,
        model_name=chat.name,
        test_command=command,
        setup_command=setup_cmd,
        allow_test_edits=allow_test_edits,
        allow_dirty=allow_dirty,
        sandbox=SandboxConfig(kind=sandbox, run_id=run_id),  # type: ignore[arg-type]
        config=TaskConfig(test_command=command),
        context_tokens=context_tokens,
        edit_format=edit_format,
    )
    _auto_prune(sandbox)
    result = _shown(lambda view: run_fix(root, chat, options, view), as_json, f"fix {root}")
    if result.exit_reason == "nothing-to-fix":
        console.print("[green]nothing to fix:[/] the tests already pass; no branch was made")
    if result.flaky:
        flaky = ", ".join(result.flaky)
        console.print(f"[yellow]flaky[/] (failed, then passed unchanged): {_shown_text(flaky)}")
    if result.error:
        console.print(f"[red]error:[/] {_shown_text(result.error)}", soft_wrap=True)
    if result.branch:
        console.print(
            f"fixed {len(result.fixed)} test(s) on [bold]{result.branch}[/]; your {base} is as it "
            f"was.\n  review: git log -p {base}..{result.branch}   or   "
            f"git diff {base}...{result.branch}\n  merge:  git merge {result.branch}",
            soft_wrap=True,
        )
    raise typer.Exit(0 if result.status == "green" else 1)


def _shown(run: Callable[[Any], Any], as_json: bool, title: str) -> Any:
    """Run with the live view and a summary, or quietly with the result as JSON."""
    from agent.view import RunView

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
        f"iterations: {result.tests['passed']} passed, {result.tests['failed']} failed; "
        f"{result.tokens['prompt']}+{result.tokens['completion']} tokens; run {result.run_dir}",
        soft_wrap=True,
    )
    if result.commit:
        console.print(f"committed {result.commit[:10]} on branch {result.branch}")
    page = Path(result.run_dir) / "trajectory.html"
    if page.is_file():
        console.print(f"trajectory: {page}", soft_wrap=True, highlight=False)


def _shown_text(text: str) -> str:
    """Text from the sandbox, the model or a repository, safe for the terminal and for rich."""
    from sandbox.output import printable

    return escape(printable(text))


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
        shown = f"{case.id}  {case.message[:120]}"
        console.print(f"[{colour}]{case.outcome:8}[/] {_shown_text(shown)}", soft_wrap=True)
    console.print(
        f"{report.passed} passed, {report.failed} failed, {report.errors} errors"
        + (", TIMED OUT" if report.timed_out else "")
        + f" in {report.duration:.1f}s"
    )


@app.command()
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
    executor: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to use (default RAY_ADDRESS or a local one).")
    ] = None,
    grace: Annotated[
        float, typer.Option(help="Seconds running tasks get after Ctrl-C before being cut.")
    ] = 60.0,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    sandbox: Annotated[
        str, typer.Option(help="docker (isolated) or local (NOT isolation).")
    ] = "docker",
    commit_partial: Annotated[
        bool, typer.Option(help="Commit the best red result too (the message says red).")
    ] = False,
    edit_format: Annotated[str, typer.Option(help="search-replace or whole.")] = "search-replace",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run every task in parallel, each in its own sandbox; resumable; writes a report.

    Exit 0 when every task passed, 1 when some did not (or some are left), 130 when interrupted.
    """
    from agent.batch import BatchOptions, load_batch_tasks, run_batch
    from agent.batch_view import BatchView
    from agent.report import write_report
    from agent.runlog import new_run_id

    settings = _batch_settings(model, base_url, sandbox, edit_format, commit_partial, tries)
    task_list = load_batch_tasks(tasks)
    run_dir = out or Path("greenloop-batch") / new_run_id()
    options = BatchOptions(
        out=run_dir,
        settings=settings,
        workers=workers,
        resume=resume,
        budget_tokens=budget_tokens,
        budget_cost=budget_cost,
        executor=executor,
        ray_address=ray_address,
        grace=grace,
    )
    _auto_prune(sandbox)
    with BatchView(console, f"{len(task_list)} tasks from {tasks} -> {run_dir}") as view:
        summary = run_batch(task_list, options, view)
    _md, page = write_report(run_dir)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    _print_summary(summary, page)
    if summary["interrupted"]:
        raise typer.Exit(130)
    raise typer.Exit(0 if summary["passed"] == summary["total"] else 1)


def _batch_settings(
    model: str | None,
    base_url: str | None,
    sandbox: str,
    edit_format: str,
    commit_partial: bool,
    tries: int,
) -> Any:
    from agent.batch_job import JobSettings, price_of
    from agent.edits import FORMATS
    from agent.errors import UsageError
    from agent.model import describe_model
    from sandbox import SandboxConfig

    if sandbox not in ("docker", "local"):
        raise UsageError(f"--sandbox {sandbox!r}: choose docker or local")
    if edit_format not in FORMATS:
        raise UsageError(f"--edit-format {edit_format!r}: choose one of {', '.join(FORMATS)}")
    config, endpoint = _model_config(model, base_url)
    _say_endpoint(endpoint)
    return JobSettings(
        model=config,
        model_name=describe_model(config),
        tries=tries,
        sandbox=SandboxConfig(kind=sandbox),  # type: ignore[arg-type]
        edit_format=edit_format,
        commit_partial=commit_partial,
        price=price_of(config),
    )


def _print_summary(summary: dict[str, Any], page: Path) -> None:
    pass_at = ", ".join(f"pass@{k} {v:.0%}" for k, v in enumerate(summary["pass_at"], 1))
    cost = "unknown" if summary["cost"] is None else f"${summary['cost']:.4f}"
    console.print(
        f"{summary['done']}/{summary['total']} done: [green]{summary['passed']} passed[/], "
        f"{summary['failed']} failed, {summary['errors']} errors; {pass_at}; "
        f"{summary['tokens']:,} tokens, cost {cost}"
    )
    if summary["stopped_by_budget"]:
        console.print("[yellow]stopped by the budget:[/] tasks left are pending")
    if summary["interrupted"]:
        console.print("[yellow]interrupted:[/] finished results are kept")
    if summary["pending"]:
        console.print(f"{summary['pending']} task(s) left: run again with --resume to finish")
    console.print(f"report: {page}")


@app.command()
def report(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="A `greenloop batch` run dir; two or more: compared.")
    ],
    show: Annotated[bool, typer.Option("--print", help="Also print the Markdown.")] = False,
    out: Annotated[
        Path, typer.Option(help="Where a comparison's compare.md and compare.html go.")
    ] = Path("."),
) -> None:
    """Render a batch's results (RUN_DIR/report.md, report.html), or compare batch runs."""
    if len(run_dirs) > 1:
        from agent.compare import compare, write_comparison

        md, page = write_comparison(compare(run_dirs), out)
    else:
        from agent.report import write_report

        md, page = write_report(run_dirs[0])
    if show:
        typer.echo(md.read_text())
    console.print(f"wrote {md} and {page}")


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run dir, or a project greenloop ran in.")],
    plain: Annotated[bool, typer.Option("--print", help="Print the trajectory as text.")] = False,
    full: Annotated[bool, typer.Option(help="With --print: every prompt, nothing cut.")] = False,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """A run's trajectory page (written now if missing or old): print its path, or the run."""
    from agent.trajectory import find_run, load_run
    from agent.trajectory_page import page_is_stale, render_text, write_page

    folder = find_run(run_dir)
    page = write_page(folder) if page_is_stale(folder) else folder / "trajectory.html"
    if plain:
        typer.echo(render_text(load_run(folder), full), nl=False)
    else:
        typer.echo(str(page))
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    try:
        app()
    except GreenloopError as exc:
        console.print(f"[red]error:[/] {_shown_text(str(exc))}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
