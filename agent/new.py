"""`greenloop new`: a spec (and its tests) in, a green project committed on a branch out.

    check_out_dir(task, out)                   # bad input: raise before touching anything
    result = run_new(task, model, options)     # plan, generate, loop, commit

The run writes `.greenloop/runs/<run-id>/` in the out dir as it goes: the
trajectory after every step, `result.json` from the start (so a killed run
still leaves one) and at the end in `finally`, and the model cassette.
Nothing else in the out dir changes unless there is something to commit.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent import gitops
from agent.calls import Budget, Caller
from agent.errors import UsageError
from agent.generate import Generator, make_plan
from agent.loop import RESTART_CANDIDATES, Loop, LoopOutcome
from agent.model import ChatModel
from agent.recorder import Observer, Recorder, exclude_run_records, recorded_run, save_files
from agent.requirements import extract_requirements
from agent.runlog import RunDir
from agent.task import Task
from sandbox import SandboxConfig, open_sandbox
from sandbox.paths import safe_path

__all__ = ["RunOptions", "RunResult", "check_out_dir", "pytest_args", "run_new"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How to run one task."""

    out: Path
    run_id: str
    model_name: str
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    commit_partial: bool = False
    edit_format: str = "search-replace"


@dataclass
class RunResult:
    """What `--json` prints and `result.json` holds."""

    run_id: str
    run_dir: str
    model: str
    status: str = "error"
    """green, red or error."""
    exit_reason: str = "interrupted"
    iterations: int = 0
    tests: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "errors": 0})
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float | None = 0.0
    branch: str | None = None
    commit: str | None = None
    plan_source: str = ""
    tests_generated: bool = False
    files: list[str] = field(default_factory=list)
    history: list[int] = field(default_factory=list)
    malformed: int = 0
    syntax_errors: int = 0
    model_calls: int = 0
    timeouts: int = 0
    candidates: int = 0
    """Candidates tested: the first, each one feedback made, each fresh sample."""
    best_from: str = ""
    """Where the best candidate came from: first, feedback or restart."""
    ways: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per way forward (feedback, restart): requests tried, and how many raised the best."""
    wall: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_Recorder = Recorder[RunResult]


def pytest_args(command: str) -> list[str]:
    """The pytest arguments of a task's test command; other runners are a usage error."""
    words = shlex.split(command)
    for prefix in (["python", "-m", "pytest"], ["python3", "-m", "pytest"], ["pytest"]):
        if words[: len(prefix)] == prefix:
            return words[len(prefix) :]
    raise UsageError(
        f"test command {command!r} is not pytest: set test_command in task.toml to "
        "'python -m pytest [args]'"
    )


def check_out_dir(task: Task, out: Path) -> None:
    """Refuse bad output folders before anything is touched."""
    out = out.resolve()
    root = task.root.resolve()
    is_folder = task.source is None or task.source.name == "spec.md"
    if is_folder and (out == root or root in out.parents):
        raise UsageError(
            f"--out {out} is inside the task folder {root}: choose a folder outside it"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: name a folder")
    if out.is_dir() and not (out / ".git").exists() and any(out.iterdir()):
        raise UsageError(
            f"--out {out} is not empty and not a git repository: "
            "choose a new folder, or run `git init` there and commit its contents first"
        )
    if (out / ".git").exists():
        gitops.ensure_clean(gitops.open_repo(out))
    pytest_args(task.config.test_command)


def run_new(
    task: Task, model: ChatModel, options: RunOptions, observer: Observer | None = None
) -> RunResult:
    """Plan, generate, loop to green in the sandbox, commit; the result is also on disk."""
    check_out_dir(task, options.out)
    repo = gitops.open_or_init(options.out)
    exclude_run_records(options.out)
    run = RunDir(options.out, options.run_id)
    result = RunResult(run_id=run.run_id, run_dir=str(run.path), model=options.model_name)
    with recorded_run(run, result, observer) as record:
        outcome, tests = _generate_and_loop(task, model, options, record)
        _finish(result, outcome, tests, task, repo, options, record)
    return result


def _generate_and_loop(
    task: Task, model: ChatModel, options: RunOptions, record: _Recorder
) -> tuple[LoopOutcome, dict[str, str]]:
    budget = Budget(task.config)
    ask = Caller(model, budget, record)
    limits = task.config.limits
    sandbox_cfg = options.sandbox.model_copy(
        update={"run_id": options.run_id}
        | ({"memory_mb": limits.memory_mb} if limits.memory_mb else {})
        | ({"pids": limits.pids} if limits.pids else {})
    )
    reqs = extract_requirements(task.tests, known_files=list(task.starter))
    plan, source = make_plan(ask, task.spec, reqs, task.has_tests)
    record.result.plan_source = source
    record("plan", source=source, plan=plan.model_dump())
    generate = Generator(ask, task.spec, plan, task.tests, reqs)
    with open_sandbox(sandbox_cfg) as sandbox:
        files = {**task.starter, **generate(0.0)}
        tests = generate.all_tests()
        record.result.tests_generated = not task.has_tests
        record("files", paths=sorted(files), tests=sorted(tests))
        loop = Loop(
            ask=ask,
            sandbox=sandbox,
            spec=task.spec,
            tests=tests,
            fresh=lambda temperature, seed: {**task.starter, **generate(temperature, seed)},
            config=task.config,
            record=record,
            test_args=pytest_args(task.config.test_command),
            edit_format=options.edit_format,
            candidates=RESTART_CANDIDATES,
        )
        return loop.run(files), tests


def _finish(
    result: RunResult,
    outcome: LoopOutcome,
    tests: Mapping[str, str],
    task: Task,
    repo: Any,
    options: RunOptions,
    record: _Recorder,
) -> None:
    result.status = "green" if outcome.green else "red"
    result.exit_reason = outcome.exit_reason
    result.candidates, result.ways = outcome.candidates, outcome.ways
    result.iterations = outcome.iterations  # test runs, the ones of several candidates too
    best = outcome.best
    if best is None:
        return
    result.best_from = best.origin
    result.tests = {
        "passed": best.report.passed,
        "failed": best.report.failed,
        "errors": best.report.errors,
    }
    files = {**best.files, **tests}
    result.files = sorted(files)
    save_files(Path(result.run_dir) / "best", files)
    if outcome.green or options.commit_partial:
        _commit(result, files, task, repo, options, record)


def _commit(
    result: RunResult,
    files: Mapping[str, str],
    task: Task,
    repo: Any,
    options: RunOptions,
    record: _Recorder,
) -> None:
    branch = f"greenloop/{options.run_id}"
    gitops.start_branch(repo, branch)
    gitops.switch_branch(repo, branch)
    result.branch = branch
    for rel, text in files.items():
        target = safe_path(options.out, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    ok, refused = gitops.committable(repo, sorted(files))
    if refused:
        record("not_committed", files=refused)
    title = task.name if result.status == "green" else f"RED ({result.exit_reason}) {task.name}"
    tests = f"{result.tests['passed']} passed"
    if result.status != "green":
        tests += f", {result.tests['failed']} failed, {result.tests['errors']} errors"
    result.commit = gitops.commit_files(
        repo,
        ok,
        f"greenloop: {title}",
        {
            "Greenloop-Run": options.run_id,
            "Model": options.model_name,
            "Tokens": f"{result.tokens['prompt']} prompt, {result.tokens['completion']} completion",
            "Tests": tests,
        },
    )
    record("commit", branch=branch, sha=result.commit, files=ok)
