"""The live view of a batch: counts, spend and ETA, redrawn as tasks end.

On a terminal the table is redrawn in place and left on screen ending with a
newline; elsewhere (a pipe, a log, CI) one plain line is printed whenever the
counts, the running tasks or the state change.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from agent.batch import BatchProgress
from agent.textclean import one_line

__all__ = ["BatchView"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


class BatchView:
    """Observe a batch's progress; a rich Live table while the batch runs."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = one_line(title, 300)
        self.progress: BatchProgress | None = None
        self._said: tuple[object, ...] = ()
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(self.render(), console=console, refresh_per_second=4)

    def __enter__(self) -> BatchView:
        if self.live is not None:
            self.live.__enter__()
        else:
            self._line(f"batch {self.title}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(exc_type, exc, tb)

    def __call__(self, progress: BatchProgress) -> None:
        self.progress = progress
        if self.live is not None:
            self.live.update(self.render())
            return
        p = progress
        said = (p.done, p.passed, p.failed, p.errors, tuple(p.running), p.state)
        if said != self._said:
            self._said = said
            self._line(plain_line(p))

    def _line(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True, highlight=False)

    def render(self) -> Group:
        """The table: done/total with a bar, passing, failing, errors, spend, ETA, state."""
        table = Table.grid(padding=(0, 2))
        table.add_row("batch", Text(self.title, style="bold"))
        p = self.progress
        if p is None:
            table.add_row("state", "starting")
            return Group(table)
        bar = ProgressBar(total=max(1, p.total), completed=p.done, width=30)
        table.add_row("done", Group(Text(f"{p.done}/{p.total}"), bar))
        table.add_row("passing", Text(str(p.passed), style="green"))
        table.add_row("failing", Text(str(p.failed), style="red" if p.failed else ""))
        table.add_row("errors", Text(str(p.errors), style="red" if p.errors else ""))
        table.add_row("running", Text(one_line(", ".join(p.running), 300) or "-"))
        table.add_row("tokens", f"{p.tokens:,}")
        table.add_row("cost", "unknown" if p.cost is None else f"${p.cost:.4f}")
        table.add_row("ETA", _duration(p.eta))
        table.add_row("state", Text(one_line(p.state, 200)))
        return Group(table)


def plain_line(p: BatchProgress) -> str:
    """The progress as one line, for output that is not a terminal."""
    cost = "" if p.cost is None else f", ${p.cost:.4f}"
    running = one_line(", ".join(p.running), 200) or "-"
    return (
        f"[{p.done}/{p.total}] {p.passed} passed, {p.failed} failed, {p.errors} errors; "
        f"running: {running}; {p.tokens:,} tokens{cost}; ETA {_duration(p.eta)}; "
        f"{one_line(p.state, 80)}"
    )
