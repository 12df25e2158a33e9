"""Go and Rust files as `greenloop fix` reads them: definitions, names used, test bodies.

    native_spans("calc/calc.go", source)   # [Span("calc/calc.go", "Add", "function", 3, 5), ...]
    native_test_span("calc/calc_test.go", source, "TestAdd")
    native_calls(source_of_span)            # {"Add", ".Push", ...}

Read with tree-sitter (`agent.syntax.grammar`). A Go method is `Type.Method`; a Rust
function inside `impl Type` is `Type.name`, inside `mod m` is `m.name`. What sits in a
Rust `#[cfg(test)]` module (inline tests) is scoped `<local>`: it is the tests', never a
suspect, and a failing test's body is found there by its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from agent.fix.symbols import Span
from sandbox.toolchains.trees import parser, text, walk

__all__ = [
    "NATIVE_SOURCES",
    "native_calls",
    "native_references",
    "native_spans",
    "native_test_span",
]

NATIVE_SOURCES = (".go", ".rs")
_TEST_SCOPE = "<local>"


def _fence(path: str) -> str:
    return "go" if PurePosixPath(path).suffix == ".go" else "rust"


def _root(path: str, source: str) -> Any:
    return parser(_fence(path)).parse(source.encode("utf-8", "surrogatepass")).root_node


def native_spans(path: str, source: str) -> list[Span]:
    """The functions, methods and types a Go or Rust file defines, in source order."""
    root = _root(path, source)
    if _fence(path) == "go":
        return list(_go_spans(path, root))
    return list(_rust_spans(path, root, "", in_tests=False))


def native_test_span(path: str, source: str, name: str) -> Span | None:
    """The test function `name` of the file (in a Rust file, also inside its test modules)."""
    return next((s for s in native_spans(path, source) if s.leaf == name), None)


def native_references(path: str, source: str) -> list[str]:
    """The names a file uses, with repeats (`.name` for a field or method), as the repo
    map counts them."""
    refs: list[str] = []
    for node in walk(_root(path, source)):
        if node.type == "identifier":
            refs.append(text(node))
        elif node.type == "field_identifier":
            refs.append("." + text(node))
    return refs


_VALUE_PLACES = frozenset(
    {"argument_list", "arguments", "literal_element", "keyed_element", "expression_list",
     "assignment_expression", "let_declaration", "field_initializer", "array_expression"}
)  # fmt: skip
"""Where a bare name is a value passed on (a function in a table, a callback)."""


def native_calls(path: str, source: str, span: Span) -> set[str]:
    """The names the span's lines call (`.name` for a method or a package's function),
    and the bare names it passes as values (`"~>": constraintPessimistic`, `map(parse)`)."""
    lines = source.splitlines()
    body = "\n".join(lines[span.start - 1 : span.end])
    out: set[str] = set()
    for node in walk(_root(path, body)):
        parent = node.parent
        if node.type == "identifier" and parent is not None and parent.type in _VALUE_PLACES:
            out.add(text(node))
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function is None:
                continue
            if function.type == "identifier":
                out.add(text(function))
            elif function.type in ("selector_expression", "field_expression"):
                field = function.child_by_field_name("field")
                if field is not None:
                    out.add("." + text(field))
            elif function.type == "scoped_identifier":
                name = function.child_by_field_name("name")
                if name is not None:
                    out.add(text(name))
        elif node.type == "token_tree":  # a Rust macro's arguments: `assert_eq!(add(1, 2), 3)`
            children = node.children
            for i, child in enumerate(children[:-1]):
                after = children[i + 1]
                if child.type == "identifier" and after.type == "token_tree":
                    before = children[i - 1].type if i else ""
                    out.add(("." if before == "." else "") + text(child))
    return out


def _go_spans(path: str, root: Any) -> Iterator[Span]:
    for node in root.named_children:
        start, end = node.start_point[0] + 1, node.end_point[0] + 1
        if node.type == "function_declaration":
            yield Span(path, text(node.child_by_field_name("name")), "function", start, end)
        elif node.type == "method_declaration":
            receiver = _go_receiver(node)
            name = text(node.child_by_field_name("name"))
            yield Span(path, f"{receiver}.{name}" if receiver else name, "function", start, end,
                       receiver)  # fmt: skip
        elif node.type == "type_declaration":
            for spec in node.named_children:
                if spec.type == "type_spec":
                    yield Span(path, text(spec.child_by_field_name("name")), "class", start, end)


def _go_receiver(node: Any) -> str:
    receiver = node.child_by_field_name("receiver")
    for child in walk(receiver) if receiver is not None else ():
        if child.type == "type_identifier":
            return text(child)
    return ""


def _rust_spans(path: str, node: Any, prefix: str, in_tests: bool) -> Iterator[Span]:
    attributes: list[str] = []
    for child in node.named_children:
        if child.type == "attribute_item":
            attributes.append(text(child))
            continue
        tests = in_tests or any("cfg(test)" in a.replace(" ", "") for a in attributes)
        first = child.start_point[0] + 1 - len(attributes)
        start, end = max(1, first), child.end_point[0] + 1
        attributes = []
        scope = _TEST_SCOPE if tests else prefix
        if child.type == "function_item":
            name = text(child.child_by_field_name("name"))
            qualified = f"{prefix}.{name}" if prefix and not tests else name
            yield Span(path, qualified, "function", start, end, scope)
        elif child.type in ("struct_item", "enum_item", "trait_item", "type_item"):
            name = text(child.child_by_field_name("name"))
            yield Span(path, name, "class", start, end, scope)
        elif child.type == "impl_item":
            body = child.child_by_field_name("body")
            owner = _impl_owner(child)
            if body is not None:
                yield from _rust_spans(path, body, owner, tests)
        elif child.type == "mod_item":
            body = child.child_by_field_name("body")
            name = text(child.child_by_field_name("name"))
            if body is not None:
                yield from _rust_spans(
                    path, body, name if not prefix else f"{prefix}.{name}", tests
                )


def _impl_owner(node: Any) -> str:
    owner = node.child_by_field_name("type")
    if owner is None:
        return ""
    return text(owner).split("<", 1)[0].strip()
