"""`greenloop report RUN_A RUN_B [...]`: batch runs side by side, and the tasks that flipped.

    runs = compare([Path("run-a"), Path("run-b")])
    md, page = write_comparison(runs, Path("."))     # compare.md, compare.html

Runs over different task sets are compared on the tasks they share; the ones
left out are counted and named. A task flipped when it passed in one run and
failed (or errored) in another. Every task's cell links to that run's
trajectory pages, relative to where the comparison is written.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from agent.batch.ledger import BatchSummary
from agent.batch.report import ReportData, TaskRow, collect, write_missing_pages
from agent.batch.scheduler import MANIFEST_FILE, read_records
from agent.errors import UsageError
from agent.textclean import clean
from sandbox.paths import refuse_bidi

__all__ = [
    "Comparison",
    "Totals",
    "check_comparison_out",
    "compare",
    "render_html",
    "render_markdown",
    "write_comparison",
]

_FINISHED = ("passed", "failed", "error")


@dataclass(frozen=True)
class Totals:
    """One run's totals over the tasks every run has."""

    summary: BatchSummary
    wall: float
    """Seconds, summed over the tasks."""
    exit_reasons: dict[str, int]
    """Over every try."""

    @property
    def pass_rate(self) -> float:
        return self.summary.passed / max(1, self.summary.total)


@dataclass(frozen=True)
class Comparison:
    """Several batch runs, on the tasks they share."""

    runs: list[ReportData]
    labels: list[str]
    """A, B, C... in the order the runs were named."""
    tasks: list[str]
    """The tasks every run has, in the first run's order."""
    left_out: dict[str, list[str]]
    """Label -> the tasks of that run some other run does not have."""
    totals: list[Totals]
    """Per run, over the shared tasks."""

    def row(self, run: int, task: str) -> TaskRow:
        return next(r for r in self.runs[run].rows if r.name == task)

    def flipped(self, task: str) -> bool:
        """Passed in one run, failed or errored in another."""
        states = {self.row(i, task).status for i in range(len(self.runs))}
        return "passed" in states and bool(states & {"failed", "error"})

    def flip(self, task: str) -> str:
        """How a flipped task went, e.g. "A passed → B failed"; "" when it did not flip."""
        if not self.flipped(task):
            return ""
        return " → ".join(f"{lab} {self.row(i, task).status}" for i, lab in enumerate(self.labels))

    @property
    def flips(self) -> list[str]:
        return [t for t in self.tasks if self.flipped(t)]


def _totals(data: ReportData, tasks: Sequence[str]) -> Totals:
    records = read_records(data.batch_dir, tasks)
    done = [records[n] for n in tasks if n in records]
    reasons = Counter(t.result.exit_reason for r in done for t in r.tries)
    return Totals(
        BatchSummary.over(tasks, records, data.summary.tries).but(model=data.summary.model),
        wall=round(sum(r.wall for r in done), 3),
        exit_reasons=dict(reasons.most_common()),
    )


def compare(batch_dirs: Sequence[Path]) -> Comparison:
    """Read each batch folder (writing any trajectory page missing) and line them up."""
    if len(batch_dirs) < 2:
        raise UsageError("name two or more batch folders to compare")
    for batch_dir in batch_dirs:
        if not (Path(batch_dir) / MANIFEST_FILE).is_file():
            raise UsageError(f"{batch_dir} holds no batch ({MANIFEST_FILE}): name a batch --out")
        write_missing_pages(Path(batch_dir))
    runs = [collect(Path(d)) for d in batch_dirs]
    labels = [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(len(runs))]
    names = [[r.name for r in run.rows] for run in runs]
    shared = set(names[0]).intersection(*names[1:])
    tasks = [n for n in names[0] if n in shared]
    left_out = {
        lab: [n for n in ns if n not in shared] for lab, ns in zip(labels, names, strict=True)
    }
    totals = [_totals(run, tasks) for run in runs]
    return Comparison(runs, labels, tasks, left_out, totals)


def _money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def _seconds(value: object) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else "-"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def side_by_side(c: Comparison) -> list[tuple[str, list[str]]]:
    """(measure, one value per run) for the top table."""
    t = c.totals
    rows = [
        ("batch folder", [str(r.batch_dir) for r in c.runs]),
        ("model", [x.summary.model for x in t]),
        ("tasks compared", [str(x.summary.total) for x in t]),
        ("passed", [f"{x.summary.passed} ({_pct(x.pass_rate)})" for x in t]),
        (
            "failed / errors / pending",
            [f"{x.summary.failed} / {x.summary.errors} / {x.summary.pending}" for x in t],
        ),
    ]
    depth = max(len(x.summary.pass_at) for x in t)
    for k in range(depth):
        at = [x.summary.pass_at for x in t]
        rows.append((f"pass@{k + 1}", [_pct(p[k]) if k < len(p) else "-" for p in at]))
    rows += [
        ("tokens", [f"{x.summary.tokens:,}" for x in t]),
        ("cost", [_money(x.summary.cost) for x in t]),
        ("wall (sum of tasks)", [f"{x.wall:.1f} s" for x in t]),
        ("wall (whole batch)", [_seconds(r.summary.wall) for r in c.runs]),
        (
            "exit reasons",
            [", ".join(f"{k} {n}" for k, n in x.exit_reasons.items()) or "-" for x in t],
        ),
    ]
    return rows


def _state(row: TaskRow) -> str:
    if row.status == "passed" and row.passed_at and row.passed_at > 1:
        return f"passed@{row.passed_at}"
    return row.status


def _left_out_note(c: Comparison) -> str:
    count = len({n for names in c.left_out.values() for n in names})
    if not count:
        return f"All {len(c.tasks)} tasks are in every run."
    parts = [f"only in {lab}: {', '.join(ns)}" for lab, ns in c.left_out.items() if ns]
    return (
        f"{len(c.tasks)} tasks are in every run and compared; {count} left out "
        f"({'; '.join(parts)})."
    )


def _rel(target: Path, out: Path) -> str:
    return Path(os.path.relpath(target.resolve(), out.resolve())).as_posix()


def _md(text: object) -> str:
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


def render_markdown(c: Comparison, out: Path) -> str:
    """The comparison as Markdown; links relative to `out`."""
    heads = [f"{lab}: {r.batch_dir.name}" for lab, r in zip(c.labels, c.runs, strict=True)]
    lines = ["# greenloop: runs compared", "", _md(_left_out_note(c)), ""]
    lines += ["| | " + " | ".join(map(_md, heads)) + " |", "|---|" + "---|" * len(heads)]
    lines += [f"| {_md(m)} | " + " | ".join(map(_md, v)) + " |" for m, v in side_by_side(c)]
    lines += ["", f"## Tasks ({len(c.flips)} flipped)", ""]
    lines += [
        "| task | flipped | " + " | ".join(c.labels) + " |",
        "|---|---|" + "---|" * len(c.labels),
    ]
    for task in c.tasks:
        cells = []
        for i, run in enumerate(c.runs):
            row = c.row(i, task)
            links = " ".join(
                f"[{_md(lab)}]({_rel(run.batch_dir / p, out)})" for lab, p in row.links
            )
            cells.append(f"{_md(_state(row))} {row.tests} {links}".strip())
        flip = f"**FLIPPED** {c.flip(task)}" if c.flipped(task) else ""
        lines.append(f"| {_md(task)} | {flip} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;
padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.4em}table{border-collapse:collapse;width:100%}
td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f4f4}.passed{color:#1a7f37}.failed,.error{color:#c62828}.pending{color:#888}
tr.flipped{background:#fff3cd}.flip{font-weight:700;color:#8a6d00}.muted{color:#777}
"""


def _task_row_html(c: Comparison, task: str, out: Path) -> str:
    cells = [f"<td>{escape(clean(task))}</td>"]
    flipped = c.flipped(task)
    how = f"flipped: {escape(c.flip(task))}" if flipped else ""
    cells.append(f'<td class="flip">{how}</td>')
    for i, run in enumerate(c.runs):
        row = c.row(i, task)
        links = " ".join(
            f'<a href="{escape(_rel(run.batch_dir / p, out))}">{escape(lab)}</a>'
            for lab, p in row.links
        )
        cells.append(
            f'<td><span class="{escape(row.status)}">{escape(_state(row))}</span> '
            f'<span class="muted">{escape(row.tests)} · {escape(row.exit_reason)}</span> '
            f"{links}</td>"
        )
    attrs = ' class="flipped"' if flipped else ""
    return f'<tr{attrs} data-task="{escape(clean(task))}">' + "".join(cells) + "</tr>"


def render_html(c: Comparison, out: Path) -> str:
    """The comparison as one self-contained page; links relative to `out`."""
    heads = "".join(
        f"<th>{lab}: {escape(clean(r.batch_dir.name))}</th>"
        for lab, r in zip(c.labels, c.runs, strict=True)
    )
    top = "".join(
        f"<tr><td>{escape(m)}</td>" + "".join(f"<td>{escape(clean(v))}</td>" for v in vs) + "</tr>"
        for m, vs in side_by_side(c)
    )
    task_heads = "".join(f"<th>{lab}</th>" for lab in c.labels)
    body = "".join(_task_row_html(c, t, out) for t in c.tasks)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>greenloop: runs compared</title><style>{_CSS}</style></head><body>\n"
        f'<h1>greenloop: runs compared</h1><p id="left-out">{escape(_left_out_note(c))}</p>'
        f"<table><thead><tr><th></th>{heads}</tr></thead><tbody>{top}</tbody></table>"
        f'<h2>Tasks (<span id="flips">{len(c.flips)}</span> flipped)</h2>'
        f"<table><thead><tr><th>task</th><th>flipped</th>{task_heads}</tr></thead>"
        f"<tbody>{body}</tbody></table>\n</body></html>\n"
    )


def check_comparison_out(out: Path) -> None:
    """A UsageError unless `out` is a folder, or can be made one (no file in the way)."""
    out = Path(out)
    refuse_bidi(out, "--out folder", fix="give --out a name without that character")
    existing = next((p for p in (out, *out.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        what = "is not a folder" if existing == out else f"is under {existing}, not a folder"
        raise UsageError(
            f"--out {out} {what}: the comparison is written into a folder "
            "(compare.md, compare.html)",
            fix="give --out a folder, e.g. --out comparison",
        )


def write_comparison(c: Comparison, out: Path) -> tuple[Path, Path]:
    """Write `compare.md` and `compare.html` into `out`; return their paths."""
    out = Path(out)
    check_comparison_out(out)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "compare.md", out / "compare.html"
    md.write_text(render_markdown(c, out), encoding="utf-8")
    page.write_text(render_html(c, out), encoding="utf-8")
    return md, page
