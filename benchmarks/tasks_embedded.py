"""Every task in tasks/ with the embedded model, in the Docker sandbox: solved or not.

    python benchmarks/tasks_embedded.py [--tasks DIR] [--only NAME ...] [--max-iterations N]

Runs `greenloop new TASK --model local --json` per task into a temp folder and
prints, per task: status, exit reason, iterations, tokens, model calls, how many
replies hit their token cap (finish_reason "length"), wall. Each task keeps its
own budgets (task.toml). Expect the 135M model to solve only the simplest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_task(task: Path, out: Path, extra: list[str]) -> dict[str, object]:
    exe = Path(sys.executable).parent / "greenloop"
    started = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "new", str(task), "--out", str(out), "--model", "local", "--json", *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    try:
        result: dict[str, object] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": "error", "exit_reason": tail[0][:60], "wall": wall}
    result["wall"] = round(wall, 1)
    result["capped"] = _capped(Path(str(result.get("run_dir", ""))) / "trajectory.jsonl")
    return result


def _capped(trajectory: Path) -> int:
    """Model replies of the run that stopped at max_tokens."""
    if not trajectory.is_file():
        return 0
    events = [json.loads(line) for line in trajectory.read_text().splitlines() if line.strip()]
    return sum(e.get("event") == "model" and e.get("finish_reason") == "length" for e in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=Path, default=ROOT / "tasks")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--max-iterations", type=int, default=None, help="cap every task's test runs"
    )
    args = parser.parse_args()
    tasks = sorted(p for p in args.tasks.iterdir() if (p / "spec.md").is_file())
    if args.only:
        tasks = [t for t in tasks if t.name in args.only]
    print(
        f"{'task':24} {'status':7} {'reason':11} {'iter':>4} {'tokens':>8} "
        f"{'calls':>5} {'capped':>6} {'wall s':>7}"
    )
    solved = calls = capped = 0
    with tempfile.TemporaryDirectory(prefix="greenloop-bench-") as tmp:
        for task in tasks:
            extra = (
                []
                if args.max_iterations is None
                else ["--max-iterations", str(args.max_iterations)]
            )
            r = run_task(task, Path(tmp) / task.name, extra)
            tokens = r.get("tokens") or {}
            assert isinstance(tokens, dict)
            total = int(tokens.get("prompt", 0)) + int(tokens.get("completion", 0))
            solved += r.get("status") == "green"
            task_calls = int(str(r.get("model_calls", 0)))
            task_capped = int(str(r.get("capped", 0)))
            calls, capped = calls + task_calls, capped + task_capped
            print(
                f"{task.name:24} {r.get('status')!s:7} {r.get('exit_reason')!s:11} "
                f"{r.get('iterations', 0)!s:>4} {total:>8} {task_calls:>5} {task_capped:>6} "
                f"{r.get('wall')!s:>7}",
                flush=True,
            )
    share = f"{capped / calls:.0%}" if calls else "-"
    print(f"solved {solved} of {len(tasks)}; {capped} of {calls} replies hit their cap ({share})")


if __name__ == "__main__":
    main()
