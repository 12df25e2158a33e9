"""`ast.parse`, one thread at a time.

CPython 3.11 counts the AST constructor's recursion depth in state that threads share:
two parses that overlap can fail with a spurious `SystemError: AST constructor
recursion depth mismatch` (python/cpython#106905). greenloop parses in threads (files
generated at once, candidates screened), so every parse on the host goes through here.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["parse"]

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, serialized; SyntaxError and ValueError as it raises."""
    with _LOCK:
        return ast.parse(source, filename)
