"""The definitions of a JavaScript or TypeScript file, and where a test is, with tree-sitter:
what fault localization shows of a JavaScript repository.

    js_spans("index.js", source)          # [Span(name="parse", kind="function", ...), ...]
    js_test_span("test/a.test.js", source, "parse > handles empty input")
    js_imports("test/a.test.js", source)  # {"parse": ("..", "parse"), "lib": ("./lib", "")}
    js_uses("index.js", source, 4, 6)     # Uses(attributes=(("header", "split"),), ...)

A definition is a function declaration, a class and its methods, a function or arrow
function bound to a name (`const parse = (s) => ...`, `exports.parse = function ...`,
`module.exports = { parse (s) { ... } }`). A test is the call of `test`/`it`/`describe`
(or `t.test`) whose literal names, nested, are the test's id after `::`. A file's
imports (`import`, `require`) bind local names to a module specifier and the name it
exports ("" for the module itself); what a span of lines uses is every name it
mentions, every `object.property` it takes, and the variables bound by `new C()` or a
call, as `agent.fix.symbols.Uses` has them for Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.fix.symbols import Span, Uses
from sandbox.toolchains.js_inventory import literal_name, parser_for, walk

__all__ = [
    "js_default_export",
    "js_imports",
    "js_references",
    "js_spans",
    "js_test_at",
    "js_test_span",
    "js_uses",
]

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


def _is_test_call(call: Any) -> bool:
    function = call.child_by_field_name("function")
    if function is None:
        return False
    callee = _text(function).split(".")
    return callee[0] in _TESTS or callee[-1] == "test"


def js_test_at(path: str, source: str, line: int) -> Span | None:
    """The innermost test call holding `line` (a frame of the failure in the test file):
    how a test named by an expression (`${}`, a variable) is found."""
    best = None
    for node in walk(_tree(path, source).root_node):
        start, end = node.start_point[0] + 1, node.end_point[0] + 1
        holds = node.type == "call_expression" and start <= line <= end
        if holds and _is_test_call(node) and (best is None or start >= best.start):
            best = Span(path, _text(node.child_by_field_name("function")), "function",
                        start, end)  # fmt: skip
    return best


def _test_name(call: Any) -> str | None:
    return literal_name(call) if _is_test_call(call) else None


def _literal(node: Any) -> str | None:
    if node is None or node.type != "string":
        return None
    return "".join(_text(p) for p in node.named_children if p.type == "string_fragment")


def js_imports(path: str, source: str) -> dict[str, tuple[str, str]]:
    """Local name -> (the module's specifier, the name it exports; "default" for a
    default import, "" for the module itself: a namespace or a whole `require`). A
    re-export (`export { a as b } from 's'`) binds its name too, and `export * from
    's'` binds "*" + its specifier (a module whose every name this one passes on)."""
    bound: dict[str, tuple[str, str]] = {}
    for node in walk(_tree(path, source).root_node):
        if node.type == "export_statement":
            bound.update(_reexports(node))
        elif node.type == "import_statement":
            specifier = _literal(node.child_by_field_name("source"))
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            if specifier is not None and clause is not None:
                bound.update(_import_clause(clause, specifier))
        elif node.type == "variable_declarator":
            bound.update(_required(node))
    return bound


def _reexports(node: Any) -> Iterator[tuple[str, tuple[str, str]]]:
    specifier = _literal(node.child_by_field_name("source"))
    if specifier is None:
        return
    clause = next((c for c in node.named_children if c.type == "export_clause"), None)
    spaced = next((c for c in node.named_children if c.type == "namespace_export"), None)
    if clause is not None:
        for item in clause.named_children:
            name, alias = item.child_by_field_name("name"), item.child_by_field_name("alias")
            if name is not None:
                yield _text(alias or name), (specifier, _text(name))
    elif spaced is not None:
        names = [c for c in spaced.named_children if c.type == "identifier"]
        if names:
            yield _text(names[-1]), (specifier, "")
    else:
        yield "*" + specifier, (specifier, "*")


def _import_clause(clause: Any, specifier: str) -> Iterator[tuple[str, tuple[str, str]]]:
    for part in clause.named_children:
        if part.type == "identifier":
            yield _text(part), (specifier, "default")
        elif part.type == "namespace_import":
            names = [c for c in part.named_children if c.type == "identifier"]
            if names:
                yield _text(names[-1]), (specifier, "")
        elif part.type == "named_imports":
            for item in part.named_children:
                name, alias = item.child_by_field_name("name"), item.child_by_field_name("alias")
                if name is not None:
                    yield _text(alias or name), (specifier, _text(name))


def _required(declarator: Any) -> Iterator[tuple[str, tuple[str, str]]]:
    """`x = require('s')`, `{a, b: c} = require('s')`, `x = require('s').f`."""
    value, bound = declarator.child_by_field_name("value"), declarator.child_by_field_name("name")
    member = ""
    if value is not None and value.type == "member_expression":
        prop = value.child_by_field_name("property")
        member = _text(prop) if prop is not None else ""
        value = value.child_by_field_name("object")
    specifier = _require_of(value)
    if specifier is None or bound is None:
        return
    if bound.type == "identifier":
        yield _text(bound), (specifier, member)
    elif bound.type == "object_pattern" and not member:
        for item in bound.named_children:
            if item.type == "shorthand_property_identifier_pattern":
                yield _text(item), (specifier, _text(item))
            elif item.type == "pair_pattern":
                key, local = item.child_by_field_name("key"), item.child_by_field_name("value")
                if key is not None and local is not None and local.type == "identifier":
                    yield _text(local), (specifier, _text(key))


def _require_of(node: Any) -> str | None:
    if node is None or node.type != "call_expression":
        return None
    function = node.child_by_field_name("function")
    if function is None or _text(function) != "require":
        return None
    arguments = node.child_by_field_name("arguments")
    return _literal(arguments.named_children[0]) if arguments.named_children else None


def js_uses(path: str, source: str, start: int, end: int) -> Uses:
    """What the lines `start`..`end` (1-based) use: names, `object.property` pairs (the
    object as written, or its callee for `f().p`), variables bound by `new C()` or `f()`."""
    names: set[str] = set()
    attributes: list[tuple[str, str]] = []
    binds: dict[str, str] = {}
    for node in walk(_tree(path, source).root_node):
        if node.end_point[0] + 1 < start or node.start_point[0] + 1 > end:
            continue
        if node.type == "identifier":
            names.add(_text(node))
        elif node.type == "member_expression":
            obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
            if obj is not None and prop is not None:
                callee = obj.child_by_field_name("function") or obj.child_by_field_name(
                    "constructor"
                )
                attributes.append((_text(callee if callee is not None else obj), _text(prop)))
        elif node.type == "variable_declarator":
            bound, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            made = _made_by(value)
            if bound is not None and bound.type == "identifier" and made:
                binds[_text(bound)] = made
    return Uses(frozenset(names), tuple(dict.fromkeys(attributes)), binds)


def _made_by(value: Any) -> str:
    """`Cache` for `new Cache(2)` or `Cache.create()`'s callee; "" for anything else."""
    if value is None:
        return ""
    if value.type == "await_expression" and value.named_children:
        value = value.named_children[0]
    if value.type == "new_expression":
        made = value.child_by_field_name("constructor")
    elif value.type == "call_expression":
        made = value.child_by_field_name("function")
    else:
        return ""
    return _text(made) if made is not None else ""


def js_references(path: str, source: str) -> list[str]:
    """The names a file uses, with repeats (`.name` for a property: a weaker tie), as the
    repo map counts them."""
    refs: list[str] = []
    for node in walk(_tree(path, source).root_node):
        if node.type == "identifier":
            refs.append(_text(node))
        elif node.type == "property_identifier" and _is_member(node):
            refs.append("." + _text(node))
    return refs


def _is_member(node: Any) -> bool:
    return node.parent is not None and node.parent.type == "member_expression"


def js_default_export(path: str, source: str) -> str | None:
    """The name of what the module itself is: `module.exports = name`, `export default
    name` or `export default function name`; None when it is something else."""
    for node in _tree(path, source).root_node.named_children:
        if node.type == "expression_statement" and node.named_children:
            assignment = node.named_children[0]
            if assignment.type != "assignment_expression":
                continue
            left, right = (
                assignment.child_by_field_name("left"),
                assignment.child_by_field_name("right"),
            )
            if left is not None and right is not None and _text(left) == "module.exports":
                return _text(right) if right.type == "identifier" else None
        elif node.type == "export_statement" and any(c.type == "default" for c in node.children):
            value = node.child_by_field_name("value") or node.child_by_field_name("declaration")
            name = value.child_by_field_name("name") if value is not None else None
            if value is not None and value.type == "identifier":
                return _text(value)
            if name is not None:
                return _text(name)
    return None
