"""The live view of a run: a rich table redrawn as the run's events arrive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ["RunView"]


class RunView:
    """Observe run events (plan, files, model calls, tests) and show where the run is."""

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.plan: list[str] = []
        self.files: list[str] = []
        self.iteration = 0
        self.passing = "-"
        self.tokens = [0, 0]
        self.last = "planning"
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> RunView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self.render())
        self.live.__exit__(None, None, None)

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        if event == "plan":
            files = data.get("plan", {}).get("files", [])
            self.plan = [f"{f['path']} ({data.get('source')})" for f in files]
            self.last = "writing files"
        elif event == "files":
            self.files = list(data.get("paths", []))
            self.last = "testing"
        elif event == "model":
            self.tokens[0] += int(data.get("prompt_tokens", 0))
            self.tokens[1] += int(data.get("completion_tokens", 0))
            self.last = f"model: {data.get('purpose')}"
        elif event == "test":
            self.iteration = int(data["iteration"])
            total = int(data["passed"]) + int(data["failed"]) + int(data["errors"])
            self.passing = f"{data['passed']}/{total}"
            self.last = "tests ran"
        elif event in ("mode", "restart"):
            self.last = f"next: {data.get('mode', 'restart')}"
        self.live.update(self.render())

    def render(self) -> Group:
        table = Table.grid(padding=(0, 2))
        table.add_row("run", Text(self.title, style="bold"))
        table.add_row("plan", ", ".join(self.plan) or "-")
        table.add_row("files", ", ".join(self.files) or "-")
        table.add_row("iteration", str(self.iteration))
        table.add_row("tests passing", self.passing)
        table.add_row("tokens", f"{self.tokens[0]} prompt + {self.tokens[1]} completion")
        table.add_row("now", self.last)
        return Group(table)
