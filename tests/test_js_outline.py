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
