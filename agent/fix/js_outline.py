"""The definitions of a JavaScript or TypeScript file, and where a test is, with tree-sitter:
what fault localization shows of a JavaScript repository.

    js_spans("index.js", source)          # [Span(name="parse", kind="function", ...), ...]
    js_test_span("test/a.test.js", source, "parse > handles empty input")

A definition is a function declaration, a class and its methods, a function or arrow
function bound to a name (`const parse = (s) => ...`, `exports.parse = function ...`,
`module.exports = { parse (s) { ... } }`). A test is the call of `test`/`it`/`describe`
(or `t.test`) whose literal names, nested, are the test's id after `::`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.fix.symbols import Span
from sandbox.toolchains.js_inventory import parser_for

__all__ = ["js_spans", "js_test_span"]

_TESTS = frozenset({"test", "it", "describe", "suite"})
_FUNCTIONS = frozenset({"function_expression", "arrow_function", "function", "generator_function"})


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", "replace"))


def _tree(path: str, source: str) -> Any:
    return parser_for(path.endswith((".ts", ".mts"))).parse(source.encode("utf-8", "replace"))


def js_spans(path: str, source: str) -> list[Span]:
    """The file's definitions, outermost first, each with its 1-based lines."""
    spans = list(_definitions(_tree(path, source).root_node, path, ""))
    return sorted(spans, key=lambda s: (s.start, -s.end))


def _span(path: str, node: Any, name: str, kind: str, scope: str) -> Span:
    qualified = f"{scope}.{name}" if scope else name
    return Span(path, qualified, kind, node.start_point[0] + 1, node.end_point[0] + 1, scope)


def _definitions(node: Any, path: str, scope: str) -> Iterator[Span]:
    for child in node.named_children:
        target = child
        if child.type == "export_statement":
            target = child.child_by_field_name("declaration") or child
        yield from _definition(target, path, scope, child)


def _definition(node: Any, path: str, scope: str, outer: Any) -> Iterator[Span]:
    kind = node.type
    name = node.child_by_field_name("name")
    if kind in ("function_declaration", "generator_function_declaration") and name is not None:
        yield _span(path, outer, _text(name), "function", scope)
    elif kind in ("class_declaration", "class") and name is not None:
        span = _span(path, outer, _text(name), "class", scope)
        yield span
        body = node.child_by_field_name("body")
        for member in body.named_children if body is not None else ():
            member_name = member.child_by_field_name("name")
            if member.type == "method_definition" and member_name is not None:
                yield _span(path, member, _text(member_name), "function", span.name)
    elif kind in ("lexical_declaration", "variable_declaration"):
        for declarator in node.named_children:
            value = declarator.child_by_field_name("value")
            bound = declarator.child_by_field_name("name")
            if bound is None or value is None or bound.type != "identifier":
                continue
            if value.type in _FUNCTIONS:
                yield _span(path, outer, _text(bound), "function", scope)
            elif value.type == "class":
                yield from (
                    _definition(value, path, scope, outer)
                    if value.child_by_field_name("name")
                    else iter([_span(path, outer, _text(bound), "class", scope)])
                )
    elif kind == "expression_statement":
        yield from _assigned(node, path, scope)


def _assigned(statement: Any, path: str, scope: str) -> Iterator[Span]:
    """`exports.f = function ...`, `module.exports.f = ...`, `module.exports = { f () {} }`."""
    assignment = statement.named_children[0] if statement.named_children else None
    if assignment is None or assignment.type != "assignment_expression":
        return
    left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
    if left is None or right is None:
        return
    if right.type in _FUNCTIONS and left.type == "member_expression":
        prop = left.child_by_field_name("property")
        if prop is not None:
            yield _span(path, statement, _text(prop), "function", scope)
    elif right.type == "object" and _text(left) == "module.exports":
        for member in right.named_children:
            key = member.child_by_field_name("name") or member.child_by_field_name("key")
            value = member.child_by_field_name("value")
            is_function = member.type == "method_definition" or (
                value is not None and value.type in _FUNCTIONS
            )
            if key is not None and is_function:
                yield _span(path, member, _text(key), "function", scope)


def js_test_span(path: str, source: str, name: str) -> Span | None:
    """The call that defines the test `name` (`outer > inner`, as its id has it), or None
    when no call with those literal names is found."""
    wanted = [part.strip() for part in name.split(" > ")]
    return _find(_tree(path, source).root_node, path, wanted, [])


def _find(node: Any, path: str, wanted: list[str], trail: list[str]) -> Span | None:
    for child in node.named_children:
        if child.type == "call_expression":
            named = _test_name(child)
            if named is not None:
                here = [*trail, named]
                if here == wanted:
                    return Span(path, " > ".join(here), "function", child.start_point[0] + 1,
                                child.end_point[0] + 1)  # fmt: skip
                if wanted[: len(here)] == here:
                    found = _find(child, path, wanted, here)
                    if found is not None:
                        return found
                continue
        found = _find(child, path, wanted, trail)
        if found is not None:
            return found
    return None


def _test_name(call: Any) -> str | None:
    function = call.child_by_field_name("function")
    if function is None:
        return None
    callee = _text(function).split(".")
    if callee[0] not in _TESTS and callee[-1] != "test":
        return None
    arguments = call.child_by_field_name("arguments")
    first = next((a for a in arguments.named_children if a.type != "comment"), None)
    if first is None or first.type not in ("string", "template_string"):
        return None
    parts = first.named_children
    if any(p.type != "string_fragment" for p in parts):
        return None
    return "".join(_text(p) for p in parts)
