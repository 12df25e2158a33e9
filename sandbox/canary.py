"""Canary tests: tests that must fail, run in the same pytest session as the real ones.

    canaries = make_canaries()                  # names and bodies new for every run
    argv = canaries.argv(pytest_args)           # pytest with the canaries collected last
    report, why = canaries.judge(report, rc)    # the report without them; why it is tampered

Code under test runs inside the pytest process that judges it. Whatever makes
every outcome "passed" (a hook, a patched reporter, a rewritten report) makes
the canaries pass too, or drops them; either way the run is tampered. The
canaries never touch the disk: a small plugin (given to `pytest.main`, so
nothing in the workspace can switch it off) adds them, as a module held in
memory, to a folder of the collected tests (so the same conftest.py hooks apply
to them as to the real tests), after every other plugin has selected and
deselected (`-k`, `-m`, `--deselect` leave them alone). The pytest exit code
must agree: with a failing canary it is 1, never 0.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from sandbox.base import TestReport

__all__ = ["Canaries", "make_canaries"]

_COUNT = 3
_VERBS = ("parses", "rejects", "keeps", "counts", "splits", "merges", "formats", "returns",
          "handles", "sorts", "loads", "rounds", "checks", "builds", "reads", "stores")  # fmt: skip
_NOUNS = ("empty_input", "unicode", "large_values", "order", "duplicates", "negative",
          "whitespace", "zero", "nested_items", "missing_key", "limits", "one_item",
          "case", "defaults", "padding", "overflow")  # fmt: skip
_EXCEPTIONS = ("ValueError", "KeyError", "RuntimeError", "LookupError", "TypeError")

# Runs inside the sandbox as `python3 -c`: argv[1] is the canary module's name, argv[2]
# its source, the rest pytest's arguments.
_RUNNER = """\
import ast
import linecache
import random
import sys
import types

import pytest


class _CanaryModule(pytest.Module):
    source = ""
    filename = ""

    def _getobj(self):
        module = types.ModuleType(self.nodeid)
        module.__file__ = self.filename
        tree = ast.parse(self.source, self.filename)
        try:  # assertions read as in any test module
            from _pytest.assertion.rewrite import rewrite_asserts

            rewrite_asserts(tree, self.source.encode(), None, self.config)
        except Exception:
            pass
        exec(compile(tree, self.filename, "exec"), module.__dict__)
        return module


class _Canaries:
    def __init__(self, stem, source):
        self.stem, self.source = stem, source

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        files = sorted({item.path for item in items if item.path.is_file()})
        if not files:
            return
        beside = random.choice(files)
        virtual = beside.parent / (self.stem + ".py")
        try:
            nodeid = virtual.relative_to(config.rootpath).as_posix()
        except ValueError:
            nodeid = virtual.name
        lines = self.source.splitlines(True)
        linecache.cache[str(virtual)] = (len(self.source), None, lines, str(virtual))
        _CanaryModule.source, _CanaryModule.filename = self.source, str(virtual)
        # Anchored on a real test file: the same conftest.py files and hooks apply.
        module = _CanaryModule.from_parent(session, path=beside, nodeid=nodeid)
        items.extend(module.collect())


_plugin = _Canaries(sys.argv[1], sys.argv[2])
raise SystemExit(int(pytest.main(sys.argv[3:], plugins=[_plugin])))
"""


def _body(rng: random.Random) -> str:
    """A failing test body, one of several shapes, with numbers and words of this run."""
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    items = rng.sample(range(1, 99), rng.randint(3, 6))
    word = rng.choice(_NOUNS).replace("_", "")
    shapes = (
        f"    total = {a} + {b}\n    assert total == {a + b + rng.randint(1, 9)}\n",
        f"    values = {items!r}\n    assert sorted(values) == {sorted(items, reverse=True)!r}\n",
        f"    text = {word!r}\n    assert text.upper() == {word!r}\n",
        f"    raise {rng.choice(_EXCEPTIONS)}({f'{word} {a}'!r})\n",
        f"    values = {items!r}\n    assert len(values) == {len(items) + rng.randint(1, 3)}\n",
        f"    found = {{{a}: {b}}}\n    assert found.get({a}) == {b + 1}\n",
    )
    return rng.choice(shapes)


@dataclass(frozen=True)
class Canaries:
    """One run's canaries: the file to write, its tests' ids, how to run and judge."""

    stem: str
    """The canary module's name; it appears in one folder of the tests, chosen in the run."""
    source: str
    names: frozenset[str]
    """The canary tests' function names."""

    def argv(self, pytest_args: Sequence[str]) -> list[str]:
        """python3 running pytest with `pytest_args` and these canaries added last."""
        return ["python3", "-c", _RUNNER, self.stem, self.source, *pytest_args]

    def is_canary(self, test_id: str) -> bool:
        path, _, name = test_id.partition("::")
        return PurePosixPath(path).name == f"{self.stem}.py" and (not name or name in self.names)

    def judge(self, report: TestReport, exit_code: int) -> tuple[TestReport, str]:
        """`report` without the canaries, and why it is tampered ("" when it is not)."""
        mine = [t for t in report.tests if self.is_canary(t.id)]
        real = tuple(t for t in report.tests if not self.is_canary(t.id))
        collected = tuple(c for c in report.collection_errors if not self.is_canary(c.id))
        stripped = replace(report, tests=real, collection_errors=collected)
        return stripped, _tampered(stripped, mine, exit_code)


def _tampered(real: TestReport, canaries: Sequence[object], exit_code: int) -> str:
    outcomes = {getattr(c, "id", ""): getattr(c, "outcome", "") for c in canaries}
    passed = sorted(i for i, o in outcomes.items() if o in ("passed", "skipped"))
    if passed:
        return f"a canary test that must fail was reported {outcomes[passed[0]]}: {passed[0]}"
    failed = [i for i, o in outcomes.items() if o in ("failed", "error")]
    if not real.tests and not real.collection_errors:
        return ""
    if not failed and real.green:
        return "the canary tests that must fail are missing from a green report"
    if failed and exit_code == 0:
        return "pytest exited 0 while its report lists failing tests"
    if exit_code == 5:
        return "pytest said no tests ran while its report lists tests"
    return ""


def make_canaries(count: int = _COUNT) -> Canaries:
    """Fresh canaries: a file name, test names and failing bodies no earlier run had."""
    rng = random.Random(secrets.randbits(64))
    stem = f"test_{rng.choice(_NOUNS)}_{secrets.token_hex(4)}"
    names: list[str] = []
    while len(names) < count:
        name = f"test_{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
        if name not in names:
            names.append(name)
    source = "".join(f"\n\ndef {name}():\n{_body(rng)}" for name in names)
    return Canaries(stem, f'"""Checks of {stem[5:]}."""\n{source}', frozenset(names))
