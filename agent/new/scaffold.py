"""`greenloop new`: a spec (and its tests) in, a green project committed on a branch out.

    prepared = prepare_new(task, settings)     # bad input: raise before touching anything
    result = run_new(prepared, model)          # plan, generate, loop, commit

The run writes `.greenloop/runs/<run-id>/` in the out dir as it goes: the
trajectory after every step, `result.json` from the start (so a killed run
still leaves one) and at the end in `finally`, and the model cassette.
Nothing else in the out dir changes unless there is something to commit.
Only the task's own files may configure the test runner, every acceptance test
must have run, and a green result is confirmed in a fresh sandbox before it is
committed (`agent.run.verdict`); a tampered report ends the run, never committed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import git as gitops
from agent.errors import GreenloopError, UsageError
from agent.model import ChatModel
from agent.new.generate import Generator, make_plan
from agent.new.job import NewJob
from agent.new.js_requirements import extract_js_requirements
from agent.new.native_requirements import extract_go_requirements, extract_rust_requirements
from agent.new.requirements import Requirements, extract_requirements
from agent.run.bench import Bench
from agent.run.budget import Budget, Caller
from agent.run.events import Commit, Files, NotCommitted, PlanChosen, Refused
from agent.run.finish import keep_best, note_outcome, run_trailers
from agent.run.loop import Loop, LoopOutcome, Policy
from agent.run.prepared import PreparedRun
from agent.run.record import (
    Observer,
    Recorder,
    RunDir,
    RunResult,
    exclude_run_records,
    recorded_run,
    save_files,
)
from agent.run.settings import RunSettings
from agent.run.verdict import confirm, expected_tests, fresh_rerun
from agent.task import Task
from sandbox import open_sandbox
from sandbox.paths import refuse_bidi
from sandbox.runner_files import keep_trusted

__all__ = ["PreparedNew", "check_out_dir", "prepare_new", "run_new"]

log = logging.getLogger(__name__)


_Recorder = Recorder[RunResult]
_DIRTY_OUT_FIX = (
    "commit or stash the changes in that folder, or give --out a new folder "
    "(greenloop new does not set work aside)"
)


def check_out_dir(task: Task, out: Path) -> None:
    """Refuse bad output folders before anything is touched."""
    refuse_bidi(out, "--out folder", fix="give --out a name without that character")
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
        gitops.ensure_clean(gitops.open_repo(out), fix=_DIRTY_OUT_FIX)


@dataclass(frozen=True)
class PreparedNew:
    """A `new` run, checked and resolved (`prepare_new`)."""

    task: Task
    out: Path
    """The project folder (a git repository, made if new); the run's record is inside."""
    commit_partial: bool
    common: PreparedRun

    def named(self, model_name: str) -> PreparedNew:
        return dataclasses.replace(self, common=self.common.named(model_name))


def prepare_new(task: Task, settings: RunSettings) -> PreparedNew:
    """Check the out folder and the test command, resolve the run: before anything is touched.
    The out folder is `settings.out`, or greenloop-out/<task name>."""
    out = settings.out or Path("greenloop-out") / task.name
    if task.language != "python" and not task.has_tests:
        raise UsageError(
            f"task {task.name} is {task.language} and has no tests: greenloop writes "
            "acceptance tests in Python only; add them under tests/ (e.g. "
            "tests/x.test.mjs, importing node:test)"
        )
    check_out_dir(task, out)
    run = RunDir(out, settings.run_id)
    common = PreparedRun.of(run, settings, task.config, task.config.test_command)
    return PreparedNew(task, out, settings.commit_partial, common)


def run_new(
    prepared: PreparedNew,
    model: ChatModel,
    observer: Observer | None = None,
    finished: Callable[[Path], object] | None = None,
) -> RunResult:
    """Plan, generate, loop to green in the sandbox, commit; the result is also on disk.
    `finished(run folder)` runs when the record is complete, whatever happened (the CLI
    and the batch write the trajectory page with it)."""
    repo = gitops.open_or_init(prepared.out)
    exclude_run_records(prepared.out)
    run = prepared.common.run
    result = RunResult(
        run_id=run.run_id,
        run_dir=str(run.path),
        model=prepared.common.model_name,
        language=prepared.task.language_shown,
    )
    with recorded_run(run, result, observer, finished) as record:
        outcome, tests = _generate_and_loop(prepared, model, record)
        _finish(result, outcome, tests, prepared, repo, record)
    return result


_EXTRACTORS: dict[str, Callable[..., Requirements]] = {
    "javascript": extract_js_requirements,
    "go": extract_go_requirements,
    "rust": extract_rust_requirements,
}
"""What each toolchain's tests demand of the code (Python's: `extract_requirements`)."""


def _generate_and_loop(
    prepared: PreparedNew, model: ChatModel, record: _Recorder
) -> tuple[LoopOutcome, dict[str, str]]:
    task, common = prepared.task, prepared.common
    budget = Budget(common.limits)
    record.count_from(budget)
    ask = Caller(model, budget, record)
    sandbox_cfg = common.sandbox
    extract = _EXTRACTORS.get(task.language, extract_requirements)
    reqs = extract(task.tests, known_files=task.starter)  # Go's reads go.mod's module
    plan, source = make_plan(ask, task.spec, reqs, task.has_tests)
    record.result.plan_source = source
    record(PlanChosen(source=source, plan=plan.model_dump()))
    generate = Generator(ask, task.spec, plan, task.tests, reqs)
    with open_sandbox(sandbox_cfg) as sandbox:
        files = {**task.starter, **generate(0.0)}
        tests = _screened_tests(generate.all_tests(), task, record)
        expected = expected_tests(tests)
        record.result.tests_generated = not task.has_tests
        record(Files(paths=tuple(sorted(files)), tests=tuple(sorted(tests))))
        job = NewJob(task.spec, task.starter, generate, expected)
        bench = Bench(sandbox, tests, test_args=list(common.test_args),
                      timeout=common.limits.timeout, trusted=task.starter)  # fmt: skip
        policy = Policy(common.limits, common.limits.candidates, common.edit_format, common.prior)
        outcome = Loop(job, ask, bench, policy, record).run(files)
    rerun = fresh_rerun(sandbox_cfg, task.starter, tests, bench.test_args, common.limits.timeout,
                        expected=expected)  # fmt: skip
    return confirm(outcome, rerun, job.is_green, record), tests


def _screened_tests(tests: dict[str, str], task: Task, record: _Recorder) -> dict[str, str]:
    """The acceptance tests as they are; generated ones without runner files (conftest...)."""
    if task.has_tests:
        return tests
    clean, refused = keep_trusted(tests, task.starter)
    if refused:
        record(Refused(files=refused, iteration=0))
    return clean


def _finish(
    result: RunResult,
    outcome: LoopOutcome,
    tests: Mapping[str, str],
    prepared: PreparedNew,
    repo: Any,
    record: _Recorder,
) -> None:
    best = note_outcome(result, outcome)
    if best is None:
        return
    files = {**best.files, **tests}
    keep_best(result, files)
    if outcome.green or (prepared.commit_partial and outcome.exit_reason != "tampered"):
        _commit(result, files, prepared, repo, record)


def _commit(
    result: RunResult,
    files: Mapping[str, str],
    prepared: PreparedNew,
    repo: Any,
    record: _Recorder,
) -> None:
    """Check everything, then commit on the run branch; on any failure the out folder is
    as it was (the branch is gone, the user's checkout back) and the result says why."""
    branch = f"greenloop/{prepared.common.run_id}"
    message, trailers = f"greenloop: {_title(result, prepared.task)}", _trailers(result)
    verdict = result.status, result.exit_reason
    # Until the commit exists, a kill or Ctrl-C must not leave "green" in result.json.
    result.status, result.exit_reason = "error", "interrupted"
    try:
        gitops.check_writable(repo, sorted(files))
        ok, refused = gitops.committable(repo, sorted(files))
        gitops.refuse_secrets({p: files[p] for p in ok})
        if refused:
            record(NotCommitted(files=refused))
        with gitops.work_on_branch(repo, branch, stay=True, dirty_fix=_DIRTY_OUT_FIX):
            save_files(prepared.out, {rel: files[rel] for rel in ok})
            result.commit = gitops.commit_files(repo, ok, message, trailers)
    except GreenloopError as exc:
        result.commit = None
        result.exit_reason, result.error = "not-committed", str(exc)
        record(NotCommitted(error=str(exc)))
        return
    result.status, result.exit_reason = verdict
    result.branch = branch
    record(Commit(branch=branch, sha=result.commit, files=tuple(ok)))


def _title(result: RunResult, task: Task) -> str:
    return task.name if result.status == "green" else f"RED ({result.exit_reason}) {task.name}"


def _trailers(result: RunResult) -> dict[str, str]:
    tests = f"{result.tests.passed} passed" if result.status == "green" else str(result.tests)
    return run_trailers(result, tests)
