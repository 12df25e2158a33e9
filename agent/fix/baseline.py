"""The starting point of a fix: which tests fail for real, which are flaky, what is missing.

    baseline = run_baseline(sandbox, args, timeout)
    baseline.targets     # failed twice in a row: the tests to fix
    baseline.flaky       # changed outcome between two runs of the same code: reported only
    baseline.must_pass   # passed both times: must still pass before anything is committed
    missing_packages(baseline, local_names)   # third-party imports the sandbox lacks
    missing_node_packages(baseline.report)    # npm packages node cannot find

A test that fails and then passes on an immediate rerun with no change (or the
other way round) is flaky; it is neither a target nor a regression guard.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from agent.errors import SandboxError
from sandbox.base import Sandbox, Suite, TestReport

__all__ = [
    "Baseline",
    "fixed_targets",
    "is_fixed",
    "missing_node_packages",
    "missing_packages",
    "run_baseline",
]

log = logging.getLogger(__name__)

_NO_MODULE = re.compile(r"No module named '([A-Za-z0-9_.]+)'")
_NO_NODE_PACKAGE = re.compile(r"Cannot find (?:package|module) '([^'\s]+)'")


def _passed(report: TestReport) -> frozenset[str]:
    return frozenset(t.id for t in report.tests if t.outcome == "passed")


@dataclass(frozen=True)
class Baseline:
    """Two runs of the untouched repository, compared."""

    report: TestReport
    """The first run."""
    targets: frozenset[str]
    flaky: frozenset[str]
    must_pass: frozenset[str]
    reruns: int = 0

    @property
    def green(self) -> bool:
        """Nothing to fix: no test fails twice in a row."""
        return not self.targets and self.report.passed + len(self.flaky) > 0


def run_baseline(
    sandbox: Sandbox, args: Sequence[str], timeout: float, suite: Suite | None = None
) -> Baseline:
    """Run the tests of the files already written; when some fail, rerun them once as they
    are (`suite`: the judge's view, for a toolchain that runs only the tests it names)."""
    first = sandbox.run_tests(args, timeout=timeout, suite=suite)
    if first.green:
        return Baseline(first, frozenset(), frozenset(), _passed(first))
    second = sandbox.run_tests(args, timeout=timeout, suite=suite)
    if first.tests and not second.tests and not second.timed_out:
        # A rerun that reports no test at all (the engine under load returned early) would
        # make every passed test "flaky" and the baseline green: it is a glitch, not flakiness.
        log.warning("the baseline rerun reported no tests (%s): running it again", second.note)
        second = sandbox.run_tests(args, timeout=timeout, suite=suite)
    failed_once = first.failing_ids | second.failing_ids
    failed_twice = first.failing_ids & second.failing_ids
    passed_once = _passed(first) | _passed(second)
    passed_twice = _passed(first) & _passed(second)
    flaky = (failed_once - failed_twice) & passed_once | (passed_once - passed_twice)
    if flaky:
        log.info("flaky: %s", ", ".join(sorted(flaky)))
    if first.tests and not second.tests:
        raise SandboxError(
            f"the tests ran once, then reported nothing twice ({second.note or 'no report'}): "
            "the sandbox is not answering reliably; check `greenloop doctor` and run again"
        )
    return Baseline(first, failed_twice - flaky, frozenset(flaky), passed_twice, reruns=1)


def is_fixed(target: str, report: TestReport) -> bool:
    """The target passes; a file that did not collect counts once its tests pass."""
    passed = _passed(report)
    if target in passed:
        return True
    if target in report.failing_ids or "::" in target:
        return False
    return any(p.startswith(target + "::") for p in passed)


def fixed_targets(targets: Collection[str], report: TestReport) -> list[str]:
    """The targets that pass in `report`, sorted."""
    return sorted(t for t in targets if is_fixed(t, report))


def missing_packages(report: TestReport, local_names: Collection[str]) -> dict[str, list[str]]:
    """Top-level modules the failing tests cannot import and the repository does not hold,
    each with the tests that need it: a dependency to install, not code to edit."""
    missing: dict[str, list[str]] = {}
    for case in (*report.collection_errors, *report.tests):
        if case.outcome not in ("failed", "error"):
            continue
        for module in _NO_MODULE.findall(f"{case.message}\n{case.traceback}"):
            top = module.split(".")[0]
            if top not in local_names:
                missing.setdefault(top, [])
                if case.id not in missing[top]:
                    missing[top].append(case.id)
    return missing


def missing_node_packages(report: TestReport) -> dict[str, list[str]]:
    """npm packages node could not find (`Cannot find package 'x'`, `Cannot find module
    'x'`), each with the failing tests or files that need it: a dependency to install
    (`npm ci`), not code to edit. A relative path or a builtin is never a package."""
    failing = [c for c in (*report.collection_errors, *report.tests)
               if c.outcome in ("failed", "error")]  # fmt: skip
    texts = [(c.id, f"{c.message}\n{c.traceback}") for c in failing]
    if report.exec is not None and failing:
        # a file that fails to load reports nothing: node said why on its stderr
        texts.append((failing[0].id, report.exec.output))
    missing: dict[str, list[str]] = {}
    for where, text in texts:
        for specifier in _NO_NODE_PACKAGE.findall(text):
            if specifier.startswith((".", "/", "node:", "file:")):
                continue
            parts = specifier.split("/")
            name = "/".join(parts[:2]) if specifier.startswith("@") else parts[0]
            needed = missing.setdefault(name, [])
            if where not in needed:
                needed.append(where)
    return missing
