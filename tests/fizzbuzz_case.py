"""The fizzbuzz scenario the end-to-end tests share: the task, its plan, good and buggy
code, the one-line fix, and a user's repository to run it in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
from scripted_agent import search_replace

ROOT = Path(__file__).resolve().parents[1]
PLAN = json.dumps(
    {
        "files": [{"path": "fizzbuzz.py", "purpose": "fizzbuzz", "interface": ["fizzbuzz(n)"]}],
        "test_command": "python -m pytest -q",
    }
)
GOOD = """
def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
"""
BUGGY = GOOD.replace('return "FizzBuzz"', 'return "Fizz"')
FIX = search_replace(
    "fizzbuzz.py",
    '    if n % 15 == 0:\n        return "Fizz"',
    '    if n % 15 == 0:\n        return "FizzBuzz"',
)
LIMITS = (
    'test_command = "python -m pytest -q"\nmax_iterations = 4\nmax_malformed = 3\n'
    "stuck_after = 2\nmax_tokens = 100000\nwall_seconds = 120\ntimeout = 30\n"
)


def fizzbuzz_task(folder: Path, toml: str = LIMITS) -> Path:
    """tasks/01-fizzbuzz copied to `folder`, with the given task.toml."""
    shutil.copytree(ROOT / "tasks" / "01-fizzbuzz", folder)
    (folder / "task.toml").write_text(toml)
    return folder


def user_repo(out: Path) -> Path:
    """A user's project: a git repository on main with one commit."""
    repo = git.Repo.init(out, initial_branch="main")
    (out / "README.md").write_text("user's project\n")
    repo.index.add(["README.md"])
    repo.index.commit("user's first commit")
    return out
