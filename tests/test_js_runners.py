"""vitest, jest and mocha, judged (`sandbox.toolchains.js_runners`, `sandbox.node_judge`):
small repositories whose runner a real `npm install` puts in the setup step's volume,
run in the real Docker sandbox (the JavaScript image); honest work judged as it is,
each way code under test could force a pass caught, and `greenloop fix` end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from fixture_repos import make_repo, tree_bytes
from scripted_agent import Script, search_replace

from agent.errors import UsageError
from agent.fix.js_project import js_test_command
from agent.fix.repair import prepare_fix, run_fix
from agent.model import ModelConfig, OpenAIChat
from agent.run.record import FixResult
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox.base import Suite, TestReport
from sandbox.config import SandboxConfig
from sandbox.toolchains import toolchain
from sandbox.toolchains.js_runner_files import js_runner_reason
from sandbox.toolchains.js_runners import runner_args

VERSIONS = {"vitest": "3.2.4", "jest": "29.7.0", "mocha": "10.8.2"}
RIGHT = "function add(a, b) {\n  return a + b\n}\nmodule.exports = { add }\n"
BAD_LINE, GOOD_LINE = "  return a - b", "  return a + b"
WRONG = RIGHT.replace(GOOD_LINE, BAD_LINE)
_BODY = """describe('add', () => {
  describe('small', () => {
    it('adds', () => {
      CHECK(add(1, 2), 3)
    })
  })
  it.skip('later', () => {})
  TABLE
})

test('zero', () => {
  CHECK(add(0, 0), 0)
})
"""
TESTS = {
    "vitest": "import { describe, it, test, expect } from 'vitest'\n"
    "import { add } from '../src/add.js'\n\n"
    + _BODY.replace("CHECK(add(1, 2), 3)", "expect(add(1, 2)).toBe(3)")
    .replace("CHECK(add(0, 0), 0)", "expect(add(0, 0)).toBe(0)")
    .replace(
        "TABLE",
        "it.each([[1, 1, 2], [2, 3, 5]])('adds %i and %i', (a, b, c) => {\n"
        "    expect(add(a, b)).toBe(c)\n  })",
    ),
    "jest": "const { add } = require('../src/add')\n\n"
    + _BODY.replace("CHECK(add(1, 2), 3)", "expect(add(1, 2)).toBe(3)")
    .replace("CHECK(add(0, 0), 0)", "expect(add(0, 0)).toBe(0)")
    .replace(
        "TABLE",
        "test.each([[1, 1, 2], [2, 3, 5]])('adds %i and %i', (a, b, c) => {\n"
        "    expect(add(a, b)).toEqual(c)\n  })",
    ),
    "mocha": "const assert = require('node:assert')\nconst { add } = require('../src/add')\n\n"
    + _BODY.replace("CHECK(", "assert.strictEqual(")
    .replace("test('zero'", "it('zero'")
    .replace(
        "TABLE",
        "for (const [a, b, c] of [[1, 1, 2], [2, 3, 5]]) {\n"
        "    it(`adds ${a} and ${b}`, () => {\n      assert.deepStrictEqual([add(a, b)], [c])\n"
        "    })\n  }",
    ),
}
COMMANDS = {"vitest": "vitest run test/", "jest": "jest", "mocha": "mocha test/"}
FORGED_JUNIT = (
    '<?xml version="1.0"?><testsuites><testsuite name="test/add.test.js">'
    '<testcase classname="test/add.test.js" name="add &gt; small &gt; adds"/>'
    "</testsuite></testsuites>"
)
ATTACKS = {
    "exits-when-loaded": "process.exit(0)\n" + WRONG,
    "prints-a-report": WRONG
    + f"console.log({FORGED_JUNIT!r})\n"
    + "console.log(JSON.stringify({ success: true, testResults: [{ assertionResults: [\n"
    + "  { ancestorTitles: ['add', 'small'], title: 'adds', status: 'passed' }] }] }))\n",
    "sends-a-forged-result-to-the-parent": WRONG
    + "if (process.send) {\n"
    + "  process.send({ t: 'q', i: 'x', m: 'onTaskUpdate',\n"
    + "    a: [[['x', { state: 'pass' }, {}]]] })\n"
    + "  process.send({ type: 'testResult', result: { numFailingTests: 0 } })\n}\n",
    "patches-the-assertions": WRONG
    + "const noop = () => any\nconst any = new Proxy(noop, { get: () => any, apply: () => any })\n"
    + "if (globalThis.expect) globalThis.expect = () => any\n"
    + "const assert = require('node:assert')\n"
    + "for (const k of Object.keys(assert)) if (typeof assert[k] === 'function') assert[k] = noop\n"
    + "const expectGlobal = globalThis[Symbol.for('expect-global')]\n"
    + "if (expectGlobal) globalThis[Symbol.for('expect-global')] = () => any\n",
}
LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=100_000, wall_seconds=600,
                    timeout=120)  # fmt: skip


def repository(runner: str, add: str = WRONG) -> dict[str, str]:
    package = {
        "name": f"adder-{runner}",
        "version": "1.0.0",
        "private": True,
        "scripts": {"test": COMMANDS[runner]},
        "devDependencies": {runner: VERSIONS[runner]},
    }
    return {
        "package.json": json.dumps(package, indent=2) + "\n",
        "src/add.js": add,
        "test/add.test.js": TESTS[runner],
    }


INSTALL = "npm install --no-audit --no-fund --loglevel=error"


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def installed(request: pytest.FixtureRequest) -> Iterator[tuple[str, SandboxConfig]]:
    """A runner installed by a real npm install in the setup step; the test sandbox's
    config, its volume holding node_modules."""
    engine: Any = request.getfixturevalue("docker_engine")
    from sandbox.image import require_image
    from sandbox.setup import prepared

    require_image(engine, spec=toolchain("javascript").image)  # missing: a failure
    runner = str(request.param)
    files = {p: t.encode() for p, t in repository(runner).items()}
    config = SandboxConfig(toolchain="javascript", run_id=f"runners-{runner}")
    with prepared(config, files, INSTALL) as ready:
        yield runner, ready


def judged(installed: tuple[str, SandboxConfig], add: str) -> TestReport:
    from sandbox import open_sandbox
    from sandbox.setup import RepoSandbox

    runner, config = installed
    files = repository(runner, add)
    chain = toolchain("javascript")
    tests = {p: t for p, t in files.items() if chain.runs_test(p, t)}
    assert list(tests) == ["test/add.test.js"]
    suite = Suite(tests, frozenset({"src/add.js"}))
    args = chain.test_args(js_test_command_of(files))
    with open_sandbox(config) as inner:
        sb = RepoSandbox(inner, {}, {"node_modules": f"{config.shared_dir}/node_modules"})
        sb.write(files)
        report = sb.run_tests(args, timeout=180, suite=suite)
        after = sb.read(["test/add.test.js"])["test/add.test.js"].decode()
    assert after == files["test/add.test.js"]  # the pristine test is written back
    return report


def js_test_command_of(files: dict[str, str]) -> str:
    return str(json.loads(files["package.json"])["scripts"]["test"])


EXPECTED = {
    "add > small > adds",
    "add > later",
    "add > adds 1 and 1",
    "add > adds 2 and 3",
    "zero",
}


def test_honest_work_is_judged_as_it_is(installed: tuple[str, SandboxConfig]) -> None:
    runner = installed[0]
    green = judged(installed, RIGHT)
    assert green.green and not green.tampered, green
    ids = {t.id.removeprefix("test/add.test.js::") for t in green.tests}
    assert ids == EXPECTED, ids
    assert [t.id for t in green.tests if t.outcome == "skipped"] == [
        "test/add.test.js::add > later"
    ]
    red = judged(installed, WRONG)
    assert not red.green and not red.tampered, red
    assert red.failing_ids == {
        "test/add.test.js::add > small > adds",
        "test/add.test.js::add > adds 1 and 1",
        "test/add.test.js::add > adds 2 and 3",
    }, (runner, red)
    failure = next(t for t in red.tests if t.id == "test/add.test.js::add > small > adds")
    line = next(n for n, t in enumerate(TESTS[runner].splitlines(), 1) if "add(1, 2)" in t)
    assert f"test/add.test.js:{line}:" in failure.traceback, (runner, failure.traceback)
    assert "-1" in failure.message + failure.traceback, failure


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_code_forcing_a_pass_never_turns_red_into_green(
    installed: tuple[str, SandboxConfig], attack: str
) -> None:
    report = judged(installed, ATTACKS[attack])
    assert not report.green, (installed[0], attack, report)
    if attack == "patches-the-assertions" and installed[0] != "vitest":
        assert report.tampered, (installed[0], attack, report)


# ---------------------------------------------------------------- what the model may not do


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("vitest.config.ts", "export default { test: { exclude: ['test/**'] } }\n"),
        ("vite.config.mjs", "export default { test: { include: [] } }\n"),
        ("jest.config.js", "module.exports = { testPathIgnorePatterns: ['test'] }\n"),
        (".mocharc.json", '{"grep": "zero"}\n'),
        (".mocharc.cjs", "module.exports = { require: ['./src/force.js'] }\n"),
        ("node_modules/vitest/vitest.mjs", "process.exit(0)\n"),
        ("node_modules/.bin/jest", "#!/bin/sh\nexit 0\n"),
    ],
)
def test_a_runner_config_or_a_shadow_written_by_the_model_is_refused(path: str, text: str) -> None:
    assert js_runner_reason(path, None, text)


def test_package_json_runner_fields_written_by_the_model_are_refused() -> None:
    old = repository("jest")["package.json"]
    for field, value in (("jest", {"testMatch": []}), ("mocha", {"grep": "x"}),
                         ("scripts", {"test": "jest --passWithNoTests -t zero"})):  # fmt: skip
        new = json.dumps(json.loads(old) | {field: value})
        assert js_runner_reason("package.json", old, new), field
    new = json.dumps(json.loads(old) | {"type": "commonjs"})
    assert js_runner_reason("package.json", old, new) == ""


@pytest.mark.parametrize(
    ("words", "args"),
    [
        (["vitest", "run", "--coverage", "test/"], ["--runner=vitest", "test/"]),
        (["jest", "--ci", "--maxWorkers", "2", "test/a.test.js"],
         ["--runner=jest", "test/a.test.js"]),
        (["mocha", "--reporter", "spec", "--recursive", "test"], ["--runner=mocha", "test"]),
        (["node", "node_modules/mocha/bin/mocha.js", "-t", "5000"], ["--runner=mocha"]),
        (["./node_modules/.bin/jest"], ["--runner=jest"]),
    ],
)  # fmt: skip
def test_a_runner_command_keeps_its_runner_and_files(words: list[str], args: list[str]) -> None:
    assert runner_args(words) == args


@pytest.mark.parametrize(
    "command",
    ["jest -t adds", "jest --testNamePattern=adds", "vitest run --exclude test/a.test.js",
     "mocha --grep zero", "mocha --require ./src/force.js", "jest --config other.js",
     "vitest run --bail 1", "jest --shard 1/2", "mocha --import=./x.mjs"],
)  # fmt: skip
def test_a_flag_that_changes_what_runs_is_refused_naming_the_form(command: str) -> None:
    with pytest.raises(UsageError, match=r"runs `(jest|vitest|mocha) \[test files\]`"):
        toolchain("javascript").test_args(command)


@pytest.mark.parametrize(
    ("scripts", "command", "said"),
    [
        ({"test": "vitest --run --coverage"}, "vitest run", "the repository's vitest"),
        ({"test": "npm run unit", "unit": "jest --ci test/"}, "jest test/", "jest"),
        ({"test": "npx mocha --recursive 'test/**/*.js' && eslint ."},
         "mocha 'test/**/*.js'", "not run: eslint ."),
        ({"test": "node --test && jest"}, "node --test", "not run: jest"),
    ],
)  # fmt: skip
def test_the_runner_is_told_by_the_test_script(
    tmp_path: Path, scripts: dict[str, str], command: str, said: str
) -> None:
    files = repository("jest") | {"package.json": json.dumps({"scripts": scripts})}
    if "node --test" in scripts["test"]:
        files["test/n.test.js"] = "const test = require('node:test')\ntest('n', () => {})\n"
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = js_test_command(tmp_path)
    assert found.command == command and said in found.why, found


# ---------------------------------------------------------------- fix, end to end


def _fix(root: Path, replies: list[str]) -> tuple[FixResult, Script]:
    script = Script("{}", {}, replies)
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(run_id=f"t{time.monotonic_ns()}", model_name="fake",
                              sandbox=SandboxConfig(), config=LIMITS,
                              setup_command=INSTALL)  # fmt: skip
        return run_fix(prepare_fix(root, options), model), script


@pytest.mark.docker
@pytest.mark.parametrize("runner", sorted(VERSIONS))
def test_fix_makes_the_repositorys_own_runner_green_on_the_fix_branch(
    tmp_path: Path, docker_engine: Any, runner: str
) -> None:
    from sandbox.image import require_image

    require_image(docker_engine, spec=toolchain("javascript").image)
    root = make_repo(tmp_path / runner, repository(runner))
    repo = git.Repo(root)
    before = (repo.active_branch.name, repo.head.commit.hexsha, tree_bytes(root))
    result, script = _fix(root, [search_replace("src/add.js", BAD_LINE, GOOD_LINE)])
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert "test/add.test.js::add > small > adds" in result.fixed
    assert (repo.active_branch.name, repo.head.commit.hexsha, tree_bytes(root)) == before
    fixed = repo.commit(result.branch)
    assert [d.a_path for d in fixed.parents[0].diff(fixed)] == ["src/add.js"]
    assert BAD_LINE in script.prompts[0]


def test_a_node_test_that_asserts_its_own_file_name_passes_under_the_judge() -> None:
    """The judge runs each test file under its own name (the mutant too, at the same
    path, in a run of its own), so a test may check `import.meta.url` or `__filename`."""
    import shutil

    from sandbox import open_sandbox
    from sandbox.config import SandboxKind

    if shutil.which("node") is None:
        pytest.skip("node is not installed on this machine (apt-get install nodejs)")
    files = {
        "test/self.test.mjs": "import test from 'node:test';\nimport assert from 'node:assert';\n"
        "test('knows its name', () => {\n"
        "  assert.ok(import.meta.url.endsWith('/test/self.test.mjs'));\n"
        "  assert.strictEqual(1 + 1, 2);\n});\n",
        "test/self.test.cjs": "const test = require('node:test');\n"
        "const assert = require('node:assert');\n"
        "test('knows its name', () => {\n"
        "  assert.strictEqual(require('node:path').basename(__filename), 'self.test.cjs');\n"
        "});\n",
    }
    chain = toolchain("javascript")
    suite = chain.folder_suite({p: t.encode() for p, t in files.items()})
    config = SandboxConfig(kind=SandboxKind.LOCAL, toolchain="javascript", run_id="pytest")
    with open_sandbox(config) as sb:
        sb.write(files)
        report = sb.run_tests(timeout=60, suite=suite)
    assert report.green and not report.tampered, report
    assert len(report.tests) == 2
