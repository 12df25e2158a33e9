"""The bench the loop tests on: the mechanics of a test run, apart from the loop's policy.

    bench = Bench(sandbox, tests, test_args=args, trusted=starter)
    kept, refused = bench.screen(files)          # runner files the model may not write, out
    report = bench.seen(files)                   # the report the same files got, if any
    report = bench.run_alone(files, focus)       # reset, write with the pristine tests, judge
    reports = bench.run_together(many, focus)    # several in one exec, each in its folder

The loop (`agent.run.loop`) decides what to test and what to do with the reports;
the bench knows how: the workspace reset and written afresh for every run, the
judge's view of each run (`sandbox.runner_files.judged_suite`: the tests to
disguise, the model's files to watch, the tests to make mutants of), reports
remembered by a digest of the files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence

from agent.run.samples import Together
from sandbox.base import Sandbox, Suite, TestReport
from sandbox.runner_files import judged_suite, keep_trusted
from sandbox.together import run_projects_together

__all__ = ["Bench", "digest"]


def digest(files: Mapping[str, str]) -> str:
    """What identifies a candidate: a hash of its paths and texts."""
    blob = "\0".join(f"{p}\0{t}" for p, t in sorted(files.items()))
    return hashlib.sha256(blob.encode()).hexdigest()


class Bench:
    """A warm sandbox and the pristine tests: one per run."""

    def __init__(
        self,
        sandbox: Sandbox,
        tests: Mapping[str, str],
        *,
        test_args: Sequence[str] = (),
        timeout: float = 120.0,
        trusted: Mapping[str, str] | None = None,
        allow_runner: bool = False,
        together: Together = run_projects_together,
    ) -> None:
        """Files that configure the test runner are taken only from `trusted` (the task's
        or repository's own) unless `allow_runner`; `together` tests several at once."""
        self.sandbox, self.tests = sandbox, dict(tests)
        self.test_args, self.timeout = tuple(test_args), timeout
        self.trusted, self.allow_runner = dict(trusted or {}), allow_runner
        self.together = together
        self._seen: dict[str, TestReport] = {}

    def screen(self, files: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """`files` without what the model may not write (unless allowed), and why each
        refused path was refused."""
        if self.allow_runner:
            return dict(files), {}
        return keep_trusted(files, self.trusted, self.tests)

    def seen(self, files: Mapping[str, str]) -> TestReport | None:
        """The report these very files got before, if they were tested."""
        return self._seen.get(digest(files))

    def remember(self, files: Mapping[str, str], report: TestReport) -> None:
        self._seen[digest(files)] = report

    def suite(self, files: Mapping[str, str], focus: Collection[str] = ()) -> Suite:
        """The judge's view of a run of `files`: the tests it disguises, the files it
        watches, the tests it makes mutants of first."""
        return judged_suite(files, self.trusted, self.tests, focus)

    def run_alone(self, files: Mapping[str, str], focus: Collection[str] = ()) -> TestReport:
        """`files` and the pristine tests in the emptied workspace, judged."""
        self.sandbox.reset()
        self.sandbox.write({**files, **self.tests})
        suite = self.suite(files, focus)
        return self.sandbox.run_tests(self.test_args, timeout=self.timeout, suite=suite)

    def run_together(
        self, candidates: Sequence[Mapping[str, str]], focus: Collection[str] = ()
    ) -> list[TestReport]:
        """Several candidates in one exec, each in its own folder with the pristine tests."""
        projects = [{**files, **self.tests} for files in candidates]
        suites = [self.suite(files, focus) for files in candidates]
        return self.together(self.sandbox, projects, self.test_args, self.timeout, suites)
