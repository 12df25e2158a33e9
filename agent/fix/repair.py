"""`greenloop fix`: make an existing repository's failing tests pass, on a branch.

    prepared = prepare_fix(root, RunSettings(...))   # the repository checked, HEAD read
    result = run_fix(prepared, model)                # baseline, loop, commit

The user's work comes first. A dirty tree is refused unless `allow_dirty`. The
run reads the files of HEAD (never the working tree) and works on a copy in
the sandbox; the user's checkout is touched only to commit a green result, on
`greenloop/fix-<run-id>` made from the HEAD the run started from, inside
`gitops.work_on_branch`, which sets the user's uncommitted work aside and puts
it back exactly, and always returns them to their branch.

The tests that fail twice at the start are the targets; those that change
outcome on an immediate rerun are flaky (reported, not targets); those that
passed must still pass. Test files, new files among them and files that
configure the test runner (`sandbox.runner_files`) are protected unless
`allow_test_edits`; a green result is run again in a fresh sandbox from HEAD's
tests and configs before it is committed (`agent.run.verdict`). A
missing third-party package ends the run before any model call: it needs
`--setup-cmd`, not code. The feedback prompt shows the failures, the code they
run (localized afresh for each prompt: `agent.fix.context`), and the repo map
of the rest, within `context_tokens`.

A JavaScript or TypeScript repository (`agent.fix.detect`: package.json's node:test
script) runs in the JavaScript toolchain: the files importing `node:test` are tests
too, the baseline runs the judge's suite, a missing npm package stops the run as a
missing Python one does (`--setup-cmd 'npm ci'`), and the prompts, fences and
localization (`agent.fix.js_localize`) are the repository's language's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from git import Blob, Repo

from agent import git as gitops
from agent.edits import FORMATS
from agent.errors import GitError, UsageError
from agent.fix.baseline import (
    Baseline,
    fixed_targets,
    missing_node_packages,
    missing_packages,
    run_baseline,
)
from agent.fix.context import Localizer
from agent.fix.detect import DetectedTests, detect_test_command, detect_tests
from agent.fix.job import FixJob, FixPrompt, fix_green
from agent.fix.repomap import TagCache, is_test_path
from agent.languages import Language, language_of
from agent.model import ChatModel
from agent.run.bench import Bench
from agent.run.budget import Budget, Caller
from agent.run.events import BaselineRun, Commit, NotCommitted
from agent.run.finish import keep_best, note_outcome, run_trailers
from agent.run.loop import Loop, LoopOutcome, Policy
from agent.run.prepared import PreparedRun
from agent.run.record import (
    RUNS_DIR,
    FixResult,
    Observer,
    Recorder,
    RunDir,
    check_records_home,
    exclude_run_records,
    recorded_run,
    save_files,
)
from agent.run.settings import RunSettings
from agent.run.verdict import confirm, fresh_rerun
from sandbox import SandboxConfig, open_sandbox
from sandbox.base import Sandbox, Suite
from sandbox.packages import THIRD_PARTY
from sandbox.runner_files import judged_suite
from sandbox.setup import RepoSandbox
from sandbox.toolchains import Toolchain, toolchain
from sandbox.toolchains.python import PYTHON

__all__ = [
    "DetectedTests",
    "PreparedFix",
    "detect_test_command",
    "detect_tests",
    "prepare_fix",
    "run_fix",
]

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 256 * 1024
"""Larger files go into the sandbox but are not offered to the model for editing."""


# ---------------------------------------------------------------- the repository


@dataclass(frozen=True)
class _Snapshot:
    """HEAD's files: what the model may edit, what it may not, and everything else."""

    sha: str
    code: dict[str, str]
    tests: dict[str, str]
    other: dict[str, bytes]

    def local_names(self) -> set[str]:
        """Modules a test could import from the repository itself."""
        names: set[str] = set()
        for path in (*self.code, *self.tests, *self.other):
            parts = PurePosixPath(path).parts
            names.update(PurePosixPath(p).stem for p in parts)
        return names


def _is_test(path: str, text: str, chain: Toolchain) -> bool:
    """A test file or a helper beside the tests; also any file the repository's runner
    runs as tests (in a JavaScript repository, one that imports node's runner)."""
    return is_test_path(path) or chain.protects(path, text)


def _snapshot(repo: Repo, allow_test_edits: bool, chain: Toolchain = PYTHON) -> _Snapshot:
    commit = repo.commit(gitops.head_sha(repo))
    code: dict[str, str] = {}
    tests: dict[str, str] = {}
    other: dict[str, bytes] = {}
    for item in commit.tree.traverse():
        if not isinstance(item, Blob) or item.mode == 0o120000:  # links stay out of the sandbox
            continue
        path = str(item.path)
        data: bytes = item.data_stream.read()
        try:
            text = data.decode("utf-8") if len(data) <= MAX_TEXT_BYTES else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            other[path] = data
        elif _is_test(path, text, chain) and not allow_test_edits:
            tests[path] = text
        else:
            code[path] = text
    return _Snapshot(commit.hexsha, code, tests, other)


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class PreparedFix:
    """A `fix` run, checked and resolved (`prepare_fix`): the repository and HEAD's files."""

    repo: Repo
    snapshot: _Snapshot
    test_command: str
    why: str
    """How the test command was found (said to the user)."""
    settings: RunSettings
    """The command's own options: setup command, test edits, dirty tree, context tokens."""
    common: PreparedRun

    @property
    def toolchain(self) -> str:
        """The toolchain whose runner judges the tests (`sandbox.toolchains`)."""
        return self.common.limits.language or "python"

    @property
    def javascript(self) -> bool:
        """Node's runner judges the tests (`sandbox.toolchains.javascript`)."""
        return self.toolchain == "javascript"

    @property
    def root(self) -> Path:
        return Path(str(self.repo.working_tree_dir))

    def named(self, model_name: str) -> PreparedFix:
        return dataclasses.replace(self, common=self.common.named(model_name))


def prepare_fix(
    root: Path, settings: RunSettings, warn: Callable[[Repo], object] | None = None
) -> PreparedFix:
    """Check the repository (a commit, no leftover fix branch, clean unless allowed, no
    tracked records), find the test command (the settings', else detected), read HEAD.
    `warn(repo)` runs once the repository is known to be one a run could start in, before
    its tree is judged (the CLI names the work a killed run set aside there)."""
    repo = gitops.open_repo(root)
    root = Path(str(repo.working_tree_dir))
    gitops.head_sha(repo)  # no commit yet: a usage error before anything else
    gitops.refuse_leftovers(repo, "greenloop/fix-")
    if warn is not None:
        warn(repo)
    if not settings.allow_dirty:
        gitops.ensure_clean(repo)
    found = detect_tests(root, settings.test_command)
    command, why = found.command, found.why
    snapshot = _snapshot(repo, settings.allow_test_edits, toolchain(found.language))
    _refuse_tracked_records(snapshot)
    _refuse_build_scripts(snapshot, found.language)
    check_records_home(root)
    limits = settings.config.model_copy(
        update={"test_command": command, "language": found.language}
    )
    common = PreparedRun.of(RunDir(root, settings.run_id), settings, limits, command)
    return PreparedFix(repo, snapshot, command, why, settings, common)


def run_fix(
    prepared: PreparedFix,
    model: ChatModel,
    observer: Observer | None = None,
    finished: Callable[[Path], object] | None = None,
) -> FixResult:
    """Baseline, loop to green in the sandbox, commit on the fix branch; also on disk.
    `finished(run folder)` runs when the record is complete, whatever happened."""
    exclude_run_records(prepared.root)
    run = prepared.common.run
    result = FixResult(run_id=run.run_id, run_dir=str(run.path), model=prepared.common.model_name,
                       language=prepared.common.limits.language or "python")  # fmt: skip
    with recorded_run(run, result, observer, finished) as record:
        _run(prepared, model, record)
    return result


def _refuse_build_scripts(snapshot: _Snapshot, language: str) -> None:
    """A Rust crate with a build script cannot be judged: the sandbox builds where nothing
    may be executed (`sandbox.cargo_judge`), so its tests would never build, and every
    model call would be spent on a repository no edit can turn green."""
    scripts = sorted(
        p for p in (*snapshot.code, *snapshot.other)
        if PurePosixPath(p).name == "build.rs" and "vendor" not in PurePosixPath(p).parts
    )  # fmt: skip
    if language == "rust" and scripts:
        raise UsageError(
            f"the crate has a build script ({scripts[0]}): greenloop's Rust sandbox runs none "
            "(nothing the build writes may be executed there), so its tests cannot build",
            fix=f"if {scripts[0]} is not needed by the tests (e.g. it only probes old "
            "compilers), remove it and its `build` key from Cargo.toml in a commit, then run "
            "greenloop fix again",
        )


def _refuse_tracked_records(snapshot: _Snapshot) -> None:
    """A repository that tracks `.greenloop/` brings records (and a repo-map cache) of its
    own choosing: greenloop would read them as its own and write over tracked files."""
    home = RUNS_DIR.parts[0]
    tracked = sorted(
        p for p in (*snapshot.code, *snapshot.tests, *snapshot.other)
        if PurePosixPath(p).parts[0] == home
    )  # fmt: skip
    if tracked:
        raise UsageError(
            f"the repository tracks {tracked[0]} ({len(tracked)} file(s) under {home}/): "
            "greenloop keeps its own run records there",
            fix=f"git rm -r --cached {home} && git commit, then run greenloop fix again",
        )


@contextmanager
def _sandbox(run: PreparedFix) -> Iterator[tuple[Sandbox, SandboxConfig]]:
    """The test sandbox, and its config (for the fresh one that confirms a green result)."""
    snapshot, settings, config = run.snapshot, run.settings, run.common.sandbox
    if settings.setup_command:
        from sandbox.setup import prepared

        files = snapshot.other | _encode(snapshot)
        with prepared(config, files, settings.setup_command) as ready, open_sandbox(ready) as inner:
            yield _repo_sandbox(run, ready)(inner), ready
        return
    with open_sandbox(config) as inner:
        yield RepoSandbox(inner, snapshot.other), config


def _repo_sandbox(run: PreparedFix, config: SandboxConfig) -> Callable[[Sandbox], RepoSandbox]:
    """How every sandbox of the run is wrapped: the repository's other files, and for node
    after a setup step, `node_modules` linked to what the step installed."""
    links: dict[str, str] = {}
    if run.javascript and config.shared_volume is not None:
        links["node_modules"] = f"{config.shared_dir}/node_modules"
    return lambda inner: RepoSandbox(inner, run.snapshot.other, links)


def _encode(snapshot: _Snapshot) -> dict[str, bytes]:
    return {p: t.encode() for p, t in {**snapshot.code, **snapshot.tests}.items()}


def _run(prepared: PreparedFix, model: ChatModel, record: Recorder[FixResult]) -> None:
    result: FixResult = record.result
    snapshot, common = prepared.snapshot, prepared.common
    args, timeout = list(common.test_args), common.limits.timeout
    with _sandbox(prepared) as (sandbox, config):
        sandbox.write({**snapshot.code, **snapshot.tests})
        baseline = run_baseline(sandbox, args, timeout, _baseline_suite(prepared))
        _note_baseline(baseline, record)
        if _stop_before_model(baseline, snapshot, result, prepared.toolchain):
            return
        budget = Budget(common.limits)
        record.count_from(budget)
        outcome = _loop(sandbox, prepared, baseline, model, record, budget)
        rerun = fresh_rerun(config, snapshot.code, snapshot.tests, args, timeout,
                            wrap=_repo_sandbox(prepared, config),
                            allow_runner=prepared.settings.allow_test_edits,
                            expected=baseline.targets)  # fmt: skip
        outcome = confirm(outcome, rerun, partial(fix_green, baseline), record)
    _finish(prepared, baseline, outcome, record)


def _baseline_suite(prepared: PreparedFix) -> Suite | None:
    """What a judge other than pytest's runs (only the tests it is given); pytest
    collects its own."""
    if prepared.toolchain == "python":
        return None
    code, tests = prepared.snapshot.code, prepared.snapshot.tests
    return judged_suite(code, code, tests)


def _note_baseline(baseline: Baseline, record: Recorder[FixResult]) -> None:
    report = baseline.report
    record.result.flaky = sorted(baseline.flaky)
    record.result.tests = report.counts
    record(
        BaselineRun(
            passed=report.passed,
            failed=report.failed,
            errors=report.errors,
            targets=tuple(sorted(baseline.targets)),
            flaky=tuple(sorted(baseline.flaky)),
            note=report.note,
        )
    )


def _stop_before_model(
    baseline: Baseline, snapshot: _Snapshot, result: FixResult, chain: str = "python"
) -> bool:
    """Green already, a tampered report, or missing packages: end with no model call."""
    if baseline.report.tampered:
        result.status, result.exit_reason = "red", "tampered"
        result.error = f"the repository's own test run is tampered: {baseline.report.tampered}"
        return True
    if baseline.green:
        result.status, result.exit_reason = "green", "nothing-to-fix"
        return True
    if not baseline.targets:
        raise UsageError(
            f"the test command ran no tests ({baseline.report.note or 'nothing collected'}): "
            "check --test-cmd"
        )
    if chain == "javascript":
        return _stop_for_npm(missing_node_packages(baseline.report), result)
    if chain != "python":
        return False  # a missing Go module or crate is a build error the report shows
    missing = missing_packages(baseline.report, snapshot.local_names())
    install = " ".join(str(THIRD_PARTY.get(m) or m) for m in sorted(missing))
    return _stop_missing(
        missing,
        result,
        "import third-party packages",
        f"--setup-cmd 'pip install -e .' or --setup-cmd 'pip install {install}'",
    )


def _stop_for_npm(missing: Mapping[str, list[str]], result: FixResult) -> bool:
    names = " ".join(sorted(missing))
    return _stop_missing(
        missing,
        result,
        "need npm packages",
        f"--setup-cmd 'npm ci' (the lockfile's dependencies) or --setup-cmd 'npm install {names}'",
    )


def _stop_missing(
    missing: Mapping[str, list[str]], result: FixResult, need: str, setups: str
) -> bool:
    """End the run on packages the tests `need` and the sandbox lacks: an error naming
    the `setups` that install them (no model call: it is not a bug in the code)."""
    if not missing:
        return False
    names = sorted(missing)
    result.missing = names
    result.status, result.exit_reason = "error", "missing-dependency"
    result.error = (
        f"the tests {need} the sandbox does not have: {', '.join(names)} (needed by "
        f"{', '.join(next(iter(missing.values()))[:3])}); this is not a bug to fix in the "
        f"code: install them with --setup-cmd, e.g. {setups}"
    )
    return True


def _language(prepared: PreparedFix) -> Language | None:
    """The tests' language (TypeScript before JavaScript where both are); None for
    Python (the default)."""
    if prepared.toolchain == "python":
        return None
    found = [language_of(p) for p in sorted(prepared.snapshot.tests)]
    mine = [f for f in found if f is not None and f.toolchain == prepared.toolchain]
    names = {f.name: f for f in mine}
    first = names.get("TypeScript") or next(iter(names.values()), None)
    return first or language_of("any" + toolchain(prepared.toolchain).extensions[0])


def _loop(
    sandbox: Sandbox,
    prepared: PreparedFix,
    baseline: Baseline,
    model: ChatModel,
    record: Recorder[FixResult],
    budget: Budget,
) -> LoopOutcome:
    snapshot, settings, common = prepared.snapshot, prepared.settings, prepared.common
    ask = Caller(model, budget, record)
    cache = TagCache(Path(record.run.path).parents[1] / "cache" / "repomap-tags.json")
    spectrum_host = sandbox if prepared.toolchain == "python" else None  # coverage: pytest's
    localizer = Localizer(spectrum_host, original=snapshot.code, tests=snapshot.tests,
                          flaky=baseline.flaky, timeout=common.limits.timeout,
                          record=record, cache=cache,
                          toolchain=prepared.toolchain)  # fmt: skip
    prompt = FixPrompt(baseline, settings.context_tokens, localizer, _language(prepared))
    job = FixJob(ask, prompt, baseline, snapshot.code, snapshot.tests,
                 FORMATS[common.edit_format], settings.allow_test_edits)  # fmt: skip
    bench = Bench(sandbox, snapshot.tests, test_args=list(common.test_args),
                  timeout=common.limits.timeout, trusted=snapshot.code,
                  allow_runner=settings.allow_test_edits)  # fmt: skip
    policy = Policy(common.limits, edit_format=common.edit_format)
    loop = Loop(job, ask, bench, policy, record)
    loop.seed(dict(snapshot.code), baseline.report)
    try:
        return loop.run(None)
    finally:
        cache.save()


def _finish(
    prepared: PreparedFix, baseline: Baseline, outcome: LoopOutcome, record: Recorder[FixResult]
) -> None:
    result: FixResult = record.result
    best = note_outcome(result, outcome)
    if best is None:
        return
    result.fixed = fixed_targets(baseline.targets, best.report)
    changed = {p: t for p, t in best.files.items() if prepared.snapshot.code.get(p) != t}
    keep_best(result, changed)
    if outcome.green and changed:
        _commit(prepared, changed, record)


def _commit(prepared: PreparedFix, changed: Mapping[str, str], record: Recorder[FixResult]) -> None:
    result: FixResult = record.result
    repo, snapshot = prepared.repo, prepared.snapshot
    if gitops.head_sha(repo) != snapshot.sha:
        raise GitError(
            f"HEAD moved during the run (it was {snapshot.sha[:10]}): the fix was not "
            f"committed; it is saved in {result.run_dir}/best"
        )
    branch = f"greenloop/fix-{prepared.common.run_id}"
    root = Path(str(repo.working_tree_dir))
    # No keep_paths: `.greenloop/` is ignored through .git/info/exclude, so it is never the
    # user's work, and naming an ignored path in `git stash push`'s pathspec makes git refuse.
    dirty = prepared.settings.allow_dirty
    with gitops.work_on_branch(repo, branch, allow_dirty=dirty, keep_paths=()):
        save_files(root, changed)
        ok, refused = gitops.committable(repo, sorted(changed))
        if refused:
            record(NotCommitted(files=refused))
        result.commit = gitops.commit_files(
            repo, ok, f"greenloop fix: {len(result.fixed)} failing test(s) pass", _trailers(result)
        )
        result.branch = branch
    record(Commit(branch=branch, sha=result.commit, files=tuple(ok)))


def _trailers(result: FixResult) -> dict[str, str]:
    return (
        run_trailers(result, f"{result.tests.passed} passed")
        | {"Fixed": ", ".join(result.fixed)}
        | ({"Flaky": ", ".join(result.flaky)} if result.flaky else {})
    )
