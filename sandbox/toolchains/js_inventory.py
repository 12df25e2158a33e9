"""The tests a JavaScript or TypeScript test file defines, read with tree-sitter: what
node's runner must report for the file, whatever the code under test does.

    inventory(text, typescript=False) -> {"adds", "group > inner", "parent > sub"}

A call of `test`, `it`, `describe` or `suite` (or `t.test` in a test's callback, and
their `.only`/`.skip`/`.todo` forms) whose first argument is a literal string names a
test; one inside another's callback is nested under it. node reports the leaves as
test cases, and a test with subtests as a suite, so the leaves are what must appear.
A test named by an expression (a template with `${}`, a variable, a loop) or by a
string with escapes cannot be listed: it and what it holds are left out, never guessed.
"""

from __future__ import annotations

from typing import Any

from sandbox.toolchains.trees import parser, walk

__all__ = ["inventory", "literal_name", "parser_for", "string_value", "walk"]

_CALLS = frozenset({"test", "it", "describe", "suite"})
_FORMS = frozenset({"only", "skip", "todo"})


def parser_for(typescript: bool) -> Any:
    """tree-sitter's parser for JavaScript, or for TypeScript."""
    return parser("typescript" if typescript else "javascript")


def inventory(text: str, *, typescript: bool = False) -> frozenset[str]:
    """The names (`outer > inner`) of the leaf tests `text` defines with literal names."""
    tree = parser_for(typescript).parse(text.encode())
    leaves: list[tuple[str, ...]] = []
    _visit(tree.root_node, (), leaves)
    return frozenset(" > ".join(path) for path in leaves)


def _visit(node: Any, trail: tuple[str, ...], leaves: list[tuple[str, ...]]) -> None:
    for child in node.children:
        if child.type == "call_expression" and _is_test_call(child):
            name = literal_name(child)
            if name is None:
                continue  # named by an expression: it and its subtests cannot be listed
            before = len(leaves)
            _visit(child, (*trail, name), leaves)
            if len(leaves) == before:
                leaves.append((*trail, name))
            continue
        _visit(child, trail, leaves)


def _is_test_call(call: Any) -> bool:
    function = call.child_by_field_name("function")
    if function is None:
        return False
    if function.type == "identifier":
        return bool(function.text.decode() in _CALLS)
    if function.type != "member_expression":
        return False
    owner = function.child_by_field_name("object")
    prop = function.child_by_field_name("property")
    if owner is None or prop is None:
        return False
    owner_name, prop_name = owner.text.decode(), prop.text.decode()
    if owner.type == "identifier" and owner_name in _CALLS and prop_name in _FORMS:
        return True
    return bool(prop_name == "test")  # t.test(...): a subtest


def literal_name(call: Any) -> str | None:
    """The name a test call gives its test, where it is spelled out as a literal."""
    arguments = call.child_by_field_name("arguments")
    first = next((a for a in arguments.named_children if a.type != "comment"), None)
    return string_value(first)


def string_value(node: Any) -> str | None:
    """A string or template literal's text, where it is spelled out (no `${}`, no escape:
    what node would make of those is not read here); None for anything else."""
    if node is None or node.type not in ("string", "template_string"):
        return None
    parts = node.named_children
    if any(c.type != "string_fragment" for c in parts):
        return None
    return "".join(c.text.decode() for c in parts)
