"""Toolchains: what greenloop knows of one language's tests, one module each.

    chain = toolchain("javascript")            # or detect(paths, language=...)
    with open_sandbox(SandboxConfig(toolchain=chain.name)) as sb:
        sb.write(files)
        report = sb.run_tests(suite=chain.folder_suite(files))

A toolchain names its sandbox image (`sandbox.image.ImageSpec`: its Dockerfile and
the Debian packages of a bootstrapped base), tells its test files from the rest,
makes a folder's suite (the pristine tests the judge checks and disguises, the
files the model wrote that it watches), and runs the tests judged, their report
coming home on the report channel (`REPORT_FD`), never through the workspace.

| toolchain | runner | report |
|---|---|---|
| python | pytest, in `sandbox.judge_child` | JUnit XML |
| javascript | node's test runner, a process per file | JUnit XML per file |
| rust | cargo's test binaries, each run by `sandbox.cargo_judge` | libtest's JSON and log |

Adding a language: a module here with a `Toolchain`, one line in `_REGISTRY`, its
Dockerfile, its tests. Callers ask a toolchain what they need (`runs_test`, `expected`,
`together`, `default_command`), never its name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, cast

from sandbox.base import Suite, TestReport
from sandbox.errors import UsageError
from sandbox.image import ImageSpec
from sandbox.testrun import PytestHost

__all__ = ["NAMES", "Toolchain", "detect", "expected_tests", "runner_of", "toolchain", "toolchains"]

_REGISTRY = {
    "python": "sandbox.toolchains.python:PYTHON",
    "javascript": "sandbox.toolchains.javascript:JAVASCRIPT",
    "rust": "sandbox.toolchains.rust:RUST",
}
NAMES = tuple(_REGISTRY)


class Toolchain(Protocol):
    """One language's tests, run judged in its own sandbox image."""

    @property
    def name(self) -> str: ...

    @property
    def image(self) -> ImageSpec: ...

    @property
    def extensions(self) -> tuple[str, ...]:
        """The source files' extensions, e.g. (".py",)."""
        ...

    @property
    def manifests(self) -> tuple[str, ...]:
        """Files at a repository's root that say it is this language's."""
        ...

    @property
    def default_command(self) -> str:
        """A task's test command when task.toml gives none, e.g. `node --test`."""
        ...

    @property
    def test_hint(self) -> str:
        """The test files' names as an error tells the user to name them."""
        ...

    @property
    def together(self) -> bool:
        """Whether several projects' tests are judged in one round (`sandbox.together`);
        else each project alone, one after the other."""
        ...

    def is_test_file(self, path: str) -> bool:
        """Whether the workspace path `path` is named as a test file (by its path alone)."""
        ...

    def runs_test(self, path: str, text: str) -> bool:
        """Whether the runner runs `path`, holding `text`, as a test file of its own."""
        ...

    def protects(self, path: str, text: str) -> bool:
        """Whether the whole file is the tests' and never the model's to edit (a Rust
        source file with inline tests is run as tests but stays editable: the screen
        guards its test items)."""
        ...

    def expected(self, path: str, text: str) -> frozenset[str]:
        """The ids (`path::name`) of the tests the pristine file defines; `{path}` itself
        when it cannot be read (its collection error then stands for its tests)."""
        ...

    def test_args(self, command: str) -> list[str]:
        """The runner's arguments in a task's test command; UsageError, naming the form
        it takes, for another runner's."""
        ...

    def folder_suite(self, files: Mapping[str, bytes]) -> Suite:
        """A folder's own suite: its test files disguised, the others watched."""
        ...

    def run_tests(
        self,
        host: PytestHost,
        args: Sequence[str],
        timeout: float,
        *,
        root: str,
        suite: Suite,
    ) -> TestReport:
        """Run the tests in `host`, judged; the report as the judge saw it."""
        ...


def toolchain(name: str) -> Toolchain:
    """The toolchain called `name`; UsageError names the ones there are."""
    where = _REGISTRY.get(name)
    if where is not None:
        module, _, attribute = where.partition(":")
        return cast("Toolchain", getattr(importlib.import_module(module), attribute))
    raise UsageError(
        f"no toolchain called {name!r}: set language in task.toml (or --toolchain) to one "
        f"of {', '.join(NAMES)}"
    )


def detect(paths: Iterable[str], language: str | None = None) -> Toolchain:
    """The toolchain of a folder or task: `language` when given, else the one whose test
    files it holds, else the one whose manifest it has. None fits, or two do: UsageError
    naming task.toml's `language`."""
    if language:
        return toolchain(language)
    names = list(paths)
    chains = toolchains()
    found = [c for c in chains if any(c.is_test_file(p) for p in names)]
    if not found:
        found = [c for c in chains if any(p in c.manifests for p in names)]
    if len(found) == 1:
        return found[0]
    what = " and ".join(c.name for c in found) if found else "no language greenloop knows"
    raise UsageError(
        f"cannot tell the language of these tests (they look like {what}): set language "
        f"in task.toml, or --toolchain, to one of {', '.join(NAMES)}"
    )


def toolchains() -> list[Toolchain]:
    """Every toolchain greenloop has, in `NAMES`' order."""
    return [toolchain(name) for name in NAMES]


def runner_of(path: str, text: str) -> Toolchain | None:
    """The toolchain whose runner runs `path` (holding `text`) as a test file, if any."""
    return next((c for c in toolchains() if c.runs_test(path, text)), None)


def expected_tests(tests: Mapping[str, str]) -> frozenset[str]:
    """The ids of the tests the test files define, each read by its own toolchain."""
    expected: set[str] = set()
    for path, text in tests.items():
        chain = runner_of(path, text)
        if chain is not None:
            expected.update(chain.expected(path, text))
    return frozenset(expected)
