"""The figures of `benchmarks/humaneval.py`, both ways: per problem and in total.

    naive = naive_figures(json.loads((out / "naive.json").read_text()))
    loop = batch_figures(out / "batch")
    print_tables(naive, loop)

The naive baseline's figures come from its own record (one entry per sample);
greenloop's from the batch's records: each task's `result.json` and the
trajectories of its tries (`tasks/<name>/try-*/.greenloop/runs/*/trajectory.jsonl`,
JSON lines, the first one possibly the format line), read by event name as
`agent.run.events` and `agent.run.candidates` name them.

A code reply is one that must hold code (naive: every sample; greenloop: the
`file:` and `syntax:` calls; a feedback reply holds edits). It does not parse when
it holds no code (greenloop: `malformed`) or its code fails `ast.parse`
(greenloop: `syntax`); it fails the syntax gate when it does and greenloop kept no
parseable head of it (`syntax_trimmed`). A candidate is tested when its code parses (greenloop tests
only what passed its syntax gate, a trimmed head included); the per-sample pass
rate is passing candidates over those tested.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "Figures",
    "batch_figures",
    "load_json",
    "naive_figures",
    "print_tables",
    "save_json",
    "trajectory_figures",
]

_CODE_PURPOSES = ("file:", "syntax:")


@dataclass
class Figures:
    """One side's figures for one problem, or summed over problems."""

    problems: int = 0
    solved: int = 0
    greedy_solved: int = 0
    """Solved by the first candidate (the greedy one, temperature 0)."""
    wall: float = 0.0
    calls: int = 0
    code_replies: int = 0
    no_code: int = 0
    unparseable: int = 0
    """Code replies whose code fails `ast.parse` (no-code replies not counted here)."""
    trimmed: int = 0
    """Of those, greenloop's: the ones whose parseable head its syntax gate kept and tested."""
    tested: int = 0
    passed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    """Summed seconds of the model calls (greenloop: the server's queue included)."""
    capped: int = 0
    """Replies that ran to their token cap."""
    unbuilt: int = 0
    """Test runs in which no test ran and none timed out (Rust: the crate did not build;
    Python: the tests could not be collected)."""
    note: str = ""
    walls: list[float] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        for f in fields(self):
            if f.name == "walls":
                self.walls.append(other.wall)
            elif f.name != "note":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def bad_share(self) -> float:
        """Code replies that fail the syntax gate (no code, or code that does not parse and
        has no parseable head to keep), over code replies. The naive baseline has no gate:
        its unparseable replies all fail."""
        failed = self.no_code + self.unparseable - self.trimmed
        return failed / self.code_replies if self.code_replies else 0.0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.tested if self.tested else 0.0

    @property
    def per_call(self) -> float:
        return self.latency / self.calls if self.calls else 0.0


def naive_figures(
    record: Mapping[str, Any], items: str = "problems", builds: str = "parses"
) -> dict[str, Figures]:
    """{task_id: figures} of the naive baseline's record (`humaneval.naive`; under
    `items`, each sample saying whether its code `builds`: HumanEval-Rust's record keeps
    `tasks` whose code `compiles`, and `unparseable` then counts code that does not)."""
    per: dict[str, Figures] = {}
    for task_id, problem in record[items].items():
        samples = problem["samples"]
        fig = Figures(problems=1, wall=float(problem["wall"]), calls=len(samples))
        fig.code_replies = len(samples)
        fig.no_code = sum(not s["code"] for s in samples)
        fig.unparseable = sum(s["code"] and not s[builds] for s in samples)
        fig.tested = sum(bool(s[builds]) for s in samples)
        fig.passed = sum(bool(s["passed"]) for s in samples)
        fig.solved = int(fig.passed > 0)
        fig.greedy_solved = int(bool(samples and samples[0]["passed"]))
        fig.prompt_tokens = sum(s["prompt_tokens"] for s in samples)
        fig.completion_tokens = sum(s["completion_tokens"] for s in samples)
        fig.latency = sum(s["latency"] for s in samples)
        fig.capped = sum(s["finish"] == "length" for s in samples)
        fig.note = f"at sample {len(samples)}" if fig.solved else ""
        per[task_id] = fig
    return per


def _events(path: Path) -> Iterable[dict[str, Any]]:
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a torn last line
            continue
        if isinstance(event, dict):
            yield event


def _unbuilt(run: dict[str, Any]) -> bool:
    """A test run in which no test ran, and not for lack of time."""
    ran = int(run.get("passed", 0)) + int(run.get("failed", 0))
    return not ran and not run.get("green") and not run.get("timed_out")


def trajectory_figures(fig: Figures, path: Path, first: bool) -> None:
    """Add one trajectory's calls, replies and candidates to `fig`; with `first`, whether
    its first test run (the greedy first candidate) was green."""
    last_green = False
    tests = 0
    for event in _events(path):
        kind = event.get("event")
        if kind == "model":
            fig.calls += 1
            fig.code_replies += str(event.get("purpose", "")).startswith(_CODE_PURPOSES)
            fig.prompt_tokens += int(event.get("prompt_tokens", 0))
            fig.completion_tokens += int(event.get("completion_tokens", 0))
            fig.latency += float(event.get("latency", 0.0))
            fig.capped += event.get("finish_reason") == "length"
        elif kind == "syntax":
            fig.unparseable += 1
        elif kind == "syntax_trimmed":
            fig.trimmed += 1
        elif kind == "malformed":
            fig.no_code += 1
        elif kind == "test":
            tests += 1
            last_green = bool(event.get("green"))
            fig.tested += 1
            fig.passed += last_green
            fig.unbuilt += _unbuilt(event)
            if first and tests == 1:
                fig.greedy_solved = int(last_green)
        elif kind == "candidates":
            results = event.get("results") or []
            fig.tested += len(results)
            fig.passed += sum(bool(r.get("green")) for r in results)
            fig.unbuilt += sum(_unbuilt(r) for r in results)
        elif kind == "confirm_alone":  # the test run before it re-ran a tested candidate
            fig.tested -= 1
            fig.passed -= last_green


def batch_figures(out: Path) -> dict[str, Figures]:
    """{task folder name: figures} of a `greenloop batch --out out`."""
    per: dict[str, Figures] = {}
    for result in sorted(out.glob("tasks/*/result.json")):
        record = json.loads(result.read_text())
        fig = Figures(problems=1, wall=float(record.get("wall", 0.0)))
        fig.solved = int(record.get("status") == "passed")
        tries = record.get("tries") or []
        for number, attempt in enumerate(tries, 1):
            for path in sorted(result.parent.glob(f"{attempt.get('out', '')}/.greenloop/runs/*/")):
                trajectory = path / "trajectory.jsonl"
                if trajectory.is_file():
                    trajectory_figures(fig, trajectory, first=number == 1)
        last = tries[-1] if tries else {}
        ways = last.get("ways") or {}
        fig.note = " ".join(
            [
                str(last.get("exit_reason", record.get("status", ""))),
                *(f"{w} {c.get('paid', 0)}/{c.get('tried', 0)}" for w, c in ways.items()),
                f"best from {last.get('best_from') or '-'}",
            ]
        )
        per[result.parent.name] = fig
    return per


def _by_number(per: Mapping[str, Figures]) -> dict[int, Figures]:
    """Keyed by problem number: "HumanEval/41" and the task folder "he041-..." are 41."""
    return {int(key.split("/")[1] if "/" in key else key[2:5]): fig for key, fig in per.items()}


def _total(per: Mapping[str, Figures]) -> Figures:
    total = Figures()
    for fig in per.values():
        total.add(fig)
    return total


def _cells(fig: Figures) -> list[str]:
    return [
        f"{fig.solved}" + (f" ({fig.greedy_solved} greedy)" if fig.problems > 1 else ""),
        f"{fig.wall:.0f}",
        str(fig.calls),
        f"{fig.passed}/{fig.tested} {fig.pass_rate:.1%}",
        f"{fig.no_code}+{fig.unparseable}-{fig.trimmed}/{fig.code_replies} {fig.bad_share:.1%}",
        f"{fig.per_call:.2f}",
    ]


def print_tables(naive: Mapping[str, Figures], loop: Mapping[str, Figures], wall: float) -> None:
    """Per problem, then in total: both sides on one line each. `wall`: the batch's own
    wall (its tasks' walls overlap, two workers at once)."""
    head = (
        "solved | wall s | calls | pass/tested "
        "| failed the gate: no code+unparsed-trimmed/code replies | s/call"
    )
    print(f"\n| problem | side | {head} | notes |")
    print("|---|---|" + "---|" * 7)
    sides = (("naive", _by_number(naive)), ("greenloop", _by_number(loop)))
    for number in sorted({n for _, numbered in sides for n in numbered}):
        for side, numbered in sides:
            fig = numbered.get(number)
            if fig is not None:
                print(f"| {number} | {side} | " + " | ".join(_cells(fig)) + f" | {fig.note} |")
    print(f"\n| in total | {head} | prompt+completion tokens a call | capped | median task wall |")
    print("|---|" + "---|" * 9)
    for side, per, whole in (("naive", naive, None), ("greenloop batch", loop, wall)):
        if not per:
            continue
        total = _total(per)
        if whole is not None:
            total.wall = whole
        tokens = f"{total.prompt_tokens / max(1, total.calls):.0f}+"
        tokens += f"{total.completion_tokens / max(1, total.calls):.0f}"
        median = statistics.median(total.walls) if total.walls else 0.0
        cells = [*_cells(total), tokens, str(total.capped), f"{median:.0f}"]
        print(f"| {side} ({total.problems}) | " + " | ".join(cells) + " |")


def save_json(path: Path, data: Mapping[str, Any]) -> None:
    """A benchmark's record, kept as it goes (`--resume` reads it back)."""
    path.write_text(json.dumps(data, indent=2) + "\n")


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
