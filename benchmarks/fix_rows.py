"""What the `fix` benchmarks on real sources share (`js_fix.py`, `native_fix.py`): the
scripted model's edit that undoes an injected bug, the user's branch as it was, the first
prompt, and the table of rows.

    reply = undo("index.js", source, line, changed)   # the SEARCH/REPLACE that undoes it
    print_table(rows, "docker", "package")            # one row per bug, then the totals
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import git

from agent.model import Message
from agent.model.scripted import ScriptedModel

__all__ = ["first_prompt", "print_table", "state", "undo"]

_CHECKS = ("red", "green", "committed", "untouched", "shown")


def undo(path: str, source: str, line: int, changed: str) -> str:
    """A SEARCH/REPLACE block for `path` that puts its line `line` (0-based) back as in
    `source`, with the lines around it that make its SEARCH unique."""
    lines = source.splitlines()
    buggy = [*lines[:line], changed, *lines[line + 1 :]]
    text = "\n".join(buggy)
    before = after = 0
    while True:
        search = "\n".join(buggy[line - before : line + after + 1])
        if text.count(search) == 1 or (before >= line and line + after + 1 >= len(buggy)):
            break
        before, after = min(line, before + 1), min(len(buggy) - line - 1, after + 1)
    replace = "\n".join(
        [*buggy[line - before : line], lines[line], *buggy[line + 1 : line + after + 1]]
    )
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def state(repo: git.Repo) -> tuple[str, str, str]:
    """The user's branch, HEAD and working tree status."""
    return repo.active_branch.name, repo.head.commit.hexsha, repo.git.status("--porcelain")


def first_prompt(model: ScriptedModel) -> str:
    """What the first model call was told (its user messages)."""
    if not model.calls:
        return ""
    messages: tuple[Message, ...] = model.calls[0].messages
    return "\n".join(m.content for m in messages if m.role == "user")


def print_table(rows: Sequence[Any], sandbox: str, column: str) -> None:
    """One row per bug (`column`: the attribute naming its package or source), the totals,
    and why each bug that did not go green did not."""
    yes = {True: "yes", False: "**no**"}
    print(f"sandbox: {sandbox}\n")
    print(f"| {column} | bug | fails by | red before | green after | committed on fix branch | "
          "user branch untouched | buggy line in 1st prompt | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        marks = " | ".join(yes[getattr(r, c)] for c in _CHECKS)
        print(f"| {getattr(r, column)} | {r.bug} | {r.fails_by} | {marks} | {r.seconds:.0f} |")
    n = len(rows)
    totals = [sum(getattr(r, c) for r in rows) for c in _CHECKS]
    asserted = sum(r.fails_by == "assertion" for r in rows)
    wall = sum(r.seconds for r in rows)
    print(
        f"| **total** | {n} bugs | {asserted} assertion | "
        + " | ".join(f"{t}/{n}" for t in totals)
        + f" | {wall:.0f} |"
    )
    for r in rows:
        if not r.green:
            print(f"- {getattr(r, column)} {r.bug}: {r.note}")
