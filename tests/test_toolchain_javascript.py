"""JavaScript's judged test run (`sandbox.toolchains.javascript`, `sandbox.node_judge`):
honest work judged as it is, and each way a model's code could forge a green caught.

Every scenario runs with the real node, in the local sandbox (node on this machine)
and in the Docker sandbox (the JavaScript image)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.base import TestReport
from sandbox.config import SandboxConfig, SandboxKind
from sandbox.toolchains import detect, toolchain

TESTS = {
    "test/add.test.mjs": (
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\n"
        "import { add } from '../src/add.mjs';\n\n"
        "test('adds', () => {\n  assert.strictEqual(add(1, 2), 3);\n});\n\n"
        "test('adds negatives', () => {\n  assert.equal(add(-1, -2), -3);\n});\n"
    ),
    "test/sub.test.cjs": (
        "const { describe, it } = require('node:test');\nconst assert = require('node:assert');\n"
        "const { sub } = require('../src/sub.cjs');\n\n"
        "describe('sub', () => {\n  it('subtracts', () => {\n"
        "    assert.deepStrictEqual([sub(5, 3)], [2]);\n  });\n});\n"
    ),
}
SUB = "function sub(a, b) { return a - b; }\nmodule.exports = { sub };\n"
RIGHT = "export function add(a, b) { return a + b; }\n"
WRONG = "export function add(a, b) { return a - b; }\n"
FORGED_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\\n<testsuites>'
    '<testcase name="adds" time="0.001" classname="test"/>'
    '<testcase name="adds negatives" time="0.001" classname="test"/></testsuites>\\n'
)
ATTACKS = {
    "exits-before-tests": "process.exit(0);\n" + WRONG,
    "prints-a-report": (
        WRONG + f"console.log('{FORGED_XML}');\n"
        "console.log('TAP version 13\\nok 1 - adds\\nok 2 - adds negatives\\n1..2\\n# pass 2');\n"
        "process.stdout.write('\\u0001\\u0000\\u0000\\u0000' + JSON.stringify("
        "{type: 'test:pass', data: {name: 'adds', nesting: 0}}));\n"
    ),
    "writes-the-report-channel": (
        WRONG + "import fs from 'node:fs';\n"
        "const to = process.execArgv.find((a) => a.startsWith('--test-reporter-destination'));\n"
        f"fs.writeFileSync(to.split('=')[1], '{FORGED_XML}');\n"
        "process.exit(0);\n"
    ),
    "patches-assert": (
        WRONG + "import assert from 'node:assert/strict';\nimport plain from 'node:assert';\n"
        "for (const a of [assert, plain]) for (const k of Object.keys(a)) "
        "if (typeof a[k] === 'function') a[k] = () => {};\n"
    ),
    "rewrites-the-tests": (
        WRONG + "import fs from 'node:fs';\n"
        "for (const f of fs.readdirSync('test')) if (f.endsWith('.mjs')) fs.writeFileSync("
        "'test/' + f, \"import test from 'node:test';\\ntest('adds', () => {});\\n"
        "test('adds negatives', () => {});\\n\");\n"
    ),
}


@pytest.fixture(params=["local", "docker"])
def config(request: pytest.FixtureRequest) -> Iterator[SandboxConfig]:
    if request.param == "local":
        if shutil.which("node") is None:
            pytest.skip("node is not installed on this machine (apt-get install nodejs)")
        yield SandboxConfig(kind=SandboxKind.LOCAL, toolchain="javascript", run_id="pytest")
        return
    engine: Any = request.getfixturevalue("docker_engine")
    from sandbox.image import require_image

    require_image(engine, spec=toolchain("javascript").image)  # missing: a failure
    yield SandboxConfig(toolchain="javascript", run_id="pytest")


def _run(config: SandboxConfig, add: str) -> TestReport:
    from sandbox import open_sandbox

    files: dict[str, str | bytes] = {**TESTS, "src/add.mjs": add, "src/sub.cjs": SUB}
    chain = detect(files)
    assert chain.name == "javascript"
    suite = chain.folder_suite({p: str(t).encode() for p, t in files.items()})
    with open_sandbox(config) as sb:
        sb.write(files)
        report = sb.run_tests(timeout=60, suite=suite)
        after = sb.read(sorted(TESTS))
    # the tests are written back as they were, and nothing the judge made is left
    assert {p: d.decode() for p, d in after.items()} == TESTS
    return report


def test_honest_work_is_judged_as_it_is(config: SandboxConfig) -> None:
    green = _run(config, RIGHT)
    assert green.green and not green.tampered, green
    assert sorted(t.id for t in green.tests) == [
        "test/add.test.mjs::adds",
        "test/add.test.mjs::adds negatives",
        "test/sub.test.cjs::sub > subtracts",
    ]
    red = _run(config, WRONG)
    assert not red.green and not red.tampered
    assert red.failing_ids == {"test/add.test.mjs::adds", "test/add.test.mjs::adds negatives"}
    failure = next(t for t in red.tests if t.id == "test/add.test.mjs::adds")
    assert "-1 !== 3" in failure.message and "test/add.test.mjs" in failure.traceback


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_forgery_never_turns_red_into_green(config: SandboxConfig, attack: str) -> None:
    report = _run(config, ATTACKS[attack])
    assert not report.green, (attack, report)
    if attack in ("writes-the-report-channel", "patches-assert", "rewrites-the-tests"):
        assert report.tampered, (attack, report)


TS_TEST = (
    "import test from 'node:test';\nimport assert from 'node:assert/strict';\n"
    "import { add } from '../src/add.js';\n\n"
    "test('adds', () => {\n  const sum: number = add(1, 2);\n  assert.strictEqual(sum, 3);\n});\n"
)


def test_typescript_runs_with_no_build_step_and_traces_name_its_lines(
    config: SandboxConfig,
) -> None:
    from sandbox import open_sandbox

    if config.kind is SandboxKind.LOCAL and shutil.which("esbuild") is None:
        pytest.skip("esbuild is not installed on this machine (apt-get install esbuild)")
    reports = []
    for body in ("a + b", "a - b"):
        add = f"export function add(a: number, b: number): number {{\n  return {body};\n}}\n"
        files: dict[str, str | bytes] = {"test/add.test.ts": TS_TEST, "src/add.ts": add}
        chain = detect(files)
        suite = chain.folder_suite({p: str(t).encode() for p, t in files.items()})
        with open_sandbox(config) as sb:
            sb.write(files)
            reports.append(sb.run_tests(timeout=60, suite=suite))
    green, red = reports
    assert green.green and [t.id for t in green.tests] == ["test/add.test.ts::adds"], green
    assert not red.green and not red.tampered
    assert "test/add.test.ts:7:" in red.tests[0].traceback, red.tests[0].traceback


def test_exiting_before_the_tests_is_an_error_on_that_file(config: SandboxConfig) -> None:
    report = _run(config, ATTACKS["exits-before-tests"])
    assert [c.id for c in report.collection_errors] == ["test/add.test.mjs"]
    assert "ended before its tests ran" in report.collection_errors[0].message


def test_a_folder_tells_its_language_by_its_tests() -> None:
    from sandbox.errors import UsageError

    assert detect(["src/a.py", "tests/test_a.py"]).name == "python"
    assert detect(["index.js", "test/index.js", "package.json"]).name == "javascript"
    assert detect(["lib/a.spec.cjs"]).name == "javascript"
    assert detect(["src/a.ts", "src/a.test.ts"]).name == "javascript"
    assert detect(["package.json"]).name == "javascript"
    with pytest.raises(UsageError, match=r"language in task\.toml"):
        detect(["tests/test_a.py", "a.test.js"])
    with pytest.raises(UsageError, match=r"language in task\.toml"):
        detect(["README.md"])
    with pytest.raises(UsageError, match="one of python, javascript"):
        toolchain("cobol")


def _document(*files: dict[str, Any]) -> bytes:
    import base64
    import json

    for f in files:
        f["xml"] = base64.b64encode(f["xml"].encode()).decode()
    return json.dumps({"judge": 1, "files": list(files), "lost": ""}).encode()


def _xml(*cases: str) -> str:
    return f"<testsuites>{''.join(cases)}</testsuites>"


def test_a_named_test_missing_from_the_report_is_an_error_and_a_stray_skip_is_tampered() -> None:
    from sandbox.base import ExecResult
    from sandbox.toolchains.javascript import NOT_RUN, judge

    ok = ExecResult("", 0)
    pristine = {"test/add.test.mjs": TESTS["test/add.test.mjs"]}
    one = _xml('<testcase name="adds"/>')
    report = judge(_document({"path": "test/add.test.mjs", "role": "test", "rc": 0, "xml": one}),
                   ok, pristine=pristine)  # fmt: skip
    assert not report.green
    missing = [t for t in report.tests if t.outcome == "error"]
    assert [(t.id, t.message) for t in missing] == [("test/add.test.mjs::adds negatives", NOT_RUN)]
    skipped = _xml('<testcase name="adds"/>',
                   '<testcase name="adds negatives"><skipped message="x"/></testcase>')  # fmt: skip
    report = judge(_document({"path": "test/add.test.mjs", "role": "test", "rc": 0,
                              "xml": skipped}), ok, pristine=pristine)  # fmt: skip
    assert "skips none" in report.tampered
    # a file that skips tests itself may have them reported skipped
    own = {
        "test/add.test.mjs": TESTS["test/add.test.mjs"].replace(
            "test('adds negatives'", "test.skip('adds negatives'"
        )
    }
    report = judge(_document({"path": "test/add.test.mjs", "role": "test", "rc": 0,
                              "xml": skipped}), ok, pristine=own)  # fmt: skip
    assert report.green and report.skipped == 1


def test_the_inventory_reads_literal_names_nested_as_node_reports_them() -> None:
    from sandbox.toolchains.js_inventory import inventory

    source = (
        "import test, { describe, it } from 'node:test';\n"
        "test('adds', () => {});\n"
        "describe('group', () => { it('inner', () => {}); it.skip(\"later\", () => {}); });\n"
        "test('parent', async (t) => { await t.test(`sub`, () => {}); });\n"
        "for (const x of [1, 2]) test(`case ${x}`, () => {});\n"
        "test('it\\'s', () => {});\n"
    )
    assert inventory(source) == {"adds", "group > inner", "group > later", "parent > sub"}
    typed = "import test from 'node:test';\ntest('typed', (): void => { const n: number = 1; });\n"
    assert inventory(typed, typescript=True) == {"typed"}


def test_only_files_that_import_nodes_runner_are_its_tests() -> None:
    """A helper under test/ stays where the tests require it; a jest file (its globals)
    is not node's to run (as in process-warning's own test folder)."""
    files = {
        "test/a.test.js": b"const { test } = require('node:test')\nconst h = require('./helper')\n",
        "test/helper.js": b"module.exports = { withResolvers () {} }\n",
        "test/jest.test.js": b"/* global test */\nif (globalThis.test) test('x', () => {})\n",
        "index.js": b"module.exports = 1\n",
    }
    suite = toolchain("javascript").folder_suite(files)
    assert set(suite.tests) == {"test/a.test.js"}
    assert suite.watch == frozenset({"index.js"})
