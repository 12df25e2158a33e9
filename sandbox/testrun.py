"""Run pytest inside any sandbox, judged, and turn what it reports into a `TestReport`.

Shared by `DockerSandbox.run_tests` and `LocalSandbox.run_tests`: disguise the
tests (`sandbox.disguise`), start the judge (`sandbox.judge_parent`, which
starts pytest in `sandbox.judge_child`) with the sandbox's hard timeout, read
its one document off the report channel, parse the JUnit XML in it, and
decide whether the report can be true.

The report never touches the workspace. The judge holds the channel (fd 3
when it starts: Docker's exec stdout, while the command's own stdout and
stderr go to its stderr; local: a pipe of its own) and nothing the code
under test runs in inherits it. The channel counts only when it holds the
judge's one document and the judge exited 0: a judge that was killed or
timed out leaves a lost run (red, with a note), never a verdict; bytes from
anyone else make the run tampered. The report is tampered too when the
judge's runtime audit saw the code the model wrote reach into the judge,
when a test that must fail passed, or when pytest's exit code contradicts
its report. See the README's "What green means".

When pytest writes no report (timeout, crash, a conftest.py that does not
import, bad arguments), the report's `note` says why, and a failure to start
pytest at all is listed as a collection error so that a caller asking
`report.failing_ids` still has something to act on.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Protocol

from sandbox.base import ExecResult, Suite, TestCase, TestReport
from sandbox.config import SandboxConfig
from sandbox.disguise import Disguise, is_test_module
from sandbox.errors import UsageError
from sandbox.junit import MAX_XML_BYTES, parse_junit, pytest_flags

__all__ = [
    "DISGUISE_MAX",
    "JUNIT_DIR",
    "REPORT_FD",
    "PytestHost",
    "check_command",
    "disguised_files",
    "folder_suite",
    "judge_argv",
    "pytest_args",
    "run_pytest",
]

log = logging.getLogger(__name__)

JUNIT_DIR = ".greenloop"
"""Workspace-relative folder for greenloop's own files (its `.` keeps it uncollected)."""
REPORT_FD = 3
"""The file descriptor a report command writes its report to."""
REPORT_CAP = MAX_XML_BYTES * 2
"""The most bytes of report channel a sandbox keeps (more: the channel is dropped)."""

_EXIT_MEANING = {
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest could not start: a usage error or a conftest.py that does not import",
    5: "no tests were collected",
}
_CONFTEST = re.compile(r"ImportError while loading conftest '([^']+)'")
_TAIL_LINES = 15
_STOP_EARLY = ("-x", "--exitfirst", "--maxfail")
DISGUISE_MAX = 400
"""Test files disguised in one run at most (a repository with more: the focus first)."""


class PytestHost(Protocol):
    """What `run_pytest` needs from a sandbox."""

    config: SandboxConfig

    def run_report(self, argv: Sequence[str], timeout: float) -> tuple[ExecResult, bytes | None]:
        """Run `argv` in the workspace with a hard timeout and fd 3 open onto a report
        channel; what came on the channel (None when over `REPORT_CAP`)."""
        ...


@functools.cache
def _program(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def judge_argv(
    args: Sequence[str],
    watch: Sequence[str] = (),
    tests: Mapping[str, str] | None = None,
    focus: Sequence[str] = (),
) -> list[str]:
    """The judge running pytest with `args` (its own report options first), disguising the
    pristine `tests` it finds on disk (checked against their hashes), mutants of `focus`
    first."""
    hashes = {p: hashlib.sha256(t.encode()).hexdigest() for p, t in (tests or {}).items()}
    spec = json.dumps({"watch": sorted(watch), "tests": hashes, "focus": sorted(focus)})
    return [
        "python3", "-S", "-P", "-c", _program("judge_parent.py"), _program("judge_io.py"),
        _program("judge_child.py"),
        _program("disguise_make.py"), spec, *pytest_flags(None, args),
    ]  # fmt: skip


def run_pytest(
    sandbox: PytestHost,
    args: Sequence[str] = (),
    timeout: float = 120.0,
    *,
    root: str | None = None,
    suite: Suite | None = None,
) -> TestReport:
    """Run pytest in `sandbox`, judged, with the tests of `suite` disguised; parse, judge.

    `root` is the workspace as pytest sees it (absolute paths in tracebacks are
    made relative to it); by default `sandbox.config.workdir`.
    """
    root = root if root is not None else sandbox.config.workdir
    suite = suite or Suite()
    tests = disguised_files(suite.tests, suite.focus)
    args = _whole_run(args) if tests else list(args)
    argv = judge_argv(args, sorted(suite.watch), tests, list(suite.focus))
    result, channel = sandbox.run_report(argv, timeout)
    verdict = _read_judge(channel, result)
    return _report(verdict, root, timeout)


def folder_suite(files: Mapping[str, bytes]) -> Suite:
    """A folder's own suite (`greenloop sandbox test`): its test modules disguised, every
    other Python file watched."""
    tests: dict[str, str] = {}
    watch: set[str] = set()
    for path, data in files.items():
        name = PurePosixPath(path).name
        if not name.endswith(".py"):
            continue
        if is_test_module(path):
            try:
                tests[path] = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
        elif name != "conftest.py":
            watch.add(path)
    return Suite(tests, frozenset(watch))


def disguised_files(tests: Mapping[str, str], focus: Collection[str] = ()) -> dict[str, str]:
    """The test files the judge disguises: every Python one, up to `DISGUISE_MAX` (their
    hashes travel in one argument, which the kernel caps at 128 KiB), the files of the
    `focus` tests first."""
    python = sorted(p for p in tests if p.endswith(".py"))
    if len(python) > DISGUISE_MAX:
        files = {f.partition("::")[0] for f in focus}
        python = sorted(python, key=lambda p: p not in files)[:DISGUISE_MAX]
    return {p: tests[p] for p in python}


def _whole_run(args: Sequence[str]) -> list[str]:
    """`args` without the options that stop a run early: the verdict needs every test."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _STOP_EARLY:
            skip = arg == "--maxfail"
        elif not arg.startswith("--maxfail="):
            kept.append(arg)
    return kept


@dataclass(frozen=True)
class _Judged:
    """What the judge's document says, read on the host."""

    result: ExecResult
    xml: bytes | None = None
    forged: str = ""
    hits: tuple[str, ...] = ()
    lost: str = ""
    disguise: Disguise | None = None


def _read_judge(channel: bytes | None, result: ExecResult) -> _Judged:
    """The judge's verdict from the channel; forged when anyone else wrote to it."""
    if channel is None:
        return _Judged(result, forged="the report channel was over its size cap")
    text = channel.strip()
    if result.timed_out or result.exit_code != 0:
        how = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        return _Judged(result, lost=f"the judge {how} before it gave a verdict")
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("judge") != 1:
            raise ValueError("not the judge's document")
        xml = base64.b64decode(doc["junit"], validate=True) if doc.get("junit") else None
        hits = tuple(str(h) for h in doc.get("hits") or ())
        rc = int(doc["rc"])
        disguise = Disguise.of(doc["disguise"]) if doc.get("disguise") else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        return _Judged(
            result,
            forged=f"the report channel held something other than the judge's one document "
            f"({len(text)} bytes): something else wrote to it",
        )
    rc = 128 - rc if rc < 0 else rc
    return _Judged(
        replace(result, exit_code=rc), xml, str(doc.get("forged") or ""), hits,
        str(doc.get("lost") or ""), disguise,
    )  # fmt: skip


def _report(judged: _Judged, root: str, timeout: float) -> TestReport:
    result, disguise = judged.result, judged.disguise
    if judged.xml is not None:
        report = parse_junit(judged.xml, root=root)
    else:
        report = _without_xml(result, root, judged.lost)
    report = replace(report, exec=result)
    why = ""
    if disguise is not None:
        report, why = disguise.judge(report, result.exit_code)
    hit = judged.hits[0] if judged.hits else ""
    tampered = judged.forged if result.timed_out else (judged.forged or hit or why)
    if tampered:
        log.warning("tampered test report: %s", tampered)
    note = report.note
    if result.timed_out:
        note = f"timed out after {timeout:g} s; " + (note or "partial results")
    elif result.exit_code == 5 and not report.tests:
        note = note or _EXIT_MEANING[5]
    return replace(
        report,
        duration=result.duration,
        timed_out=result.timed_out,
        oom_killed=result.oom_killed,
        note=note,
        tampered=tampered,
    )


def _without_xml(result: ExecResult, root: str, why: str) -> TestReport:
    """A report for a run that left no usable XML, explained from the exit code and output
    (`why`: the judge's word on it, if any)."""
    if result.timed_out:
        return TestReport(note=why or "pytest wrote no JUnit report before the timeout")
    meaning = _EXIT_MEANING.get(result.exit_code, f"pytest exited with code {result.exit_code}")
    note = f"{why or 'pytest wrote no JUnit report'} ({meaning})"
    if result.exit_code in (0, 5):
        return TestReport(note=note)
    output = result.output.replace(root.rstrip("/") + "/", "") if root else result.output
    found = _CONFTEST.search(output)
    culprit = TestCase(
        id=found.group(1) if found else "<pytest>",
        outcome="error",
        message=_reason(output) or meaning,
        traceback="\n".join(output.rstrip().splitlines()[-_TAIL_LINES:]),
    )
    return TestReport(collection_errors=(culprit,), note=note)


def _reason(output: str) -> str:
    """The `E` lines of pytest's output (the exception), or its last non-empty line."""
    errors = [line[1:].strip() for line in output.splitlines() if line.startswith("E ")]
    if errors:
        return "\n".join(errors[-5:])
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# ---------------------------------------------------------------- the test command


def check_command(command: str, what: str) -> list[str]:
    """The words of a shell-like command; ValueError (one line, with the fix) when unbalanced."""
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ValueError(
            f"{what} {command!r} cannot be split into words ({exc}): close the quote or "
            "escape it with a backslash"
        ) from None


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
