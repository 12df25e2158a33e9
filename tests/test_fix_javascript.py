"""`greenloop fix` on JavaScript repositories: the test command read from package.json,
localization from the failing test's calls and the stack frames, and whole runs (the
real openai client against a fake server, node's runner judged in the local sandbox
and in Docker's JavaScript image, real git in tmp)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI, Reply, Request
from fixture_repos import make_repo, tree_bytes
from scripted_agent import Script, search_replace

from agent.errors import UsageError
from agent.fix.js_localize import js_frames, js_localize
from agent.fix.js_project import js_test_command
from agent.fix.repair import detect_tests, prepare_fix, run_fix
from agent.model import ModelConfig, OpenAIChat
from agent.run.record import FixResult
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox import SandboxConfig
from sandbox.base import SandboxKind
from sandbox.toolchains.javascript import runs_named

LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=100_000, wall_seconds=300,
                    timeout=60)  # fmt: skip

RANGE = """'use strict'

function clamp (value, low, high) {
  if (value < low) return low
  if (value > high) return high
  return value
}

function parseRange (text) {
  const [a, b] = text.split('-').map(Number)
  if (Number.isNaN(a) || Number.isNaN(b)) throw new Error('bad range: ' + text)
  return { low: a, high: b }
}

module.exports = { clamp, parseRange }
"""
INDEX = """'use strict'
const { clamp, parseRange } = require('./lib/range')

function fit (value, range) {
  const { low, high } = parseRange(range)
  return clamp(value, low, high)
}

function label (value) {
  return `value ${value}`
}

module.exports = { fit, label }
"""
TESTS = """'use strict'
const { test, describe } = require('node:test')
const assert = require('node:assert')
const { fit, label } = require('..')

describe('fit', () => {
  test('keeps a value inside', () => {
    assert.strictEqual(fit(5, '1-9'), 5)
  })
  test('caps a value above', () => {
    assert.strictEqual(fit(12, '1-9'), 9)
  })
})

test('labels a value', () => {
  assert.strictEqual(label(3), 'value 3')
})
"""
GOOD, BAD = "  if (value > high) return high", "  if (value > high) return low"


def package(scripts: dict[str, str] | None = None, **more: Any) -> str:
    data: dict[str, Any] = {"name": "fitting", "version": "1.0.0", "main": "index.js"}
    if scripts is not None:
        data["scripts"] = scripts
    return json.dumps(data | more, indent=2) + "\n"


def fitting(scripts: dict[str, str] | None = None) -> dict[str, str]:
    """The package with the injected bug: a value above the range is clamped to its low end."""
    return {
        "package.json": package({"test": "node --test"} if scripts is None else scripts),
        "index.js": INDEX,
        "lib/range.js": RANGE.replace(GOOD, BAD),
        "test/fit.test.js": TESTS,
        "README.md": "# fitting\n",
    }


# ---------------------------------------------------------------- the test command


def _project(tmp_path: Path, scripts: dict[str, str] | None) -> Path:
    for rel, text in fitting(scripts).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("scripts", "command", "said"),
    [
        ({"test": "node --test"}, "node --test", "test script ('node --test')"),
        (
            {"test": "npm run unit && npm run types", "unit": "c8 --100 node --test",
             "types": "tstyche"},
            "node --test",
            "not run: tstyche",
        ),
        ({"test": "NODE_ENV=test node --test --test-reporter spec 'test/*.test.js'"},
         "node --test 'test/*.test.js'", "node's test runner"),
        ({"test": "node test/fit.test.js"}, "node --test test/fit.test.js", "node's test runner"),
        ({"test": "yarn unit", "unit": "node --test test/"}, "node --test test/", "test script"),
    ],
)  # fmt: skip
def test_the_node_test_command_is_read_from_the_test_script(
    tmp_path: Path, scripts: dict[str, str], command: str, said: str
) -> None:
    found = js_test_command(_project(tmp_path, scripts))
    assert found.command == command and said in found.why


@pytest.mark.parametrize(
    ("scripts", "given", "named"),
    [
        ({"test": "tap --coverage"}, None, "'tap --coverage'"),
        ({"test": "npm run unit", "unit": "ava --verbose"}, None, "'ava --verbose'"),
        ({"lint": "eslint ."}, None, "no test script"),
        ({}, None, "no test script"),
        ({"test": "node --test"}, "npx ava test/", "'npx ava test/'"),
    ],
)
def test_another_runner_or_no_script_is_a_usage_error_naming_both_ways(
    tmp_path: Path, scripts: dict[str, str], given: str | None, named: str
) -> None:
    with pytest.raises(UsageError) as caught:
        detect_tests(_project(tmp_path, scripts), given)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert named in message and "--test-cmd 'node --test" in message and "node:test" in message


def test_a_suite_for_node_test_under_another_runner_names_its_files(tmp_path: Path) -> None:
    root = _project(tmp_path, {"test": "borp --coverage"})
    (root / "node_modules" / "x" / "test").mkdir(parents=True)
    (root / "node_modules" / "x" / "test" / "a.test.js").write_text(TESTS)
    with pytest.raises(UsageError, match=r"1 test file\(s\) here import node:test \(test/fit"):
        detect_tests(root)


def test_a_given_node_command_and_a_python_repository_beside_a_package_json(
    tmp_path: Path,
) -> None:
    root = _project(tmp_path, {"test": "jest"})
    found = detect_tests(root, "node --test test/fit.test.js")
    assert (found.command, found.language) == ("node --test test/fit.test.js", "javascript")
    (root / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    assert detect_tests(root, "python -m pytest").language == "python"
    assert detect_tests(root).language == "python"  # a Python project: pytest's tests
    (root / "pytest.ini").write_text("[pytest]\n")
    assert detect_tests(root).language == "python"  # pytest's config decides


def test_the_files_named_say_which_test_files_run() -> None:
    assert runs_named("test/a.test.js", [])
    assert runs_named("test/a.test.js", ["test/*.test.js"])
    assert not runs_named("test/deep/a.test.js", ["test/*.test.js"])
    assert runs_named("test/deep/a.test.js", ["test/**/*.test.js", "x"])
    assert runs_named("test/unit/a.test.js", ["./test/unit/"])
    assert not runs_named("test/e2e/a.test.js", ["test/unit"])


# ---------------------------------------------------------------- localization


def test_a_failing_assertion_reaches_the_buggy_function_two_calls_down() -> None:
    files = fitting()
    suspects, tests = js_localize(files, ["test/fit.test.js::fit > caps a value above"])
    assert [(t.path, t.start, t.end) for t in tests] == [("test/fit.test.js", 10, 12)]
    names = [(s.span.path, s.span.name) for s in suspects]
    assert names[0] == ("index.js", "fit")  # what the test calls
    assert ("lib/range.js", "clamp") in names  # what that calls, one level further
    assert ("index.js", "label") not in names  # another test's


def test_stack_frames_are_mapped_back_to_the_repository() -> None:
    files = fitting()
    trace = (
        "Error: bad range: x\n"
        "    at parseRange (/tmp/greenloop-local-1/lib/range.js:11:51)\n"
        "    at fit (file:///workspace/index.js:5:25)\n"
        "    at TestContext.<anonymous> (test/fit.test.js:8:24)\n"
        "    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n"
        "    at x (/workspace/node_modules/y/index.js:1:1)\n"
    )
    assert js_frames(trace, files) == [("lib/range.js", 11), ("index.js", 5),
                                       ("test/fit.test.js", 8)]  # fmt: skip
    suspects, _ = js_localize(files, [], [trace])
    first = suspects[0]
    assert (first.span.name, first.signals) == ("parseRange", {"traceback": 1.0})


def test_imports_of_es_modules_classes_and_the_package_name_are_followed() -> None:
    files = {
        "package.json": package(name="shapes", main="src/index.mjs"),
        "src/index.mjs": "export { Box } from './box.mjs'\nexport * from './util.mjs'\n",
        "src/box.mjs": (
            "import { round } from './util.mjs'\n"
            "export class Box {\n  constructor (w) { this.w = w }\n"
            "  area () { return round(this.w * this.w) }\n}\n"
        ),
        "src/util.mjs": "export function round (x) {\n  return Math.round(x)\n}\n",
        "test/box.test.mjs": (
            "import test from 'node:test'\nimport assert from 'node:assert'\n"
            "import { Box } from '../src/box.mjs'\nimport * as util from 'shapes/src/util.mjs'\n"
            "test('area', () => {\n  const b = new Box(2)\n  assert.equal(b.area(), 4)\n"
            "  assert.equal(util.round(1.2), 1)\n})\n"
        ),
    }
    suspects, _ = js_localize(files, ["test/box.test.mjs::area"])
    names = {s.span.name for s in suspects}
    assert {"Box", "Box.area", "round"} <= names
    # through the package's main, which passes them on (export { } from, export * from)
    files["test/box.test.mjs"] = (
        "import test from 'node:test'\nimport assert from 'node:assert'\n"
        "import { Box, round } from 'shapes'\n"
        "test('area', () => {\n  assert.equal(new Box(2).area(), round(4.2))\n})\n"
    )
    suspects, _ = js_localize(files, ["test/box.test.mjs::area"])
    assert {"Box", "Box.area", "round"} <= {s.span.name for s in suspects}


@pytest.mark.parametrize(
    "exported",
    [
        "module.exports = forwarded\n",
        "module.exports = forwarded\nmodule.exports.default = forwarded\n",
    ],
)
def test_a_module_that_is_its_function_is_resolved_through_its_default_export(
    exported: str,
) -> None:
    files = {
        "package.json": package(),
        "index.js": "function forwarded (req) {\n  return [req]\n}\n\n" + exported,
        "test/test.js": (
            "const test = require('node:test')\nconst forwarded = require('..')\n"
            "test('wraps', (t) => {\n  t.assert.deepStrictEqual(forwarded(1), [1])\n})\n"
        ),
    }
    suspects, _ = js_localize(files, ["test/test.js::wraps"])
    assert [s.span.name for s in suspects] == ["forwarded"]


@pytest.mark.parametrize(
    "reply",
    [
        "```javascript lib/range.js\n{block}```\n",
        "lib/range.js\n```javascript\n{block}```\n",
        "```js\n// lib/range.js\n{block}```\n",
    ],
)
def test_edits_in_javascript_fences_apply(reply: str) -> None:
    from agent.edits import FORMATS, apply_reply

    block = f"<<<<<<< SEARCH\n{BAD}\n=======\n{GOOD}\n>>>>>>> REPLACE\n"
    files = fitting()
    applied = apply_reply(FORMATS["search-replace"], reply.format(block=block), files, {})
    assert applied.code["lib/range.js"] == RANGE


# ---------------------------------------------------------------- whole runs


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def sandbox(request: pytest.FixtureRequest) -> SandboxConfig:
    if request.param == "local":
        if shutil.which("node") is None:
            pytest.skip("node is not installed on this machine (apt-get install nodejs)")
        return SandboxConfig(kind=SandboxKind.LOCAL)
    engine: Any = request.getfixturevalue("docker_engine")
    from sandbox.image import require_image
    from sandbox.toolchains import toolchain

    require_image(engine, spec=toolchain("javascript").image)  # missing: a failure
    return SandboxConfig()


class _Script(Script):
    """The scripted model, keeping each request's system prompt too."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__("{}", {}, replies)
        self.systems: list[str] = []

    def __call__(self, request: Request) -> Reply:
        self.systems.append(str(request.messages[0]["content"]))
        return super().__call__(request)


def _fix(
    root: Path, replies: list[str], sandbox: SandboxConfig, **more: Any
) -> tuple[FixResult, _Script]:
    script = _Script(replies)
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(run_id=f"t{time.monotonic_ns()}", model_name="fake",
                              sandbox=sandbox, config=LIMITS, **more)  # fmt: skip
        return run_fix(prepare_fix(root, options), model), script


def _state(root: Path) -> tuple[str, str, dict[str, bytes]]:
    repo = git.Repo(root)
    return repo.active_branch.name, repo.head.commit.hexsha, tree_bytes(root)


def test_a_javascript_bug_is_fixed_on_the_fix_branch(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    root = make_repo(tmp_path / "fitting", fitting())
    before = _state(root)
    result, script = _fix(root, [search_replace("lib/range.js", BAD, GOOD)], sandbox)
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert result.fixed == ["test/fit.test.js::fit > caps a value above"]
    assert result.branch == f"greenloop/fix-{result.run_id}" and result.commit
    assert _state(root) == before  # the user's branch, HEAD and tree
    fixed = git.Repo(root).commit(result.branch)
    assert fixed.parents[0].hexsha == before[1]
    assert [d.a_path for d in fixed.parents[0].diff(fixed)] == ["lib/range.js"]
    assert (fixed.tree / "lib/range.js").data_stream.read().decode() == RANGE
    first = script.prompts[0]
    assert BAD in first and "```javascript" in first
    assert "JavaScript programmer" in script.systems[0]
    assert "path/to/file.js" in first and "```python" not in first


def test_an_edit_of_a_javascript_test_is_refused(tmp_path: Path, sandbox: SandboxConfig) -> None:
    root = make_repo(tmp_path / "fitting", fitting())
    cheat = search_replace("test/fit.test.js", "fit(12, '1-9'), 9)", "fit(12, '1-9'), 1)")
    result, script = _fix(root, [cheat], sandbox)
    assert result.status == "red" and not result.commit
    assert any("NOT applied" in p and "test/fit.test.js" in p for p in script.prompts[1:])


def test_a_missing_npm_package_stops_before_any_model_call(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    files = fitting()
    files["index.js"] = "const pad = require('left-pad')\n" + INDEX
    root = make_repo(tmp_path / "fitting", files)
    result, script = _fix(root, ["never asked"], sandbox)
    assert (result.status, result.exit_reason) == ("error", "missing-dependency")
    assert result.missing == ["left-pad"] and "--setup-cmd 'npm ci'" in (result.error or "")
    assert script.prompts == []


@pytest.mark.docker
def test_what_a_setup_step_installs_is_found_by_node(tmp_path: Path, docker_engine: Any) -> None:
    """The setup step's node_modules (in its volume, at /deps) is linked into every
    workspace: node looks for packages in the folders above the code."""
    from sandbox.image import require_image
    from sandbox.toolchains import toolchain

    require_image(docker_engine, spec=toolchain("javascript").image)
    files = fitting()
    files["index.js"] = "const pad = require('left-pad')\n" + INDEX
    root = make_repo(tmp_path / "fitting", files)
    install = ("mkdir -p node_modules/left-pad && "
               "echo 'module.exports = (s) => s' > node_modules/left-pad/index.js")  # fmt: skip
    result, _ = _fix(root, [search_replace("lib/range.js", BAD, GOOD)], SandboxConfig(),
                     setup_command=install)  # fmt: skip
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    tree = git.Repo(root).commit(result.branch).tree
    assert "node_modules" not in {b.path.split("/")[0] for b in tree.traverse()}


def test_a_file_that_fails_to_load_says_why_and_where(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    files = fitting()
    files["lib/range.js"] = RANGE
    files["index.js"] = INDEX.replace("require('./lib/range')", "require('./lib/ranges')")
    root = make_repo(tmp_path / "fitting", files)
    line = "const { clamp, parseRange } = require('./lib/range')"
    undo = search_replace("index.js", line.replace("range", "ranges"), line)
    result, script = _fix(root, [undo], sandbox)
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert result.fixed == ["test/fit.test.js"]
    first = script.prompts[0]
    assert "Cannot find module './lib/ranges'" in first and "index.js" in first
    assert "greenloop-local" not in first  # the sandbox's paths are the repository's


STACK_TS = """export class Stack<T> {
  private items: T[] = [];

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[0];
  }
}
"""
STACK_TEST = """import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../src/stack.ts';

test('peek shows the last item pushed', () => {
  const s = new Stack<number>();
  s.push(1);
  s.push(2);
  assert.equal(s.peek(), 2);
});
"""


def test_a_typescript_bug_is_fixed_with_prompts_in_typescript(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    if sandbox.kind == SandboxKind.LOCAL and shutil.which("esbuild") is None:
        pytest.skip("esbuild is not installed on this machine (apt-get install esbuild)")
    files = {
        "package.json": package({"test": "node --test test/"}, type="module"),
        "src/stack.ts": STACK_TS,
        "test/stack.test.ts": STACK_TEST,
    }
    root = make_repo(tmp_path / "stack", files)
    fix = search_replace("src/stack.ts", "    return this.items[0];",
                         "    return this.items[this.items.length - 1];")  # fmt: skip
    result, script = _fix(root, [fix], sandbox)
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert result.language == "javascript"
    first = script.prompts[0]
    assert "return this.items[0];" in first and "```typescript" in first
    assert "TypeScript programmer" in script.systems[0]


def test_a_test_named_by_an_expression_is_found_by_its_frame() -> None:
    files = fitting()
    files["test/fit.test.js"] = (
        "const { test } = require('node:test')\nconst assert = require('node:assert')\n"
        "const { fit } = require('..')\n"
        "for (const [v, want] of [[5, 5], [12, 9]]) {\n"
        "  test(`fits ${v}`, () => {\n    assert.strictEqual(fit(v, '1-9'), want)\n  })\n}\n"
    )
    trace = "AssertionError: 1 !== 9\n    at TestContext.<anonymous> (test/fit.test.js:6:12)"
    suspects, tests = js_localize(files, ["test/fit.test.js::fits 12"], [trace])
    assert [(t.start, t.end) for t in tests] == [(5, 7)]
    assert {"fit", "clamp"} <= {s.span.name for s in suspects}
