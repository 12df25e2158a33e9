"""`greenloop show RUN_DIR`: a run's trajectory page, or the run as text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def show(
    run_dir: Annotated[Path, typer.Argument(help="A run dir, or a project greenloop ran in.")],
    plain: Annotated[bool, typer.Option("--print", help="Print the trajectory as text.")] = False,
    full: Annotated[bool, typer.Option(help="With --print: every prompt, nothing cut.")] = False,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """A run's trajectory page (written now if missing or old): print its path, or the run."""
    from agent.show.page import page_is_stale, render_text, write_page
    from agent.show.trajectory import find_run, load_run

    folder = find_run(run_dir)
    page = write_page(folder) if page_is_stale(folder) else folder / "trajectory.html"
    if plain:
        typer.echo(render_text(load_run(folder), full), nl=False)
    else:
        typer.echo(str(page))
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
