"""What a person sees in the terminal: the live view, then the result on its own line.

The real CLI runs in a real terminal (a tmux pane on a private server, read
back with `capture-pane`), talking to the scripted model behind the fake
server, testing in the real Docker sandbox. The same commands with their
output piped show the plain-line view. Unit checks feed the views hostile text.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from rich.console import Console
from scripted_agent import Script, fenced
from task_script import TaskScript

from agent.batch.live_view import BatchView
from agent.batch.scheduler import BatchProgress
from agent.run.candidates import TestRun
from agent.run.events import Files, PlanChosen
from agent.run.live_view import RunView
from sandbox.base import TestCase, TestReport

ROOT = Path(__file__).resolve().parents[1]
GREENLOOP = Path(sys.executable).with_name("greenloop")
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
PLAN = json.dumps(
    {
        "files": [{"path": "fizzbuzz.py", "purpose": "fizzbuzz", "interface": ["fizzbuzz(n)"]}],
        "test_command": "python -m pytest -q",
    }
)
GOOD = (SOLUTIONS / "01-fizzbuzz" / "fizzbuzz.py").read_text()
HOSTILE = "\x1b[2J\x1b[31mred\x1b[0m\x1b]0;owned\x07 [bold]markup[/bold]\r\x08done"

Tmux = Callable[[list[str], dict[str, str]], str]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    return {**env, "OPENAI_API_KEY": "k", "GREENLOOP_BASE_URL": url, "GREENLOOP_MODEL": "fake"}


@pytest.fixture()
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """Run a command in a fresh 120x40 tmux pane; return the screen once it exits."""
    exe = shutil.which("tmux")
    if exe is None:
        pytest.skip("tmux is not installed: apt-get install -y tmux")
    socket = f"greenloop-test-{os.getpid()}-{time.monotonic_ns()}"

    def run(argv: list[str], env: dict[str, str]) -> str:
        done = tmp_path / "exit-code"
        shell = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(done))}; sleep 600"
        start = [exe, "-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40"]
        subprocess.run([*start, shell], env=env, check=True, timeout=30)
        deadline = time.monotonic() + 240
        while not done.is_file() or not done.read_text().strip():
            assert time.monotonic() < deadline, "the command did not end in the pane"
            time.sleep(0.2)
        screen = subprocess.run(
            [exe, "-L", socket, "capture-pane", "-p", "-J"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return f"exit {done.read_text().strip()}\n{screen}"

    try:
        yield run
    finally:
        subprocess.run([exe, "-L", socket, "kill-server"], capture_output=True, timeout=30)


def _task(tmp_path: Path, name: str = "01-fizzbuzz") -> Path:
    folder = tmp_path / "tasks" / name
    shutil.copytree(ROOT / "tasks" / name, folder)
    return folder


def _result_line(screen: str, start: str) -> tuple[str, str]:
    """The line that starts with `start`, and the line above it."""
    lines = screen.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith(start)), None)
    assert at is not None and at > 0, f"no line starts with {start!r}:\n{screen}"
    return lines[at - 1], lines[at]


@pytest.mark.docker
def test_new_in_a_terminal_shows_the_view_then_the_result_on_its_own_line(
    tmp_path: Path, tmux: Tmux, sandbox_image: str
) -> None:
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)]})
    with FakeOpenAI(script) as srv:
        argv = [str(GREENLOOP), "new", str(_task(tmp_path)), "--out", str(tmp_path / "out")]
        screen = tmux(argv, _env(srv.base_url))
    print(screen)  # what the pane showed, for a person reading the test log
    assert screen.startswith("exit 0\n"), screen
    for row in ("run", "plan", "files", "iteration", "tests passing", "tokens"):
        assert any(line.startswith(row + " ") for line in screen.splitlines()), row
    above, result = _result_line(screen, "green (green) after 1 iterations")
    assert above.startswith("now ") and "green" not in above  # the view's last row, alone
    assert "4 passed, 0 failed" in result


@pytest.mark.docker
def test_batch_in_a_terminal_shows_the_view_then_the_summary_on_its_own_line(
    tmp_path: Path, tmux: Tmux, sandbox_image: str
) -> None:
    task = _task(tmp_path, "00-add")
    script = TaskScript.from_folders(task.parent, SOLUTIONS)
    with FakeOpenAI(script) as srv:
        argv = [str(GREENLOOP), "batch", str(task.parent), "--out", str(tmp_path / "run")]
        screen = tmux([*argv, "--workers", "1"], _env(srv.base_url))
    print(screen)
    assert screen.startswith("exit 0\n"), screen
    assert any(line.startswith("done ") and "1/1" in line for line in screen.splitlines())
    above, summary = _result_line(screen, "1/1 done: 1 passed")
    assert above.startswith("state ") and "done:" not in above
    assert "pass@1 100%" in summary


@pytest.mark.docker
def test_piped_output_gets_plain_lines_without_escapes(tmp_path: Path, sandbox_image: str) -> None:
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)]})
    with FakeOpenAI(script) as srv:
        argv = [str(GREENLOOP), "new", str(_task(tmp_path)), "--out", str(tmp_path / "out")]
        proc = subprocess.run(
            argv, env=_env(srv.base_url), capture_output=True, text=True, timeout=240
        )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    expected = [
        "endpoint: http://127.0.0.1:",  # where requests go, said first
        "run 01-fizzbuzz -> ",
        "plan: fizzbuzz.py (tests)",  # implied by the tests: no model call for it
        "model: file:fizzbuzz.py (",
        "files: fizzbuzz.py",
        "test run 1: 4/4 passing",
        "green (green) after 1 iterations: 4 passed, 0 failed; ",  # one line, not wrapped
    ]
    at = 0
    for start in expected:
        at = next((i for i in range(at, len(lines)) if lines[i].startswith(start)), -1) + 1
        assert at, f"no line starting {start!r} in order:\n{proc.stderr}"
    runs = tmp_path / "out" / ".greenloop" / "runs"
    assert f" run {runs}/" in lines[at - 1]
    page = next(line for line in lines if line.startswith("trajectory: "))
    assert Path(page.removeprefix("trajectory: ")).is_file()


def test_the_run_view_strips_control_characters_and_markup_from_run_text() -> None:
    out = io.StringIO()
    view = RunView(Console(file=out, force_terminal=False, width=200), "task " + HOSTILE)
    with view:
        view(PlanChosen(source="model", plan={"files": [{"path": "a.py" + HOSTILE}]}))
        report = TestReport(
            tests=(TestCase("t::a", "passed"), TestCase("t::b", "failed")), note=HOSTILE
        )
        view(TestRun.of(report, green=False, iteration=1))
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\x08" not in text
    assert "test run 1: 1/2 passing (red [bold]markup[/bold] done)" in text
    live = io.StringIO()
    shown = RunView(Console(file=live, force_terminal=True, width=200, color_system=None), HOSTILE)
    with shown:
        shown(Files(paths=("x.py" + HOSTILE,), tests=()))
    screen = live.getvalue()
    assert "[bold]markup[/bold]" in screen and "owned" not in screen and "\x1b[2J" not in screen


def test_the_batch_view_prints_a_line_only_when_something_changes() -> None:
    out = io.StringIO()
    progress = BatchProgress(total=2, running=["a" + HOSTILE])
    with BatchView(Console(file=out, force_terminal=False, width=300), "2 tasks") as view:
        view(progress)
        view(progress)  # nothing changed: no new line
        progress.done, progress.passed, progress.running = 1, 1, []
        view(progress)
    lines = out.getvalue().splitlines()
    assert lines[0] == "batch 2 tasks" and len(lines) == 3, lines
    assert lines[1].startswith("[0/2] 0 passed") and "ared [bold]markup[/bold] done" in lines[1]
    assert lines[2].startswith("[1/2] 1 passed, 0 failed, 0 errors; running: -;")
    assert "\x1b" not in out.getvalue()
