"""A JavaScript repository's tests, as its `package.json` says: what `greenloop fix` runs.

    js_test_command(root)                      # JsTests("node --test", why=..., typescript=False)
    js_test_command(root, "npm run test:unit")  # a command of the user's, read the same way

greenloop judges node's own runner (`node:test`, `sandbox.node_judge`) and the
repository's vitest, jest or mocha (`sandbox.toolchains.js_runners`), installed by the
setup step (`--setup-cmd 'npm ci'`). The test script is read as a shell would split it
(`&&`, `||`, `;`): `npm run x`, `npm test`, `yarn x` and `pnpm x` are followed into the
scripts they name, wrappers that run a command (`c8`, `nyc`, `cross-env`, `npx`,
variable assignments) are looked through, and a part that runs `node --test [files]`,
or `node file` for a file importing `node:test`, is node's runner; one that runs
vitest, jest or mocha is that runner, its display flags dropped and a flag that changes
which tests run refused (a usage error naming the form). Its files (if it names any)
say which test files run. node's runner comes first where a script runs two; the parts
that run something else (tstyche, eslint, tap) are named in `why` and not run. A
script that runs none of these, or no script at all, is a usage error naming the ways
out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import UsageError
from sandbox.toolchains.javascript import is_js_test, uses_node_test
from sandbox.toolchains.js_runner_files import JS_SOURCES
from sandbox.toolchains.js_runners import runner_args, runner_of_words

__all__ = ["JsTests", "is_js_project", "js_test_command"]

_SPLIT = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_WRAPPERS = frozenset({"c8", "nyc", "cross-env", "npx", "env", "time", "dotenv", "nodemon"})
_OTHERS = frozenset({"jest", "vitest", "mocha", "tap", "ava", "tape", "jasmine", "karma",
                     "lab", "uvu", "borp", "tsd", "tstyche", "playwright", "cypress"})  # fmt: skip
_VALUED = frozenset({"--test-reporter", "--test-reporter-destination", "--test-concurrency",
                     "--test-name-pattern", "--test-skip-pattern", "--test-timeout",
                     "--test-shard", "--import", "--require", "-r", "--loader",
                     "--experimental-loader", "--env-file", "--conditions", "-C"})  # fmt: skip
"""node's flags that take their value as the next word."""
_DEPTH = 5
_NOT_SEARCHED = frozenset({"node_modules", ".git", ".greenloop"})
_SUPPORTED = (
    "greenloop fix runs test files that import node:test with node's own runner (`node --test`), "
    "or the repository's vitest, jest or mocha"
)


@dataclass(frozen=True)
class JsTests:
    """How a JavaScript repository's tests run: node's runner and the files it names."""

    command: str
    """`node --test`, with the files or globs the script names, if any."""
    why: str
    """Where it was read, said to the user."""
    typescript: bool = False
    """Some of the test files are TypeScript (node's runner loads them through esbuild)."""


@dataclass
class _Found:
    node: list[list[str]] = field(default_factory=list)
    """Each part that runs node's runner: the files it names (none: node's default)."""
    runners: list[tuple[str, list[str]]] = field(default_factory=list)
    """Each part that runs vitest, jest or mocha: the runner and the files it names."""
    others: list[str] = field(default_factory=list)
    """The parts that run something else, as written."""


def is_js_project(root: Path) -> bool:
    """A `package.json` at the root, and no Python project or test file beside it (nor in
    `test*/`)."""
    if not (root / "package.json").is_file():
        return False
    patterns = ("pyproject.toml", "setup.py", "test_*.py", "*_test.py", "conftest.py",
                "test*/**/*.py")  # fmt: skip
    return not any(next(root.glob(pattern), None) for pattern in patterns)


def js_test_command(root: Path, given: str | None = None) -> JsTests:
    """The repository's node:test command (see the module docstring); UsageError when
    its tests run with another runner, or nothing says how they run."""
    scripts = _scripts(root)
    found = _Found()
    if given:
        _read(given, scripts, root, found, 0)
        where = f"from --test-cmd {given!r}"
    elif "test" in scripts:
        _read(scripts["test"], scripts, root, found, 0)
        where = f"from package.json's test script ({scripts['test']!r})"
    else:
        raise UsageError(
            f"{root}/package.json has no test script, so greenloop cannot tell how the tests "
            f"run: {_SUPPORTED}",
            fix="pass --test-cmd 'node --test [test files]', or add "
            '"scripts": {"test": "node --test"} to package.json',
        )
    if not found.node and found.runners:
        return _runner_tests(root, found, where)
    if not found.node:
        runs = "; ".join(found.others) or (given or scripts.get("test", ""))
        tests = _node_tests(root)
        have = (
            f"{len(tests)} test file(s) here import node:test ({', '.join(tests[:3])}): "
            if tests else ""
        )  # fmt: skip
        raise UsageError(
            f"the tests run with {runs!r}, not node's test runner: {_SUPPORTED}",
            fix=f"{have}pass --test-cmd 'node --test [test files]' if the tests import "
            "node:test, or --test-cmd 'jest|vitest run|mocha [test files]' for the "
            "repository's own runner (installed with --setup-cmd 'npm ci'); a suite for "
            "another runner (tap, ava) is not one greenloop fix can judge yet",
        )
    files = [] if any(not f for f in found.node) else [f for part in found.node for f in part]
    command = shlex.join(["node", "--test", *dict.fromkeys(files)])
    others = [shlex.join([r, *f]) for r, f in found.runners] + found.others
    skipped = f"; not run: {', '.join(others)}" if others else ""
    typescript = _typescript(root)
    kind = "node's test runner" + (" (TypeScript tests)" if typescript else "")
    return JsTests(command, f"{kind}, {where}{skipped}", typescript)


def _runner_tests(root: Path, found: _Found, where: str) -> JsTests:
    """The first vitest, jest or mocha part's command; the other parts named as not run."""
    runner, files = found.runners[0]
    head = ["vitest", "run"] if runner == "vitest" else [runner]
    others = [shlex.join([r, *f]) for r, f in found.runners[1:]] + found.others
    skipped = f"; not run: {', '.join(others)}" if others else ""
    typescript = any(
        p.endswith((".ts", ".mts", ".tsx")) for p in _runner_tests_of(root)
    )  # fmt: skip
    kind = f"the repository's {runner}" + (" (TypeScript tests)" if typescript else "")
    return JsTests(shlex.join([*head, *files]), f"{kind}, {where}{skipped}", typescript)


def _runner_tests_of(root: Path) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SEARCHED)
        found += [Path(folder, n).relative_to(root).as_posix() for n in names]
    return [p for p in found if is_js_test(p)]


def _scripts(root: Path) -> Mapping[str, str]:
    try:
        data = json.loads((root / "package.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{root}/package.json cannot be read as JSON ({exc})", fix="fix package.json"
        ) from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict):
        return {}
    return {str(k): v for k, v in scripts.items() if isinstance(v, str)}


def _read(command: str, scripts: Mapping[str, str], root: Path, found: _Found, depth: int) -> None:
    """Sort the parts of `command` into node's runner and the rest, scripts followed."""
    for part in _SPLIT.split(command.strip()):
        try:
            words = _unwrapped(shlex.split(part))
        except ValueError:
            found.others.append(part)
            continue
        if not words:
            continue
        script = _script_named(words)
        if script is not None and script in scripts and depth < _DEPTH:
            _read(scripts[script], scripts, root, found, depth + 1)
            continue
        files = _node_files(words, root)
        if files is not None:
            found.node.append(files)
        elif runner_of_words(words) is not None:
            args = runner_args(words)
            found.runners.append((args[0].removeprefix("--runner="), args[1:]))
        elif part:
            found.others.append(part)


def _unwrapped(words: list[str]) -> list[str]:
    """The command a part runs, past variable assignments and wrappers (`c8 --100 node`)."""
    while words:
        head = words[0]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", head):
            words = words[1:]
        elif head in _WRAPPERS:
            words = words[1:]
            while words and words[0].startswith("-"):
                words = words[1:]
        else:
            return words
    return words


def _script_named(words: list[str]) -> str | None:
    """The script `npm run x`, `npm test`, `yarn x`, `pnpm run x` runs, if it is one."""
    tool, rest = words[0], [w for w in words[1:] if not w.startswith("-")]
    if tool not in ("npm", "yarn", "pnpm") or not rest:
        return None
    if rest[0] in ("run", "run-script") and len(rest) > 1:
        return rest[1]
    if rest[0] in ("test", "t"):
        return "test"
    return rest[0] if tool != "npm" else None


def _node_files(words: list[str], root: Path) -> list[str] | None:
    """The files a `node --test ...` part names ([] for none), or None when the part is
    not node's runner (`node file.js` is, when the file imports node:test)."""
    if words[0] not in ("node", "nodejs") and not words[0].endswith("/node"):
        return None
    args = list(_positional(words[1:]))
    if "--test" in words[1:]:
        return args
    if args and _imports_node_test(root / args[0]):
        return args[:1]
    return None


def _positional(words: list[str]) -> Iterator[str]:
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _VALUED
        else:
            yield word


def _imports_node_test(path: Path) -> bool:
    try:
        return path.is_file() and uses_node_test(path.read_text("utf-8", "replace"))
    except OSError:
        return False


def _node_tests(root: Path, suffixes: tuple[str, ...] = JS_SOURCES) -> list[str]:
    """The test files under `root` (node's runner's names) that import node:test."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SEARCHED)  # a checkout's npm install
        for name in sorted(names):
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if path.suffix in suffixes and is_js_test(rel) and _imports_node_test(path):
                found.append(rel)
    return found


def _typescript(root: Path) -> bool:
    return bool(_node_tests(root, (".ts", ".mts")))
