"""The live view of a batch: counts, spend and ETA, redrawn as tasks end."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from agent.batch import BatchProgress

__all__ = ["BatchView"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


class BatchView:
    """Observe a batch's progress; a rich Live table while the batch runs."""

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.progress: BatchProgress | None = None
        self.live = Live(self.render(), console=console, refresh_per_second=4)

    def __enter__(self) -> BatchView:
        self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.update(self.render())
        self.live.__exit__(exc_type, exc, tb)

    def __call__(self, progress: BatchProgress) -> None:
        self.progress = progress
        self.live.update(self.render())

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
        table.add_row("running", ", ".join(p.running) or "-")
        table.add_row("tokens", f"{p.tokens:,}")
        table.add_row("cost", "unknown" if p.cost is None else f"${p.cost:.4f}")
        table.add_row("ETA", _duration(p.eta))
        table.add_row("state", p.state)
        return Group(table)
