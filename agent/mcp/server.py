"""`greenloop mcp`: greenloop's commands as MCP tools, for editors and other agents.

    greenloop mcp                      # stdio, as editors start it
    greenloop mcp --model client       # runs ask the client's own model (sampling)
    greenloop mcp --http --port 8765   # streamable HTTP, on 127.0.0.1 only

Tools: `sandbox_test`, `new`, `fix`, `batch`, `report`, `show`. Each runs the greenloop
command line as a child process (`agent.mcp.child`): the same checks of every path
and option, the same sandbox, the same records; a cancelled call is a Ctrl-C. Paths
are the user's: absolute, or relative to the folder the server was started in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from agent.git.runner import run_git
from agent.mcp.child import (
    BatchProgress,
    Outcome,
    Progress,
    RunProgress,
    Session,
    drive,
    resumed,
)
from agent.run.record import RUNS_DIR

__all__ = ["RunOutcome", "TestOutcome", "make_server"]

INSTRUCTIONS = """greenloop turns specs into green tests and fixes failing tests, judging
every run in a locked-down Docker sandbox (no network, no secrets, limits) with a
verdict the code under test cannot forge. Use sandbox_test to run a folder's tests
safely; new to build a project from a spec; fix to make a repository's failing tests
pass on a new branch (the user's branch is untouched); batch and report for folders
of tasks; show to read what a run did."""

Ctx = Context[Any, Any]
ModelArg = Annotated[
    str | None,
    Field(description="Model name; 'local' for the embedded one; 'client' for yours "
          "(sampling). Default: the server's --model, else greenloop's settings."),
]  # fmt: skip
BaseUrlArg = Annotated[str | None, Field(description="An OpenAI-compatible endpoint.")]


class Failure(BaseModel):
    id: str
    outcome: str
    message: str
    traceback: str


class TestOutcome(BaseModel):
    """A test run's structured report, from the sandbox's own report channel."""

    green: bool
    tampered: str = Field(description="Why the report cannot be the real outcome; '' if it can.")
    passed: int
    failed: int
    errors: int
    skipped: int
    timed_out: bool
    note: str
    duration: float
    tests: list[dict[str, str]]
    failures: list[Failure]


class RunOutcome(BaseModel):
    """How a new or fix run ended."""

    status: str = Field(description="green, red or error")
    exit_reason: str
    branch: str | None
    commit: str | None
    diff: str = Field(description="What the run committed, against where it started")
    run_dir: str
    iterations: int
    tests: dict[str, int]
    tokens: dict[str, int]
    error: str | None = None
    result: dict[str, Any] = Field(description="The run's whole result.json")


class BatchOutcome(BaseModel):
    summary: dict[str, Any]
    report_md: str
    report_html: str


class Report(BaseModel):
    report_md: str
    report_html: str


class Trajectory(BaseModel):
    text: str


def _path(text: str) -> str:
    return str(Path(text).expanduser().absolute())


def _options(**given: Any) -> list[str]:
    """CLI options from keyword values: None and False left out (the CLI's defaults), True
    as a flag, any other value joined to its flag (`--test-cmd=-x` stays one option)."""
    args: list[str] = []
    for name, value in given.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if value is True:
            args.append(flag)
        elif value is False:
            continue
        else:
            args.append(f"{flag}={value}")
    return args


def make_server(default_model: str | None = None) -> MCPServer:
    """The server and its tools; `default_model` answers runs that name no model."""
    server = MCPServer("greenloop", instructions=INSTRUCTIONS)

    async def with_model(
        ctx: Ctx, args: list[str], watch: Progress, model: str | None
    ) -> Outcome | InputRequiredResult:
        """Run greenloop with `args` and the model chosen (the call's, else the server's)
        to its end, or to the client's next sampling request; a call that answers one
        drives the waiting run on."""
        session = resumed(ctx)
        if session is None:
            chosen = model or default_model
            if chosen == "client" and not _can_sample(ctx):
                raise ToolError("model 'client' asks your MCP client's model, but this client "
                                "offers no sampling: name a model (model=..., base_url=...) or "
                                "use a client that supports sampling")  # fmt: skip
            if chosen and chosen != "client":
                args = [*args, "--model", chosen]
            session = Session.start(args, watch, client_model=chosen == "client")
        return await drive(session, ctx)

    async def in_place(
        ctx: Ctx, command: str, place: Path, args: Callable[[], list[str]], resume: str | None,
        model: str | None, base_url: str | None,
    ) -> RunOutcome | InputRequiredResult:  # fmt: skip
        """A `new` or `fix` run in `place` (`args()`: its own arguments), or the killed
        one `resume` names, to its outcome."""
        own = ["--resume", _path(resume)] if resume is not None else args()
        given = [command, *own, *_options(base_url=base_url), "--json"]
        done = await with_model(ctx, given, RunProgress(place / RUNS_DIR), model)
        return done if isinstance(done, InputRequiredResult) else _run_outcome(done, place)

    @server.tool()
    async def sandbox_test(
        folder: Annotated[str, Field(description="A project folder with a pytest suite.")],
        ctx: Ctx,
        timeout: Annotated[float, Field(gt=0, le=3600)] = 120.0,
    ) -> TestOutcome:
        """Run a folder's tests in a fresh locked-down sandbox (a copy: the folder is not
        changed) and return the structured report: each test's outcome, the failures with
        their tracebacks, whether it is green, and whether the report was tampered with."""
        args = ["sandbox", "test", _path(folder), "--json", "--timeout", str(timeout)]
        done = await _finished(ctx, args, checked=False)  # exit 1: red, reported all the same
        return TestOutcome.model_validate(done.json())

    @server.tool()
    async def new(
        out: Annotated[str, Field(description="The project folder (a git repo; made if new).")],
        ctx: Ctx,
        spec: Annotated[str | None, Field(description="A spec .md file or task folder.")] = None,
        spec_text: Annotated[str | None, Field(description="The spec itself (Markdown).")] = None,
        model: ModelArg = None,
        base_url: BaseUrlArg = None,
        max_iterations: Annotated[int | None, Field(ge=1, le=100)] = None,
        max_calls: Annotated[int | None, Field(ge=1, le=10_000)] = None,
        commit_partial: bool = False,
        resume: Annotated[str | None, Field(description="A killed run's folder.")] = None,
    ) -> RunOutcome | InputRequiredResult:
        """Build a project from a spec: plan, write, test in the sandbox, loop to green, and
        commit on a new branch of the out folder. Returns the status, branch, commit, the
        diff and the run folder (its record)."""
        folder = Path(_path(out))

        def args() -> list[str]:
            return [_spec(spec, spec_text, folder), "--out", str(folder),
                    *_options(max_iterations=max_iterations, max_calls=max_calls,
                              commit_partial=commit_partial)]  # fmt: skip

        return await in_place(ctx, "new", folder, args, resume, model, base_url)

    @server.tool()
    async def fix(
        repo: Annotated[str, Field(description="The repository whose failing tests to fix.")],
        ctx: Ctx,
        test_cmd: Annotated[str | None, Field(description="Default: detected.")] = None,
        setup_cmd: Annotated[str | None, Field(description="Run first, with network.")] = None,
        allow_test_edits: bool = False,
        allow_dirty: bool = False,
        model: ModelArg = None,
        base_url: BaseUrlArg = None,
        resume: Annotated[str | None, Field(description="A killed run's folder.")] = None,
    ) -> RunOutcome | InputRequiredResult:
        """Make a repository's failing tests pass, on a new branch; the user's branch and
        working tree stay as they are. Returns the status, branch, commit, the diff and
        the run folder."""
        root = Path(_path(repo))

        def args() -> list[str]:
            return [str(root), *_options(test_cmd=test_cmd, setup_cmd=setup_cmd,
                    allow_test_edits=allow_test_edits, allow_dirty=allow_dirty)]  # fmt: skip

        return await in_place(ctx, "fix", root, args, resume, model, base_url)

    @server.tool()
    async def batch(
        tasks: Annotated[str, Field(description="A folder of task folders, or a .jsonl.")],
        out: Annotated[str, Field(description="The batch folder (results, report).")],
        ctx: Ctx,
        workers: Annotated[int, Field(ge=1, le=64)] = 2,
        tries: Annotated[int, Field(ge=1, le=10)] = 1,
        max_calls: Annotated[int | None, Field(ge=1, le=10_000)] = None,
        model: ModelArg = None,
        base_url: BaseUrlArg = None,
        resume: bool = False,
    ) -> BatchOutcome | InputRequiredResult:
        """Run every task of a folder in parallel, each in its own sandbox; resumable.
        Returns the summary and the report's paths."""
        folder = Path(_path(out))
        args = ["batch", _path(tasks), "--out", str(folder), "--json",
                *_options(workers=workers, tries=tries, max_calls=max_calls,
                          base_url=base_url, resume=resume)]  # fmt: skip
        done = await with_model(ctx, args, BatchProgress(folder / "tasks"), model)
        if isinstance(done, InputRequiredResult):
            return done
        return BatchOutcome(summary=done.json(), report_md=str(folder / "report.md"),
                            report_html=str(folder / "report.html"))  # fmt: skip

    @server.tool()
    async def report(
        batch_dir: Annotated[str, Field(description="A batch folder.")], ctx: Ctx
    ) -> Report:
        """Render a batch's report (report.md, report.html) from its results."""
        folder = Path(_path(batch_dir))
        await _finished(ctx, ["report", str(folder)])
        return Report(report_md=str(folder / "report.md"),
                      report_html=str(folder / "report.html"))  # fmt: skip

    @server.tool()
    async def show(
        run_dir: Annotated[str, Field(description="A run folder, or a project it ran in.")],
        ctx: Ctx,
        full: Annotated[bool, Field(description="Every prompt, nothing cut.")] = False,
    ) -> Trajectory:
        """A run's trajectory as text: plan, model calls, test runs, edits, the result."""
        done = await _finished(ctx, ["show", _path(run_dir), "--print", *_options(full=full)])
        return Trajectory(text=done.stdout)

    return server


async def _finished(ctx: Ctx, args: list[str], checked: bool = True) -> Outcome:
    """Run greenloop with `args`, a command that asks no model, to its end; when
    `checked`, a ToolError with its message unless it exited 0."""
    done = await drive(Session.start(args, None, client_model=False), ctx)
    assert isinstance(done, Outcome)  # no model, so no sampling request
    if checked and done.code != 0:
        raise ToolError(done.error())
    return done


def _can_sample(ctx: Ctx) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.sampling is not None


_SPECS = Path("~/.cache/greenloop/specs")


def _spec(spec: str | None, text: str | None, out: Path) -> str:
    """The spec's path: the file given, or the text written where a resume finds it."""
    if (spec is None) == (text is None):
        raise ToolError("give spec (a file or task folder) or spec_text (the spec), not both")
    if spec is not None:
        return _path(spec)
    assert text is not None
    from agent.commands.started import digest

    folder = _SPECS.expanduser() / digest(text)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / "spec.md").write_text(text)
    return str(folder / "spec.md")


def _run_outcome(done: Outcome, place: Path) -> RunOutcome:
    result = done.json()
    commit = result.get("commit")
    diff = ""
    if commit:
        status, text, _ = run_git(place, ["diff", f"{commit}~1", str(commit)])
        diff = text if status == 0 else ""
    return RunOutcome(
        status=str(result.get("status")), exit_reason=str(result.get("exit_reason")),
        branch=result.get("branch"), commit=commit, diff=diff,
        run_dir=str(result.get("run_dir", "")), iterations=int(result.get("iterations", 0)),
        tests=dict(result.get("tests") or {}), tokens=dict(result.get("tokens") or {}),
        error=result.get("error"), result=result,
    )  # fmt: skip
