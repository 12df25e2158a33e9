"""Text from the model or the sandbox, made safe to show: no control characters.

    clean("\\x1b[31mred\\x1b[0m\\r\\n")   # "red\\n"
    one_line("a\\nb\\tc", 80)             # "a b c"

Untrusted output can carry terminal escapes (colours, cursor moves, title
changes, a fake prompt) and other control characters. What the page and the
terminal show keeps newlines and tabs and drops the rest; a lone carriage
return (progress bars) becomes a newline so nothing is overwritten.
"""

from __future__ import annotations

import re

__all__ = ["clean", "one_line"]

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def clean(text: object) -> str:
    """`text` as a string without terminal escapes or control characters (keeps \\n and \\t)."""
    value = text if isinstance(text, str) else str(text)
    value = _ESCAPES.sub("", value)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", value)


def one_line(text: object, limit: int = 200) -> str:
    """`clean(text)` on one line (whitespace runs become one space), cut to `limit` chars."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"
