"""The trajectory page: one self-contained HTML page per run, and its plain-text twin.

The main scenario is a real `new` run (the scripted model behind the fake
OpenAI server, recorded to a cassette; the real Docker sandbox; real git):
a buggy first file, a refused edit to a test (with hostile text in the reply),
then a search/replace fix. Its page is read back and opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from chromium import headless, require_chromium, save_screenshot
from fake_openai import FakeOpenAI
from fixture_repos import fix_reply, make_repo, shop_files
from fizzbuzz_case import BUGGY, FIX, PLAN, fizzbuzz_task
from scripted_agent import Script, fenced, search_replace

from agent.fix.repair import prepare_fix, run_fix
from agent.model import ModelConfig, OpenAIChat
from agent.model.cassette import RecordingModel
from agent.new.scaffold import prepare_new, run_new
from agent.run.candidates import TestRun, candidate_change
from agent.run.events import Result
from agent.run.record import RUNS_DIR, RunDir, read_trajectory
from agent.run.settings import RunSettings
from agent.show.page import render_html, render_text, write_page, write_page_quietly
from agent.show.trajectory import load_run
from agent.task import TaskConfig, load_task
from sandbox import SandboxConfig
from sandbox.base import TestCase, TestReport

ROOT = Path(__file__).resolve().parents[1]
GREENLOOP = Path(sys.executable).with_name("greenloop")
HOSTILE = '<script>alert("pwned")</script> \x1b[2J\x1b]0;title\x07 <img src=x onerror=alert(1)>'
CHEAT = (
    HOSTILE
    + "\n"
    + search_replace(
        "tests/test_fizzbuzz.py",
        '    assert fizzbuzz(15) == "FizzBuzz"',
        '    assert fizzbuzz(15) == "Fizz"',
    )
)


@pytest.fixture(scope="module")
def red_then_green(tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Path:
    """The run dir of a real run: red, a refused edit, a fix, green."""
    base = tmp_path_factory.mktemp("traj")
    task = fizzbuzz_task(base / "task")
    out, run_id = base / "out", f"t{time.monotonic_ns()}"
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [CHEAT, FIX])
    with FakeOpenAI(script) as srv:
        inner = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        model = RecordingModel(inner, out / RUNS_DIR / run_id / "cassette.jsonl")
        options = RunSettings(
            out=out, run_id=run_id, model_name="fake", sandbox=SandboxConfig(image=sandbox_image)
        )
        result = run_new(prepare_new(load_task(task), options), model, None, write_page_quietly)
    assert (result.status, result.iterations) == ("green", 2)
    return Path(result.run_dir)


def _in_order(text: str, parts: list[str]) -> None:
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} missing (or out of order) after offset {at}"
        at = found + len(part)


@pytest.mark.docker
def test_the_run_writes_its_page_with_every_step_in_order(red_then_green: Path) -> None:
    page = (red_then_green / "trajectory.html").read_text()
    _in_order(
        page,
        [
            'id="status">green<',
            "plan_skipped",  # the tests imply the whole plan: no model call for it
            "plan (tests): 1 files",
            "fizzbuzz.py: FizzBuzz",
            "model call 1: file:fizzbuzz.py",
            "finish reason</b> stop",
            "prompt as sent: 2 messages",
            "Complete this Python code: `fizzbuzz.py`",
            "candidate 1: 1 added",
            "test run 1: 3 passed, 1 failed, 0 errors",
            "failed: tests/test_fizzbuzz.py::test_fizzbuzz",
            "AssertionError",  # the failing test's message and traceback
            "next: feedback (the best improved)",
            "model call 2: feedback",
            "Test results",  # the feedback prompt as sent
            "edits: 0 applied, 1 refused",
            "refused: tests/test_fizzbuzz.py:",
            "model call 3: feedback",
            "edits: 1 applied, 0 refused",
            "candidate 2: 1 changed",
            '<span class="add">+        return &quot;FizzBuzz&quot;</span>',
            "test run 2: 4 passed, 0 failed, 0 errors",
            "committed ",
            "result: green (green)",
        ],
    )


@pytest.mark.docker
def test_model_and_sandbox_text_is_escaped_and_stripped(red_then_green: Path) -> None:
    page = (red_then_green / "trajectory.html").read_text()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<img" not in page
    assert page.count("<script>") == 1  # the page's own expand/collapse script
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


@pytest.mark.docker
def test_show_prints_the_path_and_the_plain_text(red_then_green: Path) -> None:
    shown = subprocess.run(
        [str(GREENLOOP), "show", str(red_then_green)], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()) == red_then_green / "trajectory.html"
    project = red_then_green.parents[2]  # the project: its newest run is taken
    text = subprocess.run(
        [str(GREENLOOP), "show", str(project), "--print"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0, text.stderr
    _in_order(
        text.stdout,
        [
            "status       green (green)",
            "model call 1: file:fizzbuzz.py",
            "test run 1: 3 passed, 1 failed, 0 errors",
            "refused: tests/test_fizzbuzz.py:",
            "candidate 2: 1 changed",
            '+        return "FizzBuzz"',
            "test run 2: 4 passed",
        ],
    )
    assert "\x1b" not in text.stdout and '<script>alert("pwned")' in text.stdout
    assert "Complete this Python code: `fizzbuzz.py`" not in text.stdout  # named only...
    full = subprocess.run(
        [str(GREENLOOP), "show", str(project), "--print", "--full"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Complete this Python code: `fizzbuzz.py`" in full.stdout  # ...unless asked for


@pytest.mark.docker
def test_the_page_opens_in_chromium_and_every_link_resolves(
    red_then_green: Path, tmp_path: Path
) -> None:
    browser = require_chromium()
    page = red_then_green / "trajectory.html"
    dom = headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert re.search(r'<html[^>]*class="js"', dom.stdout), "the page's script did not run"
    ids = set(re.findall(r'id="([^"]+)"', dom.stdout))
    links = re.findall(r'href="([^"]+)"', dom.stdout)
    assert any(link.startswith("#") for link in links) and "cassette.jsonl" in links
    for link in links:
        if link.startswith("#"):
            assert link[1:] in ids, link
        else:
            assert (page.parent / link).is_file(), link
    shot = save_screenshot(browser, tmp_path, page, "trajectory.png", height=2400)
    assert os.path.getsize(shot) > 20_000


@pytest.mark.docker
def test_a_fix_run_writes_its_page_with_the_baseline_and_the_diff(
    tmp_path: Path, sandbox_image: str
) -> None:
    shop = make_repo(tmp_path / "shop", shop_files(bugs={"discount"}))
    run_id = f"t{time.monotonic_ns()}"
    with FakeOpenAI(Script("{}", {}, [fix_reply("discount")])) as srv:
        inner = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        model = RecordingModel(inner, shop / RUNS_DIR / run_id / "cassette.jsonl")
        config = TaskConfig(max_iterations=3, stuck_after=2, wall_seconds=300, timeout=60)
        options = RunSettings(
            run_id=run_id,
            model_name="fake",
            sandbox=SandboxConfig(image=sandbox_image),
            config=config,
        )
        result = run_fix(prepare_fix(shop, options), model, None, write_page_quietly)
    assert result.status == "green"
    page = (Path(result.run_dir) / "trajectory.html").read_text()
    _in_order(
        page,
        [
            "baseline test run: 7 passed, 1 failed, 0 errors",
            "target: tests/test_cart.py::test_total_with_discount",
            "model call 1: ",
            "prompt as sent: ",
            "test_total_with_discount",  # in the prompt as sent
            "candidate 1: 1 changed",
            "a/shop/cart/pricing.py",
            "test run 1: 8 passed, 0 failed, 0 errors",
            "result: green (green)",
        ],
    )


def test_show_names_the_fix_for_a_folder_without_a_run(tmp_path: Path) -> None:
    (tmp_path / "batch.json").write_text("{}")
    shown = subprocess.run(
        [str(GREENLOOP), "show", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 2 and "greenloop report" in shown.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    shown = subprocess.run(
        [str(GREENLOOP), "show", str(empty)], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 2 and "holds no run record" in shown.stderr


def _write_lines(path: Path, *events: dict[str, Any]) -> None:
    """Lines the writer would not write (another tool's, an older greenloop's), appended."""
    with path.open("a") as fh:
        fh.writelines(json.dumps({"ts": "2025-01-31T14:25:01.000+00:00", **e}) + "\n"
                      for e in events)  # fmt: skip


def test_unknown_events_damaged_lines_and_no_cassette_are_shown_not_fatal(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "odd-run")
    run.path.mkdir(parents=True)
    _write_lines(
        run.trajectory_path,
        {"event": "context", "shown": ["a.py::f", "b.py::g"], "why": {"a.py::f": "called"}},
        {"event": "tampered", "path": "tests/test_x.py", "detail": "x" * 500 + HOSTILE},
        {"event": "model", "purpose": "feedback", "prompt_tokens": 5, "completion_tokens": 2,
         "reply": HOSTILE},
        {"event": "test", "iteration": "not a number", "passed": "many"},
        {"event": "apply", "applied": 1, "failed": [], "changed": ["a.py"],
         "chosen_from": "candidate 3 of 4"},
    )  # fmt: skip
    with run.trajectory_path.open("a") as fh:
        fh.write('{"event": "torn\n[1, 2]\n')
    run.append(Result(status="red", exit_reason="iterations"))
    run.close()
    page = write_page(run.path).read_text()
    shown = [
        "context",
        "a.py::f",
        "tampered",
        "tests/test_x.py",
        "unreadable",
        "[1, 2]",
        "edits: 1 applied, 0 refused",
        "<b>chosen_from</b> candidate 3 of 4",  # a field a known kind does not know: kept
        "prompt: not recorded (no cassette.jsonl)",
        "result: red (iterations)",
    ]
    for part in shown:
        assert part in page, part
    assert "<script>alert" not in page and "\x1b" not in page
    assert "x" * 500 in page  # folded, not cut
    text = render_text(load_run(run.path))
    assert "tampered" in text and "unreadable" in text and "\x1b" not in text


def test_a_candidate_is_kept_as_its_diff_against_the_last_one(tmp_path: Path) -> None:
    before = {"a.py": "x = 1\n", "gone.py": "y\n"}
    change = candidate_change(before, {"a.py": "x = 2\n", "new.py": "z"}, iteration=2)
    assert (change.added, change.changed, change.removed) == (("new.py",), ("a.py",), ("gone.py",))
    diff = change.diff
    assert "-x = 1\n+x = 2\n" in diff and "+++ b/new.py\n@@ -0,0 +1 @@\n+z\n" in diff
    assert "--- a/gone.py\n+++ /dev/null" in diff and "\\ No newline at end of file" in diff
    run = RunDir(tmp_path, "diff-run")
    run.append(change)
    run.close()
    page = render_html(load_run(run.path))
    assert "candidate 2: 1 added, 1 changed, 1 removed" in page
    assert '<span class="del">-x = 1</span>' in page and '<span class="add">+x = 2</span>' in page


def test_a_trajectory_written_before_the_layers_moved_still_reads() -> None:
    """A run recorded by greenloop before issue 24's moves (commit ec09b38): read back,
    shown as text and as a page, its counts where they were."""
    old = Path(__file__).parent / "fixtures" / "run_before_layers"
    events = read_trajectory(old / "trajectory.jsonl")
    assert [e["event"] for e in events][:2] == ["plan_skipped", "plan"]
    assert events[-1]["event"] == "result" and events[-1]["status"] == "green"
    run = load_run(old)
    text = render_text(run)
    assert "green" in text and "confirm" in text
    assert "<html" in render_html(run).lower()


def test_a_test_run_is_coloured_by_the_green_the_job_stored(tmp_path: Path) -> None:
    """A fix run whose only failure is a flaky test is green by its job's rule: the page
    shows the stored verdict instead of deciding again (older records keep the old rule)."""
    report = TestReport(tests=(*(TestCase(f"t.py::test_{i}", "passed") for i in range(3)),
                               TestCase("t.py::test_flaky", "failed")))  # fmt: skip
    with RunDir(tmp_path, "flaky") as run:
        run.append(TestRun.of(report, green=True, iteration=1))
    common = {"passed": 3, "failed": 1, "errors": 0, "failing": ["t.py::test_flaky"]}
    _write_lines(run.trajectory_path, {"event": "test", "iteration": 2, **common})
    text = render_text(load_run(run.path))
    marks = [line[:1] for line in text.splitlines() if "3 passed" in line]
    assert marks == ["+", "!"]
