"""The tests as the code under test sees them: renamed, with canaries and mutants among them.

    made = make_disguise(tests, args, rng)         # in the sandbox (sandbox.judge_parent):
                                                   # new names and added tests, new every run
    disguise = Disguise.of(made)                   # on the host, from the judge's document
    report, why = disguise.judge(report, rc)       # the real tests under their real names;
                                                   # why the report cannot be true ("" if it can)

Code under test runs inside the process that judges it, and the model that
wrote it has seen the tests. So in the sandbox every test has a fresh name
(`test_parses_unicode_zero`), and beside the real tests, in the same files,
written on disk the same way and named by the same generator, stand tests
that must fail:

- **canaries**: small tests of their own that fail (`assert total == 1005`);
- **mutants**: copies of real tests with one expected value changed
  (`assert add(2, 3) == 6`). If the real test passes honestly, its mutant
  cannot: it compares the same value with another one. A mutant that passes
  beside its passing original means the outcome was forced, or the value
  compares equal to anything.

A forgery that passes every test passes the canaries; one that passes only
the tests it knows by name finds none of those names; one that passes only
files it knows passes the mutants in them. Added tests go at the end of a
file, so the real tests keep their line numbers. A test whose name occurs
elsewhere in its file (referred to by name) keeps it.

When the command selects tests by name or mark (`-k`, `-m`, `--deselect`, a
node id), the real names stay (the selection names them), mutants are named
after their original so that a selection keeps them together, and an added
test that did not run is not held against the report.

The judge makes the disguise inside the sandbox, in its own process, from the
pristine tests it checks on disk against their hashes; the mapping from sandbox
names back to real ones never reaches the process that runs the code under
test, and reaches the host on the judge's channel. Making it is
`sandbox.disguise_make` (standard library only, so that it can run there).
"""

from __future__ import annotations

import functools
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.base import TestCase, TestReport
from sandbox.disguise_make import CANARIES, is_test_module, make_disguise, selects_by_name

__all__ = [
    "CANARIES",
    "Disguise",
    "disguise_tests",
    "is_test_module",
    "selects_by_name",
]


@dataclass(frozen=True)
class Disguise:
    """One run's disguised tests: what to write, and how to read the report back."""

    files: dict[str, str]
    """The test files as the sandbox gets them."""
    renamed: dict[tuple[str, str], str] = field(default_factory=dict)
    """(path, name in the sandbox) -> the real name."""
    mutants: dict[tuple[str, str], str] = field(default_factory=dict)
    """(path, mutant's name) -> the real name of the test it copies."""
    canaries: frozenset[tuple[str, str]] = frozenset()
    """(path, name) of the canary tests."""
    relaxed: bool = False
    """Tests are selected by name: an added test that did not run is not held against it."""

    @functools.cached_property
    def _short(self) -> dict[str, str]:
        """Sandbox name -> real name, without class or file: fresh names are unique in a run."""
        return {new.rpartition("::")[2]: old.rpartition("::")[2]
                for (_, new), old in self.renamed.items()}  # fmt: skip

    @functools.cached_property
    def _sandbox_names(self) -> re.Pattern[str]:
        """Any sandbox name of a real test, as a word (built once: every message is read)."""
        return re.compile(r"\b(" + "|".join(map(re.escape, self._short)) + r")\b")

    @classmethod
    def of(cls, made: Mapping[str, Any]) -> Disguise:
        """The disguise `make_disguise` made (or the judge sent): ValueError if malformed."""
        try:
            return cls(
                files=dict(made.get("files") or {}),
                renamed={(str(p), str(n)): str(o) for p, n, o in made["renamed"]},
                mutants={(str(p), str(n)): str(o) for p, n, o in made["mutants"]},
                canaries=frozenset((str(p), str(n)) for p, n in made["canaries"]),
                relaxed=bool(made["relaxed"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a disguise: {exc}") from None

    def judge(self, report: TestReport, exit_code: int) -> tuple[TestReport, str]:
        """`report` with real names and without the added tests; why it is tampered."""
        real: list[TestCase] = []
        added: dict[tuple[str, str, str], TestCase] = {}
        for case in report.tests:
            path, cls, name, params = _split(case.id)
            key = (path, cls + name)
            if key in self.canaries or key in self.mutants:
                added[(path, cls + name, params)] = case
                continue
            real.append(self._real(case))
        errors = tuple(self._real(c) for c in report.collection_errors)
        output = report.exec and replace(report.exec, output=self._names(report.exec.output))
        stripped = replace(report, tests=tuple(real), collection_errors=errors, exec=output)
        return stripped, self._tampered(stripped, added, exit_code)

    def _real(self, case: TestCase) -> TestCase:
        path, cls, name, params = _split(case.id)
        real = self.renamed.get((path, cls + name))
        if real is None:  # a method inherited from a class of this or another file
            real = cls + self._short.get(name, name)
        return replace(
            case,
            id=f"{path}::{real}{params}" if name else case.id,
            message=self._names(case.message),
            traceback=self._names(case.traceback),
        )

    def _names(self, text: str) -> str:
        """`text` with every sandbox name of a real test turned back into its real name."""
        if not self.renamed or not text:
            return text
        back = self._short
        return self._sandbox_names.sub(lambda m: back[m.group(1)], text)

    def _tampered(
        self, real: TestReport, added: Mapping[tuple[str, str, str], TestCase], exit_code: int
    ) -> str:
        outcome = {t.id: t.outcome for t in real.tests}
        ran = {_split(t.id)[0] for t in real.tests}
        for path, name in sorted(self.canaries):
            cases = [c for (p, n, _), c in added.items() if (p, n) == (path, name)]
            if any(c.outcome in ("passed", "skipped") for c in cases):
                return f"a test that must fail was reported {cases[0].outcome}: {path}::{name}"
            if not cases and path in ran and not self.relaxed:
                return f"a test that must fail is missing from the report: {path}::{name}"
        for (path, mutant), original in sorted(self.mutants.items()):
            why = self._mutant(path, mutant, original, added, outcome)
            if why:
                return why
        return _disagrees(real, bool(added), exit_code)

    def _mutant(
        self,
        path: str,
        mutant: str,
        original: str,
        added: Mapping[tuple[str, str, str], TestCase],
        outcome: Mapping[str, str],
    ) -> str:
        """Why one mutant's outcome cannot be true beside its original's ("" if it can)."""
        mine = {params: c for (p, n, params), c in added.items() if (p, n) == (path, mutant)}
        for params, case in sorted(mine.items()):
            passed = outcome.get(f"{path}::{original}{params}") == "passed"
            if passed and case.outcome in ("passed", "skipped"):
                return (
                    f"a copy of {path}::{original}{params} with its expected value changed was "
                    f"reported {case.outcome}: the outcome was forced, or the value compares "
                    "equal to anything"
                )
        passing = any(v == "passed" and _same(i, path, original) for i, v in outcome.items())
        if not mine and passing and not self.relaxed:
            return f"a copy of {path}::{original} is missing from the report"
        return ""


def _same(test_id: str, path: str, name: str) -> bool:
    p, cls, n, _ = _split(test_id)
    return p == path and cls + n == name


def _disagrees(real: TestReport, failing_added: bool, exit_code: int) -> str:
    """Why pytest's exit code contradicts its report ("" when it does not)."""
    if not real.tests and not real.collection_errors:
        return ""
    if failing_added and exit_code == 0:
        return "pytest exited 0 while its report lists failing tests"
    if exit_code == 5:
        return "pytest said no tests ran while its report lists tests"
    if exit_code == 0 and (real.failed or real.errors):
        return "pytest exited 0 while its report lists failing tests"
    return ""


def _split(test_id: str) -> tuple[str, str, str, str]:
    """(path, "Class::" or "", name, "[params]" or "") of a node id."""
    path, _, rest = test_id.partition("::")
    if not rest:
        return path, "", "", ""
    cls, _, name = rest.rpartition("::")
    name, bracket, params = name.partition("[")
    return path, f"{cls}::" if cls else "", name, bracket + params


def disguise_tests(
    tests: Mapping[str, str], args: Sequence[str] = (), *, rng: random.Random | None = None
) -> Disguise:
    """Make a disguise of `tests` here (the judge makes its own in the sandbox)."""
    return Disguise.of(make_disguise(tests, args, rng or random.Random(secrets.randbits(64))))
