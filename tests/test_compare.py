"""`greenloop report RUN_A RUN_B`: real batch runs side by side.

Three real batches (the scripted model behind the fake server, the real Docker
sandbox): A solves both tasks; B is given a stub for fizzbuzz, so that task
flips; C ran only `00-add`, so comparing it with A leaves one task out.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import headless, require_chromium, save_screenshot
from fake_openai import FakeOpenAI
from task_script import TaskScript

from agent.batch.compare import compare, render_markdown, write_comparison
from agent.batch.report import write_report
from agent.batch.scheduler import BatchOptions, load_batch_tasks, run_batch
from agent.batch.task_run import TaskSettings
from agent.errors import UsageError
from agent.model import ModelConfig, price_of

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
GREENLOOP = Path(sys.executable).with_name("greenloop")
TASKS = ["00-add", "01-fizzbuzz"]
FLIPPER = "01-fizzbuzz"


def _batch(base: Path, name: str, tasks: list[str], broken: list[str]) -> Path:
    folder = base / f"tasks-{name}"
    for task in tasks:
        shutil.copytree(ROOT / "tasks" / task, folder / task)
        toml = folder / task / "task.toml"
        toml.write_text(toml.read_text().replace("max_iterations = 12", "max_iterations = 3"))
    script = TaskScript.from_folders(folder, SOLUTIONS, broken=broken)
    run = base / f"run-{name}"
    with FakeOpenAI(script) as srv:
        config = ModelConfig(model="fake", base_url=srv.base_url, api_key="k")
        settings = TaskSettings(model=config, model_name="fake", price=price_of(config))
        run_batch(load_batch_tasks(folder), BatchOptions(out=run, settings=settings, workers=2))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compare")
    return {
        "A": _batch(base, "a", TASKS, broken=[]),
        "B": _batch(base, "b", TASKS, broken=[FLIPPER]),
        "C": _batch(base, "c", TASKS[:1], broken=[]),
    }


def _summary(run: Path) -> dict[str, object]:
    data = json.loads((run / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def test_the_flipped_task_is_marked_and_totals_match_the_summaries(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    c = compare([runs["A"], runs["B"]])
    assert c.tasks == TASKS and c.flips == [FLIPPER]
    for total, run in zip(c.totals, (runs["A"], runs["B"]), strict=True):
        saved = _summary(run)
        for key in ("total", "passed", "failed", "errors", "pass_at", "tokens", "cost"):
            assert total.summary.to_json()[key] == saved[key], key
    assert (c.totals[0].summary.passed, c.totals[1].summary.passed) == (2, 1)
    md_path, page_path = write_comparison(c, tmp_path)
    md, page = md_path.read_text(), page_path.read_text()
    flipped = next(line for line in md.splitlines() if line.startswith(f"| {FLIPPER} "))
    assert "**FLIPPED** A passed → B failed" in flipped
    steady = next(line for line in md.splitlines() if line.startswith("| 00-add "))
    assert "FLIPPED" not in steady
    assert "All 2 tasks are in every run." in md and "## Tasks (1 flipped)" in md
    a, b = (f"{_summary(runs[k])['tokens']:,}" for k in "AB")
    assert f"| tokens | {a} | {b} |" in md
    a, b = (f"{_summary(runs[k])['wall']:.1f} s" for k in "AB")
    assert f"| wall (whole batch) | {a} | {b} |" in md
    assert f'<tr class="flipped" data-task="{FLIPPER}">' in page
    assert '<tr data-task="00-add">' in page


def test_different_task_sets_compare_the_shared_tasks_and_say_what_was_left_out(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    c = compare([runs["A"], runs["C"]])
    assert c.tasks == ["00-add"] and c.left_out == {
        "A": [FLIPPER],
        "B": [],
    }  # labels follow the order named
    assert c.totals[0].summary.total == 1 and c.totals[0].summary.passed == 1
    text = render_markdown(c, tmp_path)
    assert f"1 tasks are in every run and compared; 1 left out (only in A: {FLIPPER})." in text


def test_one_run_or_a_folder_without_a_batch_is_refused(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="two or more"):
        compare([runs["A"]])
    with pytest.raises(UsageError, match="holds no batch"):
        compare([runs["A"], tmp_path])


def test_the_cli_compares_and_every_link_opens_in_chromium(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [str(GREENLOOP), "report", str(runs["A"]), str(runs["B"]), "--out", str(out), "--print"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "**FLIPPED**" in proc.stdout
    browser = require_chromium()
    page = out / "compare.html"
    dom = headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    links = re.findall(r'href="([^"]+)"', dom.stdout)
    assert len(links) == 4 and all(link.endswith("/trajectory.html") for link in links)
    assert all((out / link).is_file() for link in links)
    assert re.search(r'id="flips">1<', dom.stdout)
    save_screenshot(browser, tmp_path, page, "compare.png", height=700)


def test_the_batch_report_links_each_try_to_its_trajectory_page(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    browser = require_chromium()
    _, page = write_report(runs["B"])
    dom = headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert not [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    links = re.findall(r'href="([^"]+)"', dom.stdout)
    assert len(links) == 2 and all(link.endswith("/trajectory.html") for link in links)
    assert all((page.parent / link).is_file() for link in links)
    save_screenshot(browser, tmp_path, page, "report.png", height=900)
    flipper = next(link for link in links if FLIPPER in link)
    trajectory = (page.parent / flipper).read_text()
    assert "result: red (" in trajectory and "raise ImportError" in trajectory
    save_screenshot(browser, tmp_path, page.parent / flipper, "trajectory-red.png", height=1600)
