"""The tests a Rust file defines, its `#[cfg(test)]` items, and its assertions turned
around, read with tree-sitter-rust: what libtest must report, whatever the code does.

    inventory(text) -> {"adds": RustTest(ignored=False, flips=True), "tests::parses": ...}
    inline_tests(text) -> {"mod tests": "#[cfg(test)]\\nmod tests { ... }", ...}
    mutant(text) -> text with `assert_eq!` as `assert_ne!`, `assert!(x)` as `assert!(!(x))`

A test is a `fn` under a `#[test]` attribute, named by the modules (inline `mod x { }`)
that hold it within its file, as libtest names it relative to that file. A test under
`#[should_panic]` passes whatever its assertions say, so it is not one a mutant can
turn red (`flips` is False for it, and for a test with no assertion to turn around).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.toolchains import trees
from sandbox.toolchains.trees import walk

__all__ = ["RustTest", "inline_tests", "inventory", "mutant", "parser", "walk"]

_FLIPS = {
    "assert_eq": "assert_ne",
    "assert_ne": "assert_eq",
    "debug_assert_eq": "debug_assert_ne",
    "debug_assert_ne": "debug_assert_eq",
}
_NEGATE = frozenset({"assert", "debug_assert"})


@dataclass(frozen=True)
class RustTest:
    """One `#[test]` fn of a file."""

    ignored: bool
    """Under `#[ignore]`: libtest reports it ignored, never runs it."""
    flips: bool
    """Its assertions turned around make it fail (it has one, and no `#[should_panic]`)."""


def parser() -> Any:
    """tree-sitter's parser for Rust (one of its own: see `trees`)."""
    return trees.parser("rust")


def _tree(text: str) -> Any:
    return parser().parse(text.encode()).root_node


def _items(body: Any) -> Iterator[tuple[list[Any], Any]]:
    """The items of a file or module body, each with the outer attributes before it."""
    attributes: list[Any] = []
    for child in body.named_children:
        if child.type == "attribute_item":
            attributes.append(child)
        elif child.type in ("line_comment", "block_comment"):
            continue
        else:
            yield attributes, child
            attributes = []


def _attribute_name(attribute_item: Any) -> str:
    attribute = next((c for c in attribute_item.named_children if c.type == "attribute"), None)
    if attribute is None or not attribute.named_children:
        return ""
    return str(attribute.named_children[0].text.decode())


def _has(attributes: list[Any], name: str) -> bool:
    return any(_attribute_name(a) == name for a in attributes)


def _is_cfg_test(attributes: list[Any]) -> bool:
    """`#[cfg(test)]`, or a cfg that names `test` (`cfg(all(test, unix))`)."""
    return any(
        _attribute_name(a) == "cfg"
        and any(n.type == "identifier" and n.text == b"test" for n in walk(a))
        for a in attributes
    )


def _name(item: Any) -> str:
    node = item.child_by_field_name("name")
    return str(node.text.decode()) if node is not None else ""


def inventory(text: str) -> dict[str, RustTest]:
    """Each `#[test]` fn of `text` by its name within the file (`tests::adds`)."""
    found: dict[str, RustTest] = {}
    _collect(_tree(text), (), found)
    return found


def _collect(body: Any, trail: tuple[str, ...], found: dict[str, RustTest]) -> None:
    for attributes, item in _items(body):
        if item.type == "mod_item":
            inner = item.child_by_field_name("body")
            if inner is not None:
                _collect(inner, (*trail, _name(item)), found)
        elif item.type == "function_item" and _has(attributes, "test"):
            flips = not _has(attributes, "should_panic") and any(
                _macro_name(n) in _FLIPS or _macro_name(n) in _NEGATE for n in walk(item)
            )
            found["::".join((*trail, _name(item)))] = RustTest(_has(attributes, "ignore"), flips)


def inline_tests(text: str) -> dict[str, str]:
    """A source file's test items: each `#[cfg(test)]` item and each `#[test]` fn outside
    one, by kind and name within the file (`mod tests`, `fn parser::checks`), holding its
    source with its attributes. Equal for two versions of a file exactly when an edit
    left its tests alone (comments and blank lines between items aside)."""
    items: dict[str, str] = {}
    _inline(_tree(text), (), text.encode(), items)
    return items


def _inline(body: Any, trail: tuple[str, ...], data: bytes, items: dict[str, str]) -> None:
    for attributes, item in _items(body):
        name = "::".join((*trail, _name(item) or item.type))
        if _is_cfg_test(attributes) or (item.type == "function_item" and _has(attributes, "test")):
            key = f"{item.type.removesuffix('_item')} {name}"
            while key in items:
                key += "'"
            start = attributes[0].start_byte if attributes else item.start_byte
            items[key] = data[start : item.end_byte].decode()
        elif item.type == "mod_item" and item.child_by_field_name("body") is not None:
            _inline(item.child_by_field_name("body"), (*trail, _name(item)), data, items)


def _macro_name(node: Any) -> str:
    if node.type != "macro_invocation":
        return ""
    macro = node.child_by_field_name("macro")
    return str(macro.text.decode()) if macro is not None else ""


def mutant(text: str) -> str:
    """`text` with its assertions turned around: `assert_eq!` and `assert_ne!` swapped,
    `assert!(x, ...)` as `assert!(!(x), ...)` (their `debug_` forms too)."""
    data = text.encode()
    edits: list[tuple[int, int, bytes]] = []
    for node in walk(_tree(text)):
        name = _macro_name(node)
        if name in _FLIPS:
            macro = node.child_by_field_name("macro")
            edits.append((macro.start_byte, macro.end_byte, _FLIPS[name].encode()))
        elif name in _NEGATE:
            first = _first_argument(node)
            if first is not None:
                start, end = first
                edits.append((start, start, b"!("))
                edits.append((end, end, b")"))
    for start, end, new in sorted(edits, reverse=True):
        data = data[:start] + new + data[end:]
    return data.decode()


def _first_argument(macro: Any) -> tuple[int, int] | None:
    """The byte span of a macro's first argument: its tokens up to the first top-level
    comma."""
    tree = next((c for c in macro.children if c.type == "token_tree"), None)
    if tree is None:
        return None
    tokens = tree.children[1:-1]  # inside the delimiters
    start = end = None
    for token in tokens:
        if token.type == ",":
            break
        start = token.start_byte if start is None else start
        end = token.end_byte
    return None if start is None or end is None else (start, end)
