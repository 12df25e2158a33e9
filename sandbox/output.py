"""Bounded output capture, and text from the sandbox made safe to show.

A command that prints 100 MB must not cost the harness 100 MB: memory stays
at about `cap` bytes whatever the command prints (`HeadTail`). Text that came
out of the sandbox (or a repository) may carry terminal control sequences: a
clipboard write (OSC 52), a hyperlink, a screen clear; `printable` turns every
control character into a visible escape before it reaches a terminal.
"""

from __future__ import annotations

import re

__all__ = ["HeadTail", "printable"]

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides
# and isolates that can make a terminal show text in an order other than its bytes.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each control character shown as an escape (ESC becomes `\\x1b`)."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


_MARK = "\n[... {n} bytes dropped by greenloop: output over the cap ...]\n"


class HeadTail:
    """Accumulate bytes up to `cap`: the first half kept whole, the last half as a ring."""

    def __init__(self, cap: int) -> None:
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk[-self._tail_cap :]
            overflow = len(self._tail) - self._tail_cap
            if overflow > 0:
                del self._tail[:overflow]

    @property
    def truncated(self) -> bool:
        return self.total > len(self._head) + len(self._tail)

    def text(self) -> str:
        """The kept output as text, with a marker where the middle was dropped."""
        head = self._head.decode("utf-8", "replace")
        tail = self._tail.decode("utf-8", "replace")
        if not self.truncated:
            return head + tail
        dropped = self.total - len(self._head) - len(self._tail)
        return head + _MARK.format(n=dropped) + tail
