"""JSON in a model's reply: every object in it, leniently read, and one cut off mid-way.

Pure functions, text in, text out: `top_level_objects` finds each balanced
`{...}` outside strings; `closed_prefix` closes an object a token limit cut off
after its last complete element; `load_lenient` reads JSON with `//` comments
and trailing commas, or a Python dict literal.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

__all__ = ["closed_prefix", "load_lenient", "top_level_objects"]


def _string_step(char: str, escaped: bool) -> tuple[bool, bool]:
    """Inside a JSON string: (still inside, next char escaped) after `char`."""
    if escaped:
        return True, False
    if char == "\\":
        return True, True
    return char != '"', False


def top_level_objects(text: str) -> list[str]:
    """Every balanced `{...}` that is not inside another, by brace matching outside strings."""
    found: list[str] = []
    depth, start, in_string, escaped = 0, -1, False, False
    for index, char in enumerate(text):
        if in_string:
            in_string, escaped = _string_step(char, escaped)
        elif char == '"' and depth:
            in_string = True
        elif char == "{":
            start = index if depth == 0 else start
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append(text[start : index + 1])
    return found


def closed_prefix(text: str) -> str | None:
    """A JSON object cut off mid-way (a reply that hit its token limit), closed after its
    last complete element; None when the first object is complete or there is none."""
    start = text.find("{")
    if start < 0:
        return None
    stack: list[str] = []
    cut, closers = -1, ""
    in_string, escaped = False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            in_string, escaped = _string_step(char, escaped)
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
            if not stack:
                return None
            cut, closers = index + 1, "".join(reversed(stack))
        elif char == ",":
            cut, closers = index, "".join(reversed(stack))
    return None if cut < 0 else text[start:cut] + closers


def _relax(text: str) -> str:
    """Drop `//` comments and trailing commas, outside strings."""
    out: list[str] = []
    in_string, escaped, index = False, False, 0
    while index < len(text):
        char = text[index]
        if in_string:
            in_string, escaped = _string_step(char, escaped)
        elif char == '"':
            in_string = True
        elif text.startswith("//", index):
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
            continue
        elif char == "," and re.match(r"\s*[}\]]", text[index + 1 :]):
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def load_lenient(candidate: str) -> Any:
    for attempt in (candidate, _relax(candidate)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            continue
    try:  # a Python dict: single quotes, True/None
        return ast.literal_eval(candidate)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
