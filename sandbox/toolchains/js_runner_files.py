"""JavaScript files and code that reach into the test run: refused from the model.

    js_runner_reason("node_modules/chai/index.js", None, text)   # -> why, or ""

The judge (`sandbox.node_judge`) runs each test file with `node` itself, so no runner
config is read; still, a model that writes one means to change how tests run, and
`fix` runs a repository's own runner where it has one. So the model may not write:
- a runner's config: `jest.config.*`, `vitest.config.*`, `vite.config.*`, `.mocharc*`,
  `.c8rc*`, `.nycrc*`, `.babelrc*`, `babel.config.*`, `.npmrc`, `.noderc`; in
  `package.json`, the fields a runner reads (`scripts`, `jest`, `mocha`, `ava`, `c8`,
  `nyc`) changed from what they were (`type`, `main`, `exports` only say how the
  project's own modules load, which is the project's to say);
- anything under `node_modules/`: a package there shadows what the tests import
  (`chai`, `sinon`, a helper), and node's own modules (`node:test`, `node:assert`) are
  not there to shadow;
- code that reaches into the run (`js_judge_moves`): ending the process (`process.exit`,
  `process.kill`, `process.abort`, `reallyExit`), reading node's own flags
  (`process.execArgv`, `--test-reporter`), its descriptors (`/proc/self/fd`,
  `/dev/fd/`), node's runner in a file that is not a test (`node:test`), node's module
  loader (`node:module`, `Module._load`, `require.cache`), V8, `vm` and the inspector
  (`node:v8`, `node:inspector`, `internalBinding`, `process.binding`), and a module
  loaded by a name computed at run time (`require(name)`, `import(name)`), which could
  be any of these. A module is told by where it is loaded: a string that merely says
  "module" or "vm" is data.
What the user's project or task already has stays (only what a write adds is refused).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

__all__ = ["JS_SOURCES", "js_judge_moves", "js_runner_reason"]

JS_SOURCES = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx")
_CONFIGS = re.compile(
    r"^(jest|vitest|vite|babel|ava|playwright|karma)\.config\.[cm]?[jt]s(on)?$"
    r"|^\.(mocharc|c8rc|nycrc|babelrc|swcrc)(\.[a-z]+)?$|^\.(npmrc|noderc|yarnrc(\.yml)?)$"
)
_PACKAGE_FIELDS = ("scripts", "jest", "mocha", "ava", "c8", "nyc")
_EXIT = r"\bprocess\s*(\.\s*|\[\s*['\"`])(exit|kill|abort|reallyExit)\b"
_FLAGS = r"\bprocess\s*\.\s*execArgv\b|--test-reporter"
_FDS = r"/proc/(self|thread-self|\d+)/|/dev/fd/"
_RUNNER = r"\brequire\s*\(\s*['\"`](node:)?test['\"`]|\b(from|import\s*\()\s*['\"`]node:test['\"`]"
_IMPORTED = r"(\brequire\s*\(|\bfrom|\bimport\s*\(?)\s*['\"`](node:)?"
"""A module named where it is loaded (`require(`, `from`, `import(`): a string that
merely says "module" or "vm" is data."""
_LOADER = (
    r"\bModule\s*\.\s*_(load|resolveFilename|compile|extensions)\b|\brequire\s*\.\s*cache\b"
    rf"|\bmodule\s*\.\s*register\s*\(|{_IMPORTED}module['\"`]"
)
_ENGINE = (
    rf"{_IMPORTED}(v8|inspector|vm)['\"`]|\binternalBinding\b"
    r"|\bprocess\s*\.\s*(binding|_linkedBinding)\b"
)
_COMPUTED = (
    r"(?<![.\w$])(require|import)\s*\(\s*(?!['\"][^'\"\n]*['\"]\s*[,)]|`[^`$\n]*`\s*[,)]|\)|$)"
)
"""A module loaded by a name computed at run time: any of the above, unseen."""
_MOVES = tuple(
    (move, re.compile(pattern))
    for move, pattern in (
        ("ends the process", _EXIT),
        ("reads node's own flags", _FLAGS),
        ("reaches for descriptors", _FDS),
        ("imports node's test runner", _RUNNER),
        ("reaches into the module loader", _LOADER),
        ("reaches into V8 or the inspector", _ENGINE),
        ("loads a module by a computed name", _COMPUTED),
    )
)


def js_judge_moves(source: str) -> dict[str, int]:
    """Each move into the test run `source` makes, with its first line."""
    moves: dict[str, int] = {}
    for number, line in enumerate(source.splitlines(), 1):
        for move, pattern in _MOVES:
            if move not in moves and pattern.search(line):
                moves[move] = number
    return moves


def js_runner_reason(path: str, old: str | None, new: str | None) -> str:
    """Why the model may not write `new` over `old` at `path` in a JavaScript project; ""
    when it may."""
    pure = PurePosixPath(path)
    if "node_modules" in pure.parts:
        return (
            f"`{path}` is in node_modules/: a package there would stand in for what the "
            "tests import"
        )
    if _CONFIGS.match(pure.name):
        return f"`{path}` configures a test runner or node itself"
    if pure.name == "package.json" and _package_fields(old) != _package_fields(new):
        fields = ", ".join(_PACKAGE_FIELDS)
        return f"`{path}`: its fields {fields} configure how the tests run"
    if pure.suffix in JS_SOURCES and new is not None:
        before = js_judge_moves(old or "")
        added = [(m, n) for m, n in js_judge_moves(new).items() if m not in before]
        if added:
            move, line = added[0]
            return (
                f"`{path}` line {line} {move}: code under test has no need to reach into "
                "the test run"
            )
    return ""


def _package_fields(text: str | None) -> object:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return "unreadable"
    if not isinstance(data, dict):
        return "not an object"
    return {k: data[k] for k in _PACKAGE_FIELDS if k in data}
