"""Files that configure or extend the test runner: never taken from the model unless allowed.

    runner_reason("tests/conftest.py", None, text, paths)   # -> why it is refused, or ""
    clean, refused = keep_trusted(candidate, trusted, tests)  # a candidate made safe to test

Code under test runs inside the pytest process that judges it, so a file that
pytest (or the interpreter) loads on its own decides the verdict: a
`conftest.py` anywhere, `pytest.ini`/`.pytest.ini`/`pytest.toml`/`tox.ini`, the
pytest sections of `pyproject.toml` and `setup.cfg`, `sitecustomize.py` and
`usercustomize.py`, `*.pth` files, and any module importable under a top-level
name that pytest, its plugins or the standard library own (`tempfile.py` at the
root runs when pytest imports `tempfile`; the folders searched are the root,
`src` and those pytest adds for the test files). Package metadata
(`*.dist-info/`, `*.egg-info/`, `*.egg-link`: an entry point there is a plugin)
and compiled code (`*.pyc`, `*.so`: nothing can read it before it runs) are
refused wherever they are written. Python source that reaches into the judge
(`sandbox.screen`: the heap, frames, ctypes, pytest's internals, hooks, its
descriptors) is refused for what the write adds: a repository that already had
such code keeps it. New files next to the protected tests are test edits. What
the user's own project or task brings (the trusted files) stays; only the
model's writes are refused. JavaScript's runner files and moves are
`sandbox.toolchains.js_runner_files`'s.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Mapping
from pathlib import PurePosixPath

from sandbox.base import Suite
from sandbox.screen import judge_moves
from sandbox.toolchains import runner_of, toolchains
from sandbox.toolchains.js_runner_files import js_runner_reason
from sandbox.toolchains.rust_runner_files import rust_runner_reason

__all__ = [
    "added_test_reason",
    "judged_suite",
    "keep_trusted",
    "model_written",
    "runner_reason",
]

_CONFIG_NAMES = frozenset({"pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini"})
_STARTUP_NAMES = frozenset({"sitecustomize.py", "usercustomize.py"})
_RUNNER_MODULES = frozenset({"pytest", "_pytest", "pluggy", "py", "iniconfig", "packaging",
                             "coverage", "conftest", "sitecustomize", "usercustomize"})  # fmt: skip
_NOT_SHADOWING = frozenset({"test", "tests"})
"""Stdlib names that are also the usual test folders (nothing imports the stdlib's `test`)."""
_SECTIONS = {
    "pyproject.toml": re.compile(r"^\s*\[+\s*tool\.pytest\b"),
    "setup.cfg": re.compile(r"^\s*\[\s*tool:pytest\s*\]"),
}
_ANY_SECTION = re.compile(r"^\s*\[")
_TEST_FOLDERS = frozenset({"tests", "test"})
_METADATA = (".dist-info", ".egg-info")
_COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".egg-link")


def _shadowed(name: str) -> bool:
    if name in _NOT_SHADOWING:
        return False
    return (
        name in _RUNNER_MODULES
        or name.startswith(("pytest_", "_pytest"))
        or name in sys.stdlib_module_names
    )


def _is_test_module(name: str) -> bool:
    return name == "conftest.py" or (
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
    )


def _search_path(known: set[str]) -> set[str]:
    """The folders pytest may put on `sys.path`: the root, `src`, and for each test
    module or conftest.py its first folder upwards that is not a package."""
    folders = {"", "src"}
    for path in known:
        pure = PurePosixPath(path)
        if not _is_test_module(pure.name):
            continue
        folder = pure.parent
        while folder.as_posix() != "." and (folder / "__init__.py").as_posix() in known:
            folder = folder.parent
        folders.add("" if folder.as_posix() == "." else folder.as_posix())
    return folders


def _top_level_names(path: str, paths: Collection[str]) -> list[str]:
    """The bare import names `path` makes importable from a folder on pytest's sys.path."""
    pure = PurePosixPath(path)
    if not pure.name.endswith((".py", ".pyc", ".so", ".pyd")):
        return []  # data files import nothing, whatever their folder is called
    known = {PurePosixPath(p).as_posix() for p in paths} | {pure.as_posix()}
    names = []
    for folder in _search_path(known):
        inside = pure.parts if not folder else None
        if folder and pure.as_posix().startswith(folder + "/"):
            inside = pure.parts[len(PurePosixPath(folder).parts) :]
        if inside:
            names.append(inside[0].split(".", 1)[0] if len(inside) == 1 else inside[0])
    return names


def _section(text: str | None, start: re.Pattern[str]) -> str:
    """The lines of every section `start` opens, up to the next section of another kind."""
    if not text:
        return ""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if _ANY_SECTION.match(line):
            inside = bool(start.match(line))
        if inside and line.strip() and not line.lstrip().startswith(("#", ";")):
            kept.append(line.strip())
    return "\n".join(kept)


def runner_reason(path: str, old: str | None, new: str | None, paths: Collection[str]) -> str:
    """Why writing `new` over `old` at `path` would configure the test runner; "" when not.

    `paths` are the other files of the candidate (to tell packages from plain folders).
    """
    pure = PurePosixPath(path)
    name = pure.name
    if name == "conftest.py":
        return f"`{path}` is a conftest.py: it adds hooks and fixtures to the test runner"
    if name in _CONFIG_NAMES:
        return f"`{path}` configures the test runner"
    if name in _STARTUP_NAMES or pure.suffix == ".pth":
        return f"`{path}` runs code when Python starts"
    if any(part.endswith(_METADATA) for part in pure.parts[:-1]) or name.endswith(_METADATA):
        return f"`{path}` is package metadata: its entry points would load as plugins"
    if name.endswith(_COMPILED) or "__pycache__" in pure.parts:
        return f"`{path}` is compiled code that nothing can read before it runs: write source"
    if name.endswith(".py") and new is not None:
        added = [
            (m, line) for m, line in judge_moves(new).items() if m not in judge_moves(old or "")
        ]
        if added:
            move, line = added[0]
            return (
                f"`{path}` line {line} {move}: code under test has no need to reach into the "
                "test runner"
            )
    start = _SECTIONS.get(path)
    if start is not None and _section(old, start) != _section(new, start):
        return f"`{path}`: its pytest section configures the test runner"
    js = js_runner_reason(path, old, new) or rust_runner_reason(path, old, new)
    if js:
        return js
    # A module the project already has keeps its name: only new ones may not shadow.
    names = _top_level_names(path, paths) if old is None else []
    shadow = next((n for n in names if _shadowed(n)), None)
    if shadow is not None:
        return (
            f"`{path}` would be imported as `{shadow}`, a module of Python or of the test "
            "runner: choose another name"
        )
    return ""


def _test_folders(tests: Collection[str]) -> set[str]:
    folders = {PurePosixPath(t).parent.as_posix() for t in tests}
    return {f for f in folders if f != "."}


def added_test_reason(path: str, existing: Collection[str], tests: Collection[str]) -> str:
    """Why a new file at `path` is a test edit: a test file, or in a folder of the tests."""
    if not tests or path in existing:
        return ""
    pure = PurePosixPath(path)
    name = pure.name
    is_test = (
        name.startswith("test_")
        or name.endswith("_test.py")
        or any(chain.is_test_file(path) for chain in toolchains())
    )
    in_folder = any(p in _TEST_FOLDERS for p in pure.parts[:-1]) or any(
        pure.as_posix().startswith(f + "/") for f in _test_folders(tests)
    )
    if is_test or in_folder:
        return f"`{path}` is a new file among the tests: tests may not be added or edited"
    return ""


def judged_suite(
    files: Mapping[str, str],
    trusted: Mapping[str, str],
    tests: Mapping[str, str],
    focus: Collection[str] = (),
) -> Suite:
    """The judge's view of a run of `files` with the pristine `tests`: every test module
    disguised (the protected ones and any the model may edit), the model's files watched,
    mutants made of the `focus` tests first."""
    everything = {**files, **tests}
    modules = {p: t for p, t in everything.items() if runner_of(p, t) is not None}
    return Suite(modules, model_written(files, trusted, tests), frozenset(focus))


def model_written(
    files: Mapping[str, str], trusted: Mapping[str, str], tests: Collection[str]
) -> frozenset[str]:
    """The Python files of `files` the model wrote: not tests, not as the trusted set has
    them. A file whose trusted version already reached into the interpreter (a repository's
    own frame or heap tricks) is left unwatched at run time: the static screen still
    refuses what an edit adds to it."""
    return frozenset(
        p for p, text in files.items()
        if p.endswith(".py") and p not in tests and trusted.get(p) != text
        and not judge_moves(trusted.get(p) or "")
    )  # fmt: skip


def keep_trusted(
    files: Mapping[str, str], trusted: Mapping[str, str], tests: Collection[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """`files` with every runner file or test edit the trusted set does not hold removed.

    A path the trusted files hold keeps their content. Returns (clean files, refused
    path -> reason).
    """
    clean: dict[str, str] = {}
    refused: dict[str, str] = {}
    for path, text in files.items():
        if path in trusted and trusted[path] == text:
            clean[path] = text
            continue
        reason = runner_reason(path, trusted.get(path), text, [*files, *tests])
        reason = reason or added_test_reason(path, trusted, tests)
        if not reason:
            clean[path] = text
            continue
        refused[path] = reason
        if path in trusted:
            clean[path] = trusted[path]
    return clean, refused
