"""The definitions of JavaScript and TypeScript files, and where a test is
(`agent.fix.js_outline`): what fault localization shows of a JavaScript repository."""

from __future__ import annotations

from agent.fix.js_outline import js_spans, js_test_span

SOURCE = """'use strict'
const helper = (x) => x + 1;

function parse (header) {
  return header.split(',');
}

class Cache {
  get (key) {
    return this.map.get(key);
  }
}

exports.scale = function (xs, k) {
  return xs.map((x) => x * k);
};

module.exports = {
  parse,
  total (xs) { return xs.length; },
  twice: (x) => x * 2,
};
"""


def test_every_kind_of_definition_is_found_with_its_lines() -> None:
    spans = {(s.name, s.kind, s.start, s.end) for s in js_spans("index.js", SOURCE)}
    assert spans == {
        ("helper", "function", 2, 2),
        ("parse", "function", 4, 6),
        ("Cache", "class", 8, 12),
        ("Cache.get", "function", 9, 11),
        ("scale", "function", 14, 16),
        ("total", "function", 20, 20),
        ("twice", "function", 21, 21),
    }


def test_typescript_and_exported_declarations() -> None:
    source = (
        "export class Stack<T> {\n  push(item: T): void {}\n}\nexport const f = (): number => 1;\n"
    )
    names = [s.name for s in js_spans("src/stack.ts", source)]
    assert names == ["Stack", "Stack.push", "f"]


def test_a_test_is_found_by_its_nested_literal_names() -> None:
    source = (
        "const { describe, it } = require('node:test');\n"
        "describe('parse', () => {\n"
        "  it('splits', () => {\n    parse('a,b');\n  });\n"
        "  it('trims', () => {});\n"
        "});\n"
    )
    span = js_test_span("test/a.test.js", source, "parse > splits")
    assert span is not None and (span.start, span.end) == (3, 5)
    assert js_test_span("test/a.test.js", source, "parse > nothing") is None


def test_imports_bind_local_names_to_a_module_and_what_it_exports() -> None:
    from agent.fix.js_outline import js_imports

    source = (
        "import x, { a as b } from './m.mjs'\nimport * as ns from '../n.mjs'\n"
        "const whole = require('..')\nconst { p, q: r } = require('./lib')\n"
        "const f = require('./k').f\nexport { g } from './g.mjs'\nexport * from './all.mjs'\n"
    )
    assert js_imports("src/a.mjs", source) == {
        "x": ("./m.mjs", "default"),
        "b": ("./m.mjs", "a"),
        "ns": ("../n.mjs", ""),
        "whole": ("..", ""),
        "p": ("./lib", "p"),
        "r": ("./lib", "q"),
        "f": ("./k", "f"),
        "g": ("./g.mjs", "g"),
        "*./all.mjs": ("./all.mjs", "*"),
    }


def test_what_lines_use_and_what_a_module_is() -> None:
    from agent.fix.js_outline import js_default_export, js_uses

    source = "const c = new Cache(2)\nc.get(1)\nlib.range.fit(3)\nhelper()\n"
    uses = js_uses("a.js", source, 1, 4)
    assert {"c", "Cache", "lib", "helper"} <= uses.names
    assert {("c", "get"), ("lib.range", "fit"), ("lib", "range")} <= set(uses.attributes)
    assert uses.binds == {"c": "Cache"}
    assert js_uses("a.js", source, 4, 4).names == {"helper"}
    assert js_default_export("a.js", "function f () {}\nmodule.exports = f\n") == "f"
    assert js_default_export("a.mjs", "export default function g () {}\n") == "g"
    assert js_default_export("a.js", "module.exports = { f }\n") is None


def test_a_test_is_found_by_a_line_it_holds() -> None:
    from agent.fix.js_outline import js_test_at

    source = "for (const v of [1, 2]) {\n  test(`v ${v}`, () => {\n    f(v)\n  })\n}\n"
    span = js_test_at("test/a.test.js", source, 3)
    assert span is not None and (span.start, span.end) == (2, 4)
    assert js_test_at("test/a.test.js", source, 1) is None


def test_the_repo_map_lists_javascript_definitions() -> None:
    from agent.fix.excerpts import fix_context
    from agent.fix.tags import js_tags

    tags = js_tags("index.js", SOURCE)
    assert {d.name for d in tags.defs} >= {"helper", "parse", "Cache", "get", "scale"}
    assert "function parse (header)" in {d.signature for d in tags.defs}
    files = {"index.js": SOURCE, "use.js": "const { parse } = require('./index')\nparse('a')\n"}
    context = fix_context(files, [], [], 400, suffixes=(".js",))
    assert "Map of the rest" in context.text and "function parse (header)" in context.text
