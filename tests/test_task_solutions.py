"""Every example task's tests pass with its reference solution and fail without it.

Reference solutions live in tests/fixtures/task_solutions/<task>/, laid out as the
generated project would be. Each check copies the files into a fresh folder and runs
the task's own test command there, in a subprocess.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.task import Task, load_task

REPO = Path(__file__).resolve().parent.parent
TASKS_DIR = REPO / "tasks"
SOLUTIONS_DIR = REPO / "tests" / "fixtures" / "task_solutions"
TASK_NAMES = sorted(p.name for p in TASKS_DIR.iterdir() if p.is_dir())
PYTEST_NO_TESTS = 5


def _ts_hooks() -> str:
    """The judge's own TypeScript loader (`sandbox.node_judge`), as node's --import takes it."""
    from urllib.parse import quote

    from sandbox.node_judge import _HOOKS

    hooks = "data:text/javascript," + quote(_HOOKS)
    register = f"import{{register}}from'node:module';register({hooks!r});"
    return "data:text/javascript," + quote(register)


_TS_HOOKS = _ts_hooks()


def write_project(dest: Path, task: Task, *, with_solution: bool) -> None:
    """Lay out the project: starter files, then the solution (if asked), then the tests."""
    for rel, content in task.starter.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if with_solution:
        shutil.copytree(
            SOLUTIONS_DIR / task.name,
            dest,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    for rel, content in task.tests.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def run_tests(project: Path, task: Task) -> subprocess.CompletedProcess[str]:
    """Run the task's test command in `project` with this interpreter."""
    command = shlex.split(task.config.test_command)
    if command[0] in ("python", "python3"):
        command = [sys.executable, *command[1:], "-p", "no:cacheprovider"]
    elif task.language == "javascript" and any(p.endswith(".ts") for p in task.tests):
        if shutil.which("esbuild") is None:
            pytest.skip("esbuild is not installed on this machine (apt-get install esbuild)")
        # node 20 runs TypeScript through the hooks, and finds no .ts test by itself
        command = [*command, "--import", _TS_HOOKS, *sorted(task.tests)]
    if command[0] == "cargo" and shutil.which("cargo") is None:  # rustup's, off PATH
        command[0] = str(Path.home() / ".cargo" / "bin" / "cargo")
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        command,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=task.config.timeout,
        check=False,
    )


def test_every_task_has_a_solution_and_vice_versa() -> None:
    solutions = sorted(p.name for p in SOLUTIONS_DIR.iterdir() if p.is_dir())
    assert solutions == TASK_NAMES


@pytest.mark.parametrize("name", TASK_NAMES)
def test_solution_passes(tmp_path: Path, name: str) -> None:
    task = load_task(TASKS_DIR / name)
    write_project(tmp_path, task, with_solution=True)
    result = run_tests(tmp_path, task)
    assert result.returncode == 0, result.stdout + result.stderr
    if task.language == "javascript":  # node's TAP summary
        assert re.search(r"^# pass [1-9]", result.stdout, re.M), result.stdout
        assert re.search(r"^# fail 0$", result.stdout, re.M), result.stdout
    elif task.language == "rust":  # libtest's summary, one per test binary
        assert re.search(r"^test result: ok\. [1-9]\d* passed; 0 failed", result.stdout, re.M)
    elif task.language == "go":  # go test's line per package
        assert re.search(r"^ok\s", result.stdout, re.M), result.stdout
    else:
        assert " passed" in result.stdout
        assert "failed" not in result.stdout


@pytest.mark.parametrize("name", TASK_NAMES)
def test_tests_fail_without_solution(tmp_path: Path, name: str) -> None:
    task = load_task(TASKS_DIR / name)
    write_project(tmp_path, task, with_solution=False)
    result = run_tests(tmp_path, task)
    assert result.returncode not in (0, PYTEST_NO_TESTS), result.stdout + result.stderr
