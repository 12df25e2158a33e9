"""A run's trajectory as one self-contained HTML page, and as plain text for a terminal.

    page = write_page(run_dir)          # RUN_DIR/trajectory.html, from the run's records
    print(render_text(load_run(run_dir)))

The page needs no server and loads nothing: styles and the small expand/collapse
script are inline; its links are anchors within the page and the run's own
record files beside it. Every text is stripped of control characters and
HTML-escaped: it is model and sandbox output. Long texts are folded, not cut.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from html import escape
from pathlib import Path

from agent.atomic import write_atomic
from agent.errors import GreenloopError
from agent.show.trajectory import Block, Fold, RunRecord, blocks, load_run, mapping
from agent.textclean import clean

__all__ = [
    "PAGE_FILE",
    "page_is_stale",
    "render_html",
    "render_text",
    "summary_rows",
    "write_page",
    "write_page_quietly",
]

log = logging.getLogger(__name__)

PAGE_FILE = "trajectory.html"
_OPEN_LINES, _OPEN_CHARS = 15, 1500
"""A fold this short is shown open; prompts are always folded."""
_TEXT_LINES = 40
"""Lines of a fold the plain-text view shows before pointing at the page."""
_RECORDS = ("trajectory.jsonl", "cassette.jsonl", "result.json")


def _e(text: object) -> str:
    return escape(clean(text))


def summary_rows(run: RunRecord) -> list[tuple[str, str]]:
    """(label, value) of the run's result, for the top of both renderings."""
    r = run.result
    tokens, tests = mapping(r.get("tokens")), mapping(r.get("tests"))
    cost = r.get("cost")
    rows = [
        ("status", f"{r.get('status', '?')} ({r.get('exit_reason', '?')})"),
        ("model", str(r.get("model", "?"))),
        ("tests", " / ".join(f"{tests.get(k, 0)} {k}" for k in ("passed", "failed", "errors"))),
        ("iterations", str(r.get("iterations", "?"))),
        ("model calls", str(r.get("model_calls", "?"))),
        ("tokens", f"{tokens.get('prompt', 0):,} prompt + {tokens.get('completion', 0):,} reply"),
        ("cost", "unknown" if cost is None else f"${float(cost):.4f}"),
        ("wall", f"{r.get('wall', '?')} s"),
    ]
    rows += [(k, str(r[k])) for k in ("branch", "commit", "error") if r.get(k)]
    return rows


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1150px;color:#222;
padding:0 1em}
h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse}td,th{padding:.2em .7em;border-bottom:1px solid #e3e3e3;
text-align:left}
ol.steps{list-style:none;padding:0}ol.steps>li{border-left:4px solid #bbb;margin:.55em 0;
padding:.35em .8em;background:#fafafa}
li.model{border-color:#5472d3}li.test{border-color:#888}li.test.ok,li.result.ok{border-color:#2e7d32}
li.test.bad,li.result.bad{border-color:#c62828}li.edit{border-color:#ef6c00}
li.candidate{border-color:#6a1b9a}li.switch{background:#fff8e1;border-color:#f9a825}
li.other{border-color:#9e9e9e}.head{font-weight:600}.head a{color:#999;text-decoration:none;
font-weight:400;margin-right:.5em}.time{color:#999;font-weight:400;font-size:.85em;float:right}
.ok>.head .t{color:#1a7f37}.bad>.head .t{color:#c62828}
.facts{color:#444;margin:.2em 0}.facts span{margin-right:1.2em}.facts b{font-weight:600;color:#666}
ul{margin:.2em 0 .2em 1.2em;padding:0}details{margin:.25em 0}summary{cursor:pointer;color:#333}
pre{background:#fff;border:1px solid #e0e0e0;padding:.5em;white-space:pre-wrap;
word-break:break-word;margin:.3em 0;font:12.5px/1.4 ui-monospace,monospace;max-height:40em;
overflow:auto}
.add{color:#1a7f37;background:#e6ffec}.del{color:#b31d28;background:#ffebe9}.hunk{color:#6f42c1}
.muted{color:#888}button{margin-right:.5em}.badge{padding:.1em .5em;border-radius:.3em;color:#fff}
.badge.green{background:#2e7d32}.badge.red,.badge.error{background:#c62828}
"""

_SCRIPT = """
function setAll(open){document.querySelectorAll("details").forEach(function(d){d.open=open;});}
document.getElementById("expand").addEventListener("click",function(){setAll(true);});
document.getElementById("collapse").addEventListener("click",function(){setAll(false);});
document.documentElement.classList.add("js");
"""


def _pre(fold: Fold) -> str:
    if fold.kind != "diff":
        return f"<pre>{_e(fold.text)}</pre>"
    lines = []
    for line in clean(fold.text).splitlines():
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            cls = "hunk"
        lines.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _fold_html(fold: Fold) -> str:
    if not fold.text:
        return f'<p class="muted">{_e(fold.label)}</p>'
    short = fold.text.count("\n") < _OPEN_LINES and len(fold.text) <= _OPEN_CHARS
    opened = " open" if short and fold.kind != "prompt" else ""
    return f"<details{opened}><summary>{_e(fold.label)}</summary>{_pre(fold)}</details>"


def _block_html(block: Block, number: int) -> str:
    parts = [
        f'<li id="{block.anchor}" class="{block.kind} {block.status}"><div class="head">'
        f'<a href="#{block.anchor}">#{number}</a><span class="t">{_e(block.title)}</span>'
        f'<span class="time">{_e(block.time)}</span></div>'
    ]
    if block.facts:
        facts = "".join(f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in block.facts)
        parts.append(f'<div class="facts">{facts}</div>')
    if block.items:
        parts.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>")
    parts += [_fold_html(f) for f in block.folds]
    return "".join(parts) + "</li>"


def _rows(rows: Iterable[Iterable[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)


def _overview(steps: list[Block]) -> str:
    """The test runs, each linked to its block."""
    runs = [b for b in steps if b.kind == "test"]
    if not runs:
        return '<p class="muted">no test run was recorded</p>'
    rows = []
    for b in runs:
        name, _, counts = b.title.partition(": ")
        rows.append(
            [
                f'<a href="#{b.anchor}">{_e(name)}</a>',
                f'<span class="{b.status}">{_e(counts)}</span>',
            ]
        )
    return f"<table>{_rows(rows)}</table>"


def render_html(run: RunRecord) -> str:
    """The trajectory page: the result, the test runs, then every event in order."""
    steps = blocks(run)
    status = str(run.result.get("status", "unknown"))
    records = [n for n in _RECORDS if (run.path / n).is_file()]
    links = " · ".join(f'<a href="{escape(n)}">{escape(n)}</a>' for n in records)
    summary = _rows([[_e(k), _e(v)] for k, v in summary_rows(run)])
    parts = [
        f"<h1>greenloop run {_e(run.path.name)} "
        f'<span class="badge {_e(status)}" id="status">{_e(status)}</span></h1>',
        f'<p class="muted">{_e(run.path)}<br>records: {links or "none"}</p>',
        f"<table>{summary}</table>",
        "<h2>Test runs</h2>",
        _overview(steps),
        f"<h2>Trajectory ({len(steps)} events)</h2>",
        '<p><button id="expand">expand all</button><button id="collapse">collapse all</button></p>',
        '<ol class="steps">' + "".join(_block_html(b, i) for i, b in enumerate(steps, 1)) + "</ol>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>greenloop run {_e(run.path.name)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + f"\n<script>{_SCRIPT}</script></body></html>\n"
    )


# ---------------------------------------------------------------- plain text


def _fold_text(fold: Fold, full: bool) -> list[str]:
    if not fold.text or (fold.kind == "prompt" and not full):
        return [f"    > {clean(fold.label)}"]
    lines = clean(fold.text).splitlines()
    shown = lines if full else lines[:_TEXT_LINES]
    out = [f"    > {clean(fold.label)}"] + [f"      {line}" for line in shown]
    if len(lines) > len(shown):
        out.append(f"      ... {len(lines) - _TEXT_LINES} more lines (all in {PAGE_FILE})")
    return out


def render_text(run: RunRecord, full: bool = False) -> str:
    """The trajectory as plain text: the same steps; long texts cut and prompts named only,
    unless `full`."""
    out = [f"greenloop run {clean(run.path.name)}  ({clean(run.path)})"]
    out += [f"  {label:12} {clean(value)}" for label, value in summary_rows(run)]
    out.append("")
    for number, block in enumerate(blocks(run), start=1):
        mark = {"ok": "+", "bad": "!"}.get(block.status, "-")
        out.append(f"{mark} #{number} {clean(block.title)}")
        if block.facts:
            out.append("    " + "; ".join(f"{clean(k)}: {clean(v)}" for k, v in block.facts))
        out += [f"    * {clean(item)}" for item in block.items]
        for fold in block.folds:
            out += _fold_text(fold, full)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- files


def write_page(path: Path) -> Path:
    """Write `trajectory.html` into the run dir `path` names (see `find_run`); return it."""
    run = load_run(path)
    return write_atomic(run.path / PAGE_FILE, render_html(run))


def write_page_quietly(path: Path) -> Path | None:
    """`write_page`, for the end of a run: a failure is logged, never raised over the run's own."""
    try:
        return write_page(path)
    except (OSError, ValueError, GreenloopError) as exc:
        log.warning("could not write the trajectory page of %s: %s", path, exc)
        return None


def page_is_stale(run_dir: Path) -> bool:
    """True when a record file is newer than the page (or there is no page)."""
    page = Path(run_dir) / PAGE_FILE
    if not page.is_file():
        return True
    mtime = page.stat().st_mtime
    records = [Path(run_dir) / n for n in _RECORDS]
    return any(r.is_file() and r.stat().st_mtime > mtime for r in records)
