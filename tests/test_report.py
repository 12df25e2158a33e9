"""`greenloop report`: Markdown and one self-contained HTML page from a batch's run dir.

The run dirs here are laid out as `greenloop batch` writes them (records made by
`TaskRecord.of_tries` from RunResults); the HTML is opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chromium import headless, require_chromium

from agent.atomic import write_json
from agent.batch.ledger import TaskRecord, TryRecord
from agent.batch.report import collect, render_html, render_markdown, write_report
from agent.errors import UsageError
from agent.model import Price
from agent.run.record import RunResult
from sandbox.base import TestCounts

HOSTILE = '<script>alert("x")</script> & "quotes" \x1b[31m\x07'


def _try(run: Path, name: str, number: int, status: str, reason: str, **kw: Any) -> TryRecord:
    run_id = f"{name}-r{number}"
    folder = run / "tasks" / name / f"try-{number}" / ".greenloop" / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "trajectory.jsonl").write_text('{"event": "model"}\n')
    result = RunResult(
        run_id=run_id, run_dir=str(folder), model="fake", status=status, exit_reason=reason, **kw
    )
    return TryRecord(number, f"try-{number}", result)


def _make_run(tmp_path: Path, flags: dict[str, Any] | None = None) -> Path:
    """Four tasks: green at try 1, green at try 2, red twice (one timeout), and one pending."""
    run = tmp_path / "run"
    calls = {"model_calls": 5, "tokens": {"prompt": 900, "completion": 100}}
    tries = {
        "alpha": [
            _try(
                run,
                "alpha",
                1,
                "green",
                "green",
                iterations=1,
                wall=2.0,
                **calls,
                tests=TestCounts(passed=4, failed=0, errors=0),
            )
        ],
        "beta": [
            _try(run, "beta", 1, "red", "malformed", malformed=2, syntax_errors=1, **calls),
            _try(
                run,
                "beta",
                2,
                "green",
                "green",
                iterations=2,
                wall=3.0,
                **calls,
                ways={"feedback": {"tried": 1, "paid": 0}, "restart": {"tried": 2, "paid": 1}},
            ),
        ],
        "gamma": [
            _try(run, "gamma", 1, "red", "stuck", timeouts=1, iterations=2, **calls),
            _try(run, "gamma", 2, "error", "error", error=HOSTILE, **calls),
        ],
    }
    price = Price(1.0, 2.0)
    for name, results in tries.items():
        record = TaskRecord.of_tries(name, results, price)
        write_json(run / "tasks" / name / "result.json", record.to_json())
    manifest = {"tasks": [*tries, "delta"], "tries": 2, "model": "fake"}
    write_json(run / "batch.json", manifest)
    write_json(run / "summary.json", {"stopped_by_budget": False, **(flags or {})})
    return run


def test_markdown_has_pass_at_k_rates_and_a_row_per_task(tmp_path: Path) -> None:
    text = render_markdown(collect(_make_run(tmp_path)))
    for line in (
        "| pass rate | 50.0% (2 of 4 tasks) |",
        "| passed / failed / errors / pending | 2 / 0 / 1 / 1 |",
        "| 1 | 25.0% |",
        "| 2 | 50.0% |",
        "| malformed-reply rate | 8.0% of 25 model calls |",
        "| syntax-error rate | 4.0% of 25 model calls |",
        "| timeouts | 1 of 5 test runs |",
        "| green | 2 |",
        "| stuck | 1 |",
        "| cost | $0.0055 |",
        "| ways forward | feedback paid 0 of 1; restart paid 1 of 2 |",
    ):
        assert line in text, line
    beta = next(line for line in text.splitlines() if line.startswith("| beta "))
    assert "| passed | 2 | 2 |" in beta and "2,000" in beta and "$0.0022" in beta
    assert "[try 2](tasks/beta/try-2/.greenloop/runs/beta-r2/trajectory.jsonl)" in beta
    assert next(line for line in text.splitlines() if line.startswith("| delta ")).count("-") >= 3
    assert "<script>" not in text and "&lt;script>" in text


@pytest.mark.parametrize(
    ("flags", "notice"),
    [
        ({"stopped_by_budget": True}, "stopped by the budget"),
        ({"interrupted": True}, "interrupted"),
        ({}, "1 task(s) not run (resume to finish)"),
    ],
)
def test_the_state_of_an_unfinished_batch_is_said(
    tmp_path: Path, flags: dict[str, Any], notice: str
) -> None:
    data = collect(_make_run(tmp_path, flags))
    assert notice in render_markdown(data)
    assert notice in render_html(data)


def test_html_is_self_contained_and_escapes_what_runs_report(tmp_path: Path) -> None:
    page = render_html(collect(_make_run(tmp_path)))
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "\x1b" not in page and "\x07" not in page
    assert page.count("<script>") == 1  # only the page's own sorting script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert 'id="pass-rate">50.0%<' in page


def test_a_folder_without_a_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no batch"):
        collect(tmp_path)


def test_cli_writes_both_files_and_prints_the_markdown(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    exe = Path(sys.executable).parent / "greenloop"
    proc = subprocess.run(
        [str(exe), "report", str(run), "--print"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "| pass rate | 50.0% (2 of 4 tasks) |" in proc.stdout
    assert (run / "report.md").is_file() and (run / "report.html").is_file()


def test_the_html_report_opens_in_headless_chromium(tmp_path: Path) -> None:
    browser = require_chromium()
    _, page = write_report(_make_run(tmp_path))
    dom = headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console  # no script error, no failed resource
    assert re.search(r'<html[^>]*class="js"', dom.stdout), "the page's script did not finish"
    assert re.search(r'id="pass-rate">50\.0%</span>', dom.stdout)
    links = re.findall(r'href="([^"]+trajectory\.html)"', dom.stdout)  # pages written on demand
    assert len(links) == 5 and all((page.parent / link).is_file() for link in links)
    shot = tmp_path / "report.png"
    grab = headless(
        browser,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        page.as_uri(),
    )
    assert grab.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 10_000


def test_a_real_batch_summary_round_trips_through_the_report(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    data = collect(run)
    assert data.summary.pass_at == (0.25, 0.5)
    assert json.loads((run / "summary.json").read_text())["stopped_by_budget"] is False
    assert [row.status for row in data.rows] == ["passed", "passed", "error", "pending"]
