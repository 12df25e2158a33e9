"""The verdict's checks on the agent's side: every expected test ran, and green is confirmed.

    expected = expected_tests(acceptance_tests)       # ids read from the test files
    report = with_missing(report, expected)           # an expected test that did not run fails
    outcome = confirm(outcome, rerun, is_green, record)  # a fresh container, pristine files

The sandbox's side (the report channel, the canaries, the exit code) is in
`sandbox.testrun` and `sandbox.canary`; which files the model may not write is
in `sandbox.runner_files`. A green loop is not committed until the same files,
with the pristine tests and configs, pass again in a container of their own:
one the candidate's earlier runs never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from agent.run.candidates import Confirm, TestRun
from agent.run.events import Record
from sandbox import SandboxConfig, open_sandbox
from sandbox.base import Sandbox, TestCase, TestReport
from sandbox.runner_files import judged_suite, keep_trusted
from sandbox.toolchains import expected_tests as all_expected

if TYPE_CHECKING:
    from agent.run.loop import LoopOutcome

__all__ = [
    "NOT_RUN",
    "confirm",
    "expected_tests",
    "fresh_rerun",
    "missing_tests",
    "with_missing",
]

log = logging.getLogger(__name__)

NOT_RUN = "this expected test did not run: something deselected, skipped or hid it"


def expected_tests(tests: Mapping[str, str]) -> frozenset[str]:
    """The ids of the tests the test files define, each read by its toolchain (pytest's
    node ids without parameters; a Python file that does not parse expects itself, its
    collection error then standing for it; a JavaScript file's `path::outer > name`)."""
    return all_expected(tests)


def _ran(expected: str, report: TestReport) -> bool:
    """Reported as run, or its file reported as not collected (that error stands for it)."""
    file = expected.partition("::")[0]
    if any(c.id in (expected, file) for c in report.collection_errors):
        return True
    ids = [t.id for t in report.tests]
    if "::" not in expected:
        return any(i.startswith(expected + "::") for i in ids)
    return any(i == expected or i.startswith(expected + "[") for i in ids)


def missing_tests(report: TestReport, expected: Collection[str]) -> list[str]:
    """The expected tests the report does not show as run (collected and reported)."""
    return sorted(e for e in expected if not _ran(e, report))


def with_missing(report: TestReport, expected: Collection[str]) -> TestReport:
    """`report` with every expected test it lacks added as an error: never green."""
    missing = missing_tests(report, expected)
    if not missing or report.timed_out:
        return report
    log.info("expected tests did not run: %s", ", ".join(missing[:5]))
    added = tuple(TestCase(id=m, outcome="error", message=NOT_RUN) for m in missing)
    return replace(report, tests=(*report.tests, *added))


def confirm(
    outcome: LoopOutcome,
    rerun: Callable[[Mapping[str, str]], TestReport],
    is_green: Callable[[TestReport], bool],
    record: Record,
) -> LoopOutcome:
    """A green outcome, run again by `rerun` (a fresh container, pristine tests and
    configs); still green, or red as `tampered` or `unconfirmed`."""
    if not outcome.green or outcome.best is None:
        return outcome
    report = rerun(outcome.best.files)
    green = not report.tampered and is_green(report)
    record(Confirm.of(TestRun.of(report, green=green)))
    if green:
        return outcome
    reason = "tampered" if report.tampered else "unconfirmed"
    log.warning("the green result did not hold in a fresh sandbox: %s", reason)
    return replace(outcome, green=False, exit_reason=reason)


def fresh_rerun(
    config: SandboxConfig,
    trusted: Mapping[str, str],
    tests: Mapping[str, str],
    args: Collection[str],
    timeout: float,
    *,
    expected: Collection[str] = (),
    wrap: Callable[[Sandbox], Sandbox] | None = None,
    allow_runner: bool = False,
) -> Callable[[Mapping[str, str]], TestReport]:
    """A `rerun` for `confirm`: the files, screened again (unless `allow_runner`), with
    the pristine `tests`, in a new sandbox (`wrap` adds what every write needs, e.g. a
    repository's other files)."""

    def rerun(files: Mapping[str, str]) -> TestReport:
        clean, refused = (dict(files), {}) if allow_runner else keep_trusted(files, trusted, tests)
        if refused:
            log.warning("confirm: refused %s", ", ".join(sorted(refused)))
        suite = judged_suite(clean, trusted, tests, expected)
        with open_sandbox(config) as opened:
            sandbox = wrap(opened) if wrap is not None else opened
            sandbox.write({**clean, **tests})
            report = sandbox.run_tests(list(args), timeout=timeout, suite=suite)
            return with_missing(report, expected)

    return rerun
