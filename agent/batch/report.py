"""`greenloop report BATCH_DIR`: a batch's results as Markdown and as one self-contained HTML page.

    data = collect(batch_dir)              # records + summary -> ReportData
    md, page = write_report(batch_dir)     # BATCH_DIR/report.md, BATCH_DIR/report.html

The page has no external resources: styles and the small table-sorting script
are inline, and its links (to each try's trajectory page) are relative to the batch folder.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape as _html
from pathlib import Path
from typing import Any

from agent.batch.inside import try_folder
from agent.batch.ledger import BatchSummary, TaskRecord, TryRecord
from agent.batch.scheduler import MANIFEST_FILE, SUMMARY_FILE, read_records
from agent.errors import UsageError
from agent.run.moves import pooled
from agent.show.page import PAGE_FILE, page_is_stale, write_page_quietly
from agent.textclean import clean

__all__ = [
    "ReportData",
    "TaskRow",
    "collect",
    "render_html",
    "render_markdown",
    "trajectory_link",
    "try_dir",
    "write_missing_pages",
    "write_report",
]


@dataclass(frozen=True)
class TaskRow:
    """One task's line in the report."""

    name: str
    status: str
    """passed, failed, error or pending."""
    language: str = "-"
    """The toolchain its tests ran in (its last try's)."""
    passed_at: int | None = None
    tries: int = 0
    tests: str = "-"
    """Passed/total of the last try's best candidate."""
    iterations: int = 0
    exit_reason: str = "-"
    tokens: int = 0
    cost: float | None = None
    wall: float = 0.0
    links: tuple[tuple[str, str], ...] = ()
    """(label, path relative to the batch folder) of each try's trajectory page (or its JSONL)."""
    error: str = ""
    reruns: tuple[str, ...] = ()
    """Why the task was run again (its cluster node was lost), one line per rerun."""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows."""

    batch_dir: Path
    summary: BatchSummary
    rows: list[TaskRow]
    exit_reasons: dict[str, int] = field(default_factory=dict)
    """Exit reasons over every try."""
    model_calls: int = 0
    malformed: int = 0
    syntax_errors: int = 0
    test_runs: int = 0
    timeouts: int = 0
    ways: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per way forward, over every try: requests tried, and how many raised the best (what
    the batch's policy learned from, `agent.run.moves`)."""

    @property
    def pass_rate(self) -> float:
        """Tasks passed (at any try) over all tasks."""
        total = self.summary.total
        return self.summary.passed / total if total else 0.0

    def rate(self, count: int) -> str:
        """`count` per model call, as a percentage."""
        return f"{100 * count / self.model_calls:.1f}%" if self.model_calls else "-"

    def walls(self) -> list[float]:
        """Wall seconds of the finished tasks."""
        return [r.wall for r in self.rows if r.status != "pending"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def try_dir(batch_dir: Path, name: str, attempt: TryRecord) -> str:
    """A try's batch folder, relative to the batch folder (checked: `agent.batch.inside`)."""
    return try_folder(batch_dir, name, attempt).relative_to(batch_dir).as_posix()


def trajectory_link(batch_dir: Path, name: str, attempt: TryRecord) -> str:
    """A try's trajectory page relative to the batch folder; the raw JSONL where no page exists."""
    folder = try_dir(batch_dir, name, attempt)
    page = f"{folder}/{PAGE_FILE}"
    return page if (batch_dir / page).is_file() else f"{folder}/trajectory.jsonl"


def write_missing_pages(batch_dir: Path) -> int:
    """Write the trajectory page of every finished try that has none (or an old one)."""
    written = 0
    for name, record in read_records(batch_dir).items():
        for attempt in record.tries:
            folder = try_folder(batch_dir, name, attempt)
            if (folder / "trajectory.jsonl").is_file() and page_is_stale(folder):
                written += write_page_quietly(folder) is not None
    return written


def _row(batch_dir: Path, name: str, record: TaskRecord | None) -> TaskRow:
    if record is None:
        return TaskRow(name=name, status="pending")
    tries = record.tries
    last = tries[-1].result if tries else None
    links = tuple((f"try {t.number}", trajectory_link(batch_dir, name, t)) for t in tries)
    return TaskRow(
        name=name,
        status=record.status,
        language="-" if last is None else last.language,
        passed_at=record.passed_at,
        tries=len(tries),
        tests="-" if last is None else f"{last.tests.passed}/{last.tests.total}",
        iterations=sum(t.result.iterations for t in tries),
        exit_reason="error" if last is None else last.exit_reason,
        tokens=record.tokens,
        cost=record.cost,
        wall=record.wall,
        links=links,
        error=record.error,
        reruns=record.reruns,
    )


def collect(batch_dir: Path) -> ReportData:
    """Read a batch folder: its manifest, summary and every finished task's record."""
    batch_dir = Path(batch_dir)
    manifest = _read_json(batch_dir / MANIFEST_FILE)
    if not manifest:
        raise UsageError(
            f"{batch_dir} holds no batch ({MANIFEST_FILE}): name a `greenloop batch` --out"
        )
    names = list(manifest.get("tasks", []))
    records = read_records(batch_dir, names)
    saved = {"model": manifest.get("model", "?"), **_read_json(batch_dir / SUMMARY_FILE)}
    fresh = BatchSummary.over(names, records, int(manifest.get("tries", 1)))
    tries = [t.result for r in records.values() for t in r.tries]
    return ReportData(
        batch_dir=batch_dir,
        summary=BatchSummary.from_json(saved).recounted(fresh),
        rows=[_row(batch_dir, name, records.get(name)) for name in names],
        exit_reasons=dict(Counter(t.exit_reason for t in tries).most_common()),
        model_calls=sum(t.model_calls for t in tries),
        malformed=sum(t.malformed for t in tries),
        syntax_errors=sum(t.syntax_errors for t in tries),
        test_runs=sum(t.iterations for t in tries),
        timeouts=sum(t.timeouts for t in tries),
        ways=pooled([t.ways for t in tries]),
    )


def _money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def _headline(data: ReportData) -> list[tuple[str, str]]:
    """(label, value) pairs both renderings show at the top."""
    s = data.summary
    walls = data.walls()
    notes = []
    if s.stopped_by_budget:
        notes.append("stopped by the budget: tasks left pending")
    if s.interrupted:
        notes.append("interrupted")
    if s.pending:
        notes.append(f"{s.pending} task(s) not run (resume to finish)")
    reruns = [f"{row.name}: {why}" for row in data.rows for why in row.reruns]
    if reruns:
        notes.append(f"{len(reruns)} task(s) run again: " + "; ".join(reruns))
    return [
        ("pass rate", f"{_pct(data.pass_rate)} ({s.passed} of {s.total} tasks)"),
        (
            "passed / failed / errors / pending",
            f"{s.passed} / {s.failed} / {s.errors} / {s.pending}",
        ),
        ("model", s.model),
        ("tokens", f"{s.tokens:,} (mean {s.tokens // max(1, s.done):,} per task)"),
        ("cost", _money(s.cost)),
        ("malformed-reply rate", f"{data.rate(data.malformed)} of {data.model_calls} model calls"),
        ("syntax-error rate", f"{data.rate(data.syntax_errors)} of {data.model_calls} model calls"),
        ("timeouts", f"{data.timeouts} of {data.test_runs} test runs"),
        ("ways forward", _ways_text(data.ways)),
        ("wall per task", _wall_text(walls)),
        ("state", "; ".join(notes) or "complete"),
    ]


def _ways_text(ways: dict[str, dict[str, int]]) -> str:
    """How often each way forward was tried and raised the best, e.g. "feedback 2 of 9"."""
    shown = [f"{way} paid {c['paid']} of {c['tried']}" for way, c in ways.items() if c["tried"]]
    return "; ".join(shown) or "-"


def _wall_text(walls: Sequence[float]) -> str:
    if not walls:
        return "-"
    return (
        f"mean {statistics.fmean(walls):.1f} s, median {statistics.median(walls):.1f} s, "
        f"max {max(walls):.1f} s"
    )


_COLUMNS = ("task", "language", "status", "passed at", "tries", "tests", "iterations", "exit",
            "tokens", "cost", "wall (s)", "trajectories")  # fmt: skip


def _cells(row: TaskRow) -> list[str]:
    return [
        row.name,
        row.language,
        row.status,
        str(row.passed_at or "-"),
        str(row.tries),
        row.tests,
        str(row.iterations),
        row.exit_reason,
        f"{row.tokens:,}",
        _money(row.cost) if row.status != "pending" else "-",
        f"{row.wall:.1f}",
    ]


def _esc(text: str) -> str:
    """Text safe in HTML: no control characters (run text is model/sandbox output), escaped."""
    return _html(clean(text))


def _md(text: str) -> str:
    """Text safe in a Markdown table cell: no raw HTML, no column breaks, no control chars."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


def render_markdown(data: ReportData) -> str:
    """The report as Markdown (links relative to the batch folder)."""
    s = data.summary
    out = [f"# greenloop batch report: {data.batch_dir.name}", "", "| | |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in _headline(data)]
    out += ["", "## pass@k", "", "| k | pass@k |", "|---|---|"]
    out += [f"| {k} | {_pct(v)} |" for k, v in enumerate(s.pass_at, start=1)]
    out += ["", "## Exit reasons (every try)", "", "| exit reason | tries |", "|---|---|"]
    out += [f"| {_md(reason)} | {n} |" for reason, n in data.exit_reasons.items()]
    out += ["", "## Tasks", "", "| " + " | ".join(_COLUMNS) + " |"]
    out.append("|" + "---|" * len(_COLUMNS))
    for row in data.rows:
        links = ", ".join(f"[{label}]({path})" for label, path in row.links) or "-"
        out.append("| " + " | ".join([*map(_md, _cells(row)), links]) + " |")
    errors = [row for row in data.rows if row.error]
    if errors:
        out += ["", "## Errors", ""]
        out += [f"- **{_md(row.name)}**: {_md(row.error.splitlines()[0][:300])}" for row in errors]
    return "\n".join(out) + "\n"


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4;cursor:pointer;user-select:none}
.big{font-size:2.6em;font-weight:700}.passed{color:#1a7f37}.failed,.error{color:#c62828}
.pending{color:#888}.bar{background:#e8e8e8;height:1.1em;width:320px;display:inline-block}
.bar span{background:#2e7d32;height:100%;display:block}
.mono{font-family:ui-monospace,monospace}
"""

_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.dir !== "up"; th.dataset.dir = up ? "up" : "down";
    var key = function (r) { var t = r.cells[col].textContent.replace(/[$,%]/g, "");
      var n = parseFloat(t); return isNaN(n) ? t : n; };
    rows.sort(function (a, b) { var x = key(a), y = key(b);
      return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1); });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.documentElement.classList.add("js");
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are already HTML."""
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _task_cells(row: TaskRow) -> list[str]:
    cells = [_esc(c) for c in _cells(row)]
    cells[1] = f'<span class="{_esc(row.status)}">{cells[1]}</span>'
    links = " ".join(f'<a href="{_esc(p)}">{_esc(label)}</a>' for label, p in row.links)
    return [*cells, links or "-"]


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page."""
    s = data.summary
    bars = [
        [str(k), f'<span class="bar"><span style="width:{100 * v:.1f}%"></span></span> {_pct(v)}']
        for k, v in enumerate(s.pass_at, start=1)
    ]
    parts = [
        f"<h1>greenloop batch report: {_esc(data.batch_dir.name)}</h1>",
        f'<p><span class="big" id="pass-rate">{_pct(data.pass_rate)}</span> '
        f"passed ({s.passed} of {s.total} tasks)</p>",
        _table(["", ""], [[_esc(k), _esc(v)] for k, v in _headline(data)]),
        "<h2>pass@k</h2>",
        _table(["k", "pass@k"], bars),
        "<h2>Exit reasons (every try)</h2>",
        _table(["exit reason", "tries"], [[_esc(r), str(n)] for r, n in data.exit_reasons.items()]),
        "<h2>Tasks</h2>",
        _table([*_COLUMNS], [_task_cells(row) for row in data.rows], "sortable"),
    ]
    errors = [row for row in data.rows if row.error]
    if errors:
        items = "".join(
            f'<li><b>{_esc(r.name)}</b>: <span class="mono">{_esc(r.error[:500])}</span></li>'
            for r in errors
        )
        parts += ["<h2>Errors</h2>", f"<ul>{items}</ul>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>greenloop report {_esc(data.batch_dir.name)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + f"\n<script>{_SCRIPT}</script>"
        "</body></html>\n"
    )


def write_report(batch_dir: Path) -> tuple[Path, Path]:
    """Write `report.md` and `report.html` into the batch folder (and any trajectory page
    missing); return their paths."""
    write_missing_pages(Path(batch_dir))
    data = collect(batch_dir)
    md, page = Path(batch_dir) / "report.md", Path(batch_dir) / "report.html"
    md.write_text(render_markdown(data), encoding="utf-8")
    page.write_text(render_html(data), encoding="utf-8")
    return md, page
