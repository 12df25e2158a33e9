"""tree-sitter as every toolchain reads its language, and the agent reads it too.

    root = parser("go").parse(source.encode()).root_node
    names = [text(n) for n in walk(root) if n.type == "identifier"]

One `Language` per grammar, loaded once; a fresh `Parser` per call (a parser must not
be shared by threads parsing at the same time: batch workers read tests at once).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

__all__ = ["GRAMMARS", "language", "parser", "text", "walk"]

GRAMMARS = ("javascript", "typescript", "go", "rust")


@functools.cache
def language(name: str) -> Any:
    """tree-sitter's language called `name` (one of `GRAMMARS`)."""
    from tree_sitter import Language

    if name == "javascript":
        import tree_sitter_javascript

        return Language(tree_sitter_javascript.language())
    if name == "typescript":
        import tree_sitter_typescript

        return Language(tree_sitter_typescript.language_typescript())
    if name == "go":
        import tree_sitter_go

        return Language(tree_sitter_go.language())
    if name == "rust":
        import tree_sitter_rust

        return Language(tree_sitter_rust.language())
    raise ValueError(f"no tree-sitter grammar called {name!r}: one of {', '.join(GRAMMARS)}")


def parser(name: str) -> Any:
    """A parser of its own for the language called `name`."""
    from tree_sitter import Parser

    return Parser(language(name))


def walk(node: Any) -> Iterator[Any]:
    """`node` and every node below it, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def text(node: Any) -> str:
    """A node's source text ("" for no node)."""
    return "" if node is None else (node.text or b"").decode("utf-8", "replace")
