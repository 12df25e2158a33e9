"""Run pytest inside any sandbox and turn what it leaves behind into a `TestReport`.

Shared by `DockerSandbox.run_tests` and `LocalSandbox.run_tests`: build the
command (`pytest_command`), run it with the sandbox's hard timeout, harvest the
JUnit XML through the sandbox's own validated reader, parse it, and attach the
`ExecResult`. Each run writes a fresh `.greenloop/junit-<random>.xml`, so a
report left over from an earlier run is never mistaken for this one.

When pytest writes no report (timeout, crash, a conftest.py that does not
import, bad arguments), the report's `note` says why, and a failure to start
pytest at all is listed as a collection error so that a caller asking
`report.failing_ids` still has something to act on.
"""

from __future__ import annotations

import logging
import re
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from agent.errors import PathRejected
from sandbox.base import ExecResult, TestCase, TestReport
from sandbox.config import SandboxConfig
from sandbox.junit import parse_junit, pytest_command

__all__ = ["JUNIT_DIR", "PytestHost", "run_pytest"]

log = logging.getLogger(__name__)

JUNIT_DIR = ".greenloop"
"""Workspace-relative folder for the reports (pytest creates it; its `.` keeps it uncollected)."""

_EXIT_MEANING = {
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest could not start: a usage error or a conftest.py that does not import",
    5: "no tests were collected",
}
_CONFTEST = re.compile(r"ImportError while loading conftest '([^']+)'")
_TAIL_LINES = 15
_INLINE_REPORT_BYTES = 256 * 1024


class PytestHost(Protocol):
    """What `run_pytest` needs from a sandbox."""

    config: SandboxConfig

    def run(self, cmd: str | Sequence[str], timeout: float) -> ExecResult:
        """Run a command in the workspace with a hard timeout."""
        ...

    def read_optional(self, rel: str) -> bytes | None:
        """A regular file of the workspace, None when absent; raises PathRejected for links."""
        ...


def run_pytest(
    sandbox: PytestHost,
    args: Sequence[str] = (),
    timeout: float = 120.0,
    *,
    root: str | None = None,
) -> TestReport:
    """Run pytest in `sandbox` with `--junitxml` and parse the report.

    `root` is the workspace as pytest sees it (absolute paths in tracebacks are
    made relative to it); by default `sandbox.config.workdir`.
    """
    root = root if root is not None else sandbox.config.workdir
    token = uuid.uuid4().hex[:12]
    junit_rel = f"{JUNIT_DIR}/junit-{token}.xml"
    result, xml = _run_and_print_report(sandbox, f"{root.rstrip('/')}/{junit_rel}", args, timeout)
    refused = ""
    if xml is None:
        try:
            xml = sandbox.read_optional(junit_rel)
        except PathRejected as exc:
            log.warning("JUnit report refused: %s", exc)
            xml, refused = None, f"the JUnit report was refused: {exc}"
    report = _without_xml(result, root, refused) if xml is None else parse_junit(xml, root=root)
    note = report.note
    if result.timed_out:
        note = f"timed out after {timeout:g} s; " + (note or "partial results")
    elif result.exit_code == 5 and not report.tests:
        note = note or _EXIT_MEANING[5]
    return replace(
        report,
        exec=result,
        duration=result.duration,
        timed_out=result.timed_out,
        oom_killed=result.oom_killed,
        note=note,
    )


def _run_and_print_report(
    sandbox: PytestHost, junit_path: str, args: Sequence[str], timeout: float
) -> tuple[ExecResult, bytes | None]:
    """Run pytest and, in the same command, print the report after a one-off marker.

    Saves a second round trip to read the file (the slowest part of a warm run).
    The report comes back only when it is a regular file, not a link, and whole;
    otherwise None, and the caller reads the file the careful way.
    """
    marker = f"@@greenloop-junit-{uuid.uuid4().hex}@@"
    path = shlex.quote(junit_path)
    script = (
        f"{shlex.join(pytest_command(junit_path, args))}; rc=$?; "
        f"if [ -f {path} ] && [ ! -L {path} ]; then "
        f"printf '\\n%s\\n' '{marker}'; head -c {_INLINE_REPORT_BYTES} {path}; fi; exit $rc"
    )
    result = sandbox.run(["sh", "-c", script], timeout)
    before, found, xml = result.output.rpartition(f"\n{marker}\n")
    if not found:
        return result, None
    result = replace(result, output=before)
    whole = xml.rstrip().endswith("</testsuites>") and len(xml) < _INLINE_REPORT_BYTES
    return result, xml.encode() if whole else None


def _without_xml(result: ExecResult, root: str, refused: str) -> TestReport:
    """A report for a run that left no usable XML, explained from the exit code and output."""
    if result.timed_out:
        return TestReport(note=refused or "pytest wrote no JUnit report before the timeout")
    meaning = _EXIT_MEANING.get(result.exit_code, f"pytest exited with code {result.exit_code}")
    note = f"{refused or 'pytest wrote no JUnit report'} ({meaning})"
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
