"""What JavaScript and TypeScript tests require of the code (`agent.new.js_requirements`),
and the exports a small model drops put back."""

from __future__ import annotations

import pytest

from agent.new.js_requirements import extract_js_requirements, restore_exports
from agent.new.requirements import requirements_text

TEST = """import test from 'node:test';
import assert from 'node:assert/strict';
import { add, Stack as S } from '../src/add.mjs';
import * as m from '../src/more.mjs';
import { helper } from './helper.mjs';
const { sub } = require('../src/sub.cjs');

test('x', () => {
  assert.equal(add(1, 2), 3);
  new S(4);
  sub(1, 2, 3);
  m.scale([1], 2);
  helper();
});
"""


def test_imports_name_the_files_and_the_calls_their_arity() -> None:
    reqs = extract_js_requirements({"test/add.test.mjs": TEST, "test/helper.mjs": "x"})
    found = {m.path: {(n.name, n.kind, tuple(c.positional for c in n.calls)) for n in m.names}
             for m in reqs.modules}  # fmt: skip
    assert found == {
        "src/add.mjs": {("add", "function", (2,)), ("Stack", "class", (1,))},
        "src/more.mjs": {("scale", "function", (2,))},
        "src/sub.cjs": {("sub", "function", (3,))},
    }  # the tests' own helper is theirs, not the code's
    assert "`add(arg1, arg2)`: called as `add(1, 2)`" in requirements_text(reqs)


def test_typescript_imports_name_the_ts_file_as_tsc_does() -> None:
    reqs = extract_js_requirements(
        {"test/s.test.ts": "import { Stack } from '../src/stack.js';\nnew Stack<number>();\n"}
    )
    assert [m.path for m in reqs.modules] == ["src/stack.ts"]
    assert reqs.modules[0].names[0].kind == "class"


@pytest.mark.parametrize(
    ("path", "source", "commonjs", "added"),
    [
        ("calc.mjs", "function add(a, b) {\n  return a + b;\n}\n", False, "export { add };"),
        ("sub.cjs", "const sub = (a, b) => a - b;\n", True, "module.exports = { sub };"),
        ("s.ts", "class Stack<T> {\n  push(x: T): void {}\n}\n", False, "export { Stack };"),
        ("calc.mjs", "export function add(a, b) { return a + b; }\n", False, ""),
        ("calc.mjs", "function add(a, b) {}\nexport { add };\n", False, ""),
        ("sub.cjs", "function sub() {}\nmodule.exports.sub = sub;\n", True, ""),
        ("calc.mjs", "function plus(a, b) {}\n", False, ""),  # not defined: the tests say so
    ],
)
def test_a_dropped_export_is_put_back(path: str, source: str, commonjs: bool, added: str) -> None:
    names = ["add", "sub", "Stack"]
    restored = restore_exports(path, source, names, commonjs=commonjs)
    if added:
        assert restored == source.rstrip("\n") + f"\n\n{added}\n"
    else:
        assert restored == source
