"""`greenloop doctor`: each part of the set-up, whether it works, and its fix."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from agent.cli.common import (
    BaseUrlOpt,
    ModelOpt,
    model_config,
)


def doctor(model: ModelOpt = None, base_url: BaseUrlOpt = None) -> None:
    """Check the engine, each sandbox image and the model; print the fix for each missing part."""
    from agent.doctor import Check, run_checks
    from agent.errors import ConfigError
    from agent.model import check_model

    endpoint: list[str] = []

    def model_check() -> tuple[bool, str, str]:
        try:
            config, line = model_config(model, base_url)
        except ConfigError as exc:
            return False, exc.message, exc.fix or "fix the model settings named above"
        endpoint.append(line)
        return check_model(config)

    checks = run_checks(model_check)
    if endpoint:
        checks.insert(-1, Check("endpoint", True, endpoint[0]))
    table = Table(show_header=True, header_style="bold")
    for column in ("part", "state", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        state = "[green]ok[/]" if check.ok else "[red]missing[/]" if check.needed else "absent"
        table.add_row(check.name, state, check.detail, check.fix)
    Console().print(table)
    raise typer.Exit(0 if all(c.ok or not c.needed for c in checks) else 1)
