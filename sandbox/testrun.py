"""Run pytest inside any sandbox and turn what it reports into a `TestReport`.

Shared by `DockerSandbox.run_tests` and `LocalSandbox.run_tests`: build the
command, run it with the sandbox's hard timeout, parse the JUnit XML, judge the
canaries (`sandbox.canary`) and attach the `ExecResult`.

The report never touches the workspace: pytest writes it to `/dev/fd/3`, a
channel the sandbox opens for this one command and reads on the host apart from
the command's output (Docker: the exec's stdout, while the command's own stdout
and stderr go to its stderr; local: a pipe of its own). A test that prints a
report only adds to the output; code that rewrites "the report file" when the
process exits only adds a second document to the channel, and a channel holding
more than the one report pytest wrote is tampered. The channel is not secret from the code under
test (it runs in the same process and could write to it), so the canaries and
the exit code are checked as well: see the README's "What the verdict promises".

When pytest writes no report (timeout, crash, a conftest.py that does not
import, bad arguments), the report's `note` says why, and a failure to start
pytest at all is listed as a collection error so that a caller asking
`report.failing_ids` still has something to act on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from sandbox.base import ExecResult, TestCase, TestReport
from sandbox.canary import Canaries, make_canaries
from sandbox.config import SandboxConfig
from sandbox.junit import MAX_XML_BYTES, parse_junit, pytest_flags

__all__ = ["JUNIT_DIR", "REPORT_FD", "PytestHost", "run_pytest"]

log = logging.getLogger(__name__)

JUNIT_DIR = ".greenloop"
"""Workspace-relative folder for greenloop's own files (its `.` keeps it uncollected)."""
REPORT_FD = 3
"""The file descriptor a report command writes its report to."""
REPORT_CAP = MAX_XML_BYTES
"""The most bytes of report channel a sandbox keeps (more: the channel is dropped)."""

_EXIT_MEANING = {
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest could not start: a usage error or a conftest.py that does not import",
    5: "no tests were collected",
}
_CONFTEST = re.compile(r"ImportError while loading conftest '([^']+)'")
_TAIL_LINES = 15


class PytestHost(Protocol):
    """What `run_pytest` needs from a sandbox."""

    config: SandboxConfig

    def run_report(
        self, argv: Sequence[str], timeout: float
    ) -> tuple[ExecResult, bytes | None]:
        """Run `argv` in the workspace with a hard timeout and fd 3 open onto a report
        channel; what came on the channel (None when over `REPORT_CAP`)."""
        ...


def run_pytest(
    sandbox: PytestHost,
    args: Sequence[str] = (),
    timeout: float = 120.0,
    *,
    root: str | None = None,
) -> TestReport:
    """Run pytest in `sandbox` with its report on the channel, canaries added; parse, judge.

    `root` is the workspace as pytest sees it (absolute paths in tracebacks are
    made relative to it); by default `sandbox.config.workdir`.
    """
    root = root if root is not None else sandbox.config.workdir
    canaries = make_canaries()
    result, channel = sandbox.run_report(_argv(canaries, args), timeout)
    xml, forged = _one_report(channel, result)
    if xml is not None:
        report = parse_junit(xml, root=root)
    else:
        unusable = "over the size cap" if channel is None else ("cut off" if channel else "")
        report = _without_xml(result, root, unusable)
    report, tampered = canaries.judge(report, result.exit_code)
    tampered = forged or ("" if result.timed_out else tampered)
    if tampered:
        log.warning("tampered test report: %s", tampered)
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
        tampered=tampered,
    )


def _argv(canaries: Canaries, args: Sequence[str]) -> list[str]:
    """pytest with its report on the channel and the canaries added."""
    return canaries.argv(pytest_flags(f"/dev/fd/{REPORT_FD}", args))


def _one_report(channel: bytes | None, result: ExecResult) -> tuple[bytes | None, str]:
    """The report pytest wrote, and why the channel is forged ("" when it is not).

    pytest writes one document and closes it; anything before or after it came
    from somewhere else. A cut-off document (timeout, over the cap) is no report.
    """
    text = (channel or b"").strip()
    if not text:
        return None, ""
    documents = text.count(b"<testsuites")
    whole = text.endswith(b"</testsuites>")
    starts = text.startswith((b"<?xml", b"<testsuites"))
    if documents == 1 and whole and starts and text.count(b"<?xml") <= 1:
        return text, ""
    if documents <= 1 and (result.timed_out or not whole):
        return None, ""
    return None, (
        f"the report channel held more than pytest's one report ({documents} report(s), "
        f"{len(text)} bytes): something else wrote to it"
    )


def _without_xml(result: ExecResult, root: str, unusable: str) -> TestReport:
    """A report for a run that left no usable XML, explained from the exit code and output."""
    why = f"the JUnit report was {unusable}" if unusable else ""
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
