"""The live view of a run: a rich table redrawn as the run's events arrive.

On a terminal the table is redrawn in place and left on screen, ending with a
newline, so what is printed next starts on its own line. Anywhere else (a pipe,
a log file, CI) the view prints one plain line per step instead. What the
model and the sandbox said is shown without control characters.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agent.run.candidates import TestRun
from agent.run.events import Event, Files, ModelCall, ModeSwitch, PlanChosen, Restart
from agent.textclean import one_line

__all__ = ["RunView"]


class RunView:
    """Observe run events (plan, files, model calls, tests) and show where the run is."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = one_line(title, 300)
        self.plan: list[str] = []
        self.files: list[str] = []
        self.iteration = 0
        self.passing = "-"
        self.tokens = [0, 0]
        self.last = "planning"
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(self.render(), console=console, refresh_per_second=4)

    def __enter__(self) -> RunView:
        if self.live is not None:
            self.live.__enter__()
        else:
            self._line(f"run {self.title}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        line = self._observe(event)
        if self.live is not None:
            self.live.update(self.render())
        elif line:
            self._line(line)

    def _observe(self, event: Event) -> str:
        """Take the event in; the plain line that tells it ("" for none)."""
        if isinstance(event, PlanChosen):
            files = event.plan.get("files", [])
            self.plan = [one_line(f"{f['path']} ({event.source})", 120) for f in files]
            self.last = "writing files"
            return f"plan: {', '.join(self.plan)}"
        if isinstance(event, Files):
            self.files = [one_line(p, 120) for p in event.paths]
            self.last = "testing"
            return f"files: {', '.join(self.files)}"
        if isinstance(event, ModelCall):
            prompt, completion = event.prompt_tokens, event.completion_tokens
            self.tokens[0] += prompt
            self.tokens[1] += completion
            self.last = f"model: {one_line(event.purpose, 80)}"
            return f"{self.last} ({prompt}+{completion} tokens, {event.latency} s)"
        if isinstance(event, TestRun):
            self.iteration = event.iteration
            total = event.passed + event.failed + event.errors
            self.passing = f"{event.passed}/{total}"
            self.last = "tests ran"
            note = f" ({one_line(event.note, 160)})" if event.note else ""
            return f"test run {self.iteration}: {self.passing} passing{note}"
        if isinstance(event, ModeSwitch | Restart):
            mode = event.mode if isinstance(event, ModeSwitch) else "restart"
            self.last = f"next: {one_line(mode, 40)}"
            return self.last
        return ""

    def _line(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True, highlight=False)

    def render(self) -> Group:
        table = Table.grid(padding=(0, 2))
        table.add_row("run", Text(self.title, style="bold"))
        table.add_row("plan", Text(", ".join(self.plan) or "-"))
        table.add_row("files", Text(", ".join(self.files) or "-"))
        table.add_row("iteration", str(self.iteration))
        table.add_row("tests passing", self.passing)
        table.add_row("tokens", f"{self.tokens[0]} prompt + {self.tokens[1]} completion")
        table.add_row("now", Text(self.last))
        return Group(table)
