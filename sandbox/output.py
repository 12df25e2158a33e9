"""Bounded output capture: keep the head and the tail, drop the middle.

A command that prints 100 MB must not cost the harness 100 MB: memory stays
at about `cap` bytes whatever the command prints.
"""

from __future__ import annotations

__all__ = ["HeadTail"]

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
