"""`greenloop new`: a spec (and its tests) in, a green project committed on a branch out.

    check_out_dir(task, out)                   # bad input: raise before touching anything
    result = run_new(task, model, options)     # plan, generate, loop, commit

The run writes `.greenloop/runs/<run-id>/` in the out dir as it goes: the
trajectory after every step, `result.json` from the start (so a killed run
still leaves one) and at the end in `finally`, and the model cassette.
Nothing else in the out dir changes unless there is something to commit.
Only the task's own files may configure the test runner, every acceptance test
must have run, and a green result is confirmed in a fresh sandbox before it is
committed (`agent.verdict`); a tampered report ends the run, never committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent import gitops
from agent.calls import Budget, Caller
from agent.errors import GreenloopError, UsageError
from agent.generate import Generator, make_plan
from agent.loop import RESTART_CANDIDATES, Loop, LoopOutcome
from agent.model import ChatModel
from agent.recorder import Observer, Recorder, exclude_run_records, recorded_run, save_files
from agent.requirements import extract_requirements
from agent.runlog import RunDir
from agent.runner_files import keep_trusted
from agent.task import Task, check_command
from agent.verdict import confirm, expected_tests, fresh_rerun, with_missing
from sandbox import SandboxConfig, open_sandbox

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
    try:
        words = check_command(command, "test command")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
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
    record.count_from(budget)
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
        tests = _screened_tests(generate.all_tests(), task, record)
        expected = expected_tests(tests)
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
            trusted=task.starter,
            expected=lambda report: with_missing(report, expected),
        )
        outcome = loop.run(files)
    rerun = fresh_rerun(sandbox_cfg, task.starter, tests, loop.test_args, task.config.timeout,
                        expected=expected)  # fmt: skip
    return confirm(outcome, rerun, lambda report: report.green, record), tests


def _screened_tests(tests: dict[str, str], task: Task, record: _Recorder) -> dict[str, str]:
    """The acceptance tests as they are; generated ones without runner files (conftest...)."""
    if task.has_tests:
        return tests
    clean, refused = keep_trusted(tests, task.starter)
    if refused:
        record("refused", files=refused, iteration=0)
    return clean


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
    if outcome.green or (options.commit_partial and outcome.exit_reason != "tampered"):
        _commit(result, files, task, repo, options, record)


def _commit(
    result: RunResult,
    files: Mapping[str, str],
    task: Task,
    repo: Any,
    options: RunOptions,
    record: _Recorder,
) -> None:
    """Check everything, then commit on the run branch; on any failure the out folder is
    as it was (the branch is gone, the user's checkout back) and the result says why."""
    branch = f"greenloop/{options.run_id}"
    message, trailers = f"greenloop: {_title(result, task)}", _trailers(result, options)
    verdict = result.status, result.exit_reason
    # Until the commit exists, a kill or Ctrl-C must not leave "green" in result.json.
    result.status, result.exit_reason = "error", "interrupted"
    try:
        gitops.check_writable(repo, sorted(files))
        ok, refused = gitops.committable(repo, sorted(files))
        gitops.refuse_secrets({p: files[p] for p in ok})
        if refused:
            record("not_committed", files=refused)
        with gitops.work_on_branch(repo, branch, stay=True):
            save_files(options.out, {rel: files[rel] for rel in ok})
            result.commit = gitops.commit_files(repo, ok, message, trailers)
    except GreenloopError as exc:
        result.commit = None
        result.exit_reason, result.error = "not-committed", str(exc)
        record("not_committed", error=str(exc))
        return
    result.status, result.exit_reason = verdict
    result.branch = branch
    record("commit", branch=branch, sha=result.commit, files=ok)


def _title(result: RunResult, task: Task) -> str:
    return task.name if result.status == "green" else f"RED ({result.exit_reason}) {task.name}"


def _trailers(result: RunResult, options: RunOptions) -> dict[str, str]:
    tests = f"{result.tests['passed']} passed"
    if result.status != "green":
        tests += f", {result.tests['failed']} failed, {result.tests['errors']} errors"
    return {
        "Greenloop-Run": options.run_id,
        "Model": options.model_name,
        "Tokens": f"{result.tokens['prompt']} prompt, {result.tokens['completion']} completion",
        "Tests": tests,
    }
