"""How fast `greenloop batch` gets through trivial tasks, 1 worker against 2.

    python benchmarks/batch_throughput.py [--tasks 40] [--workers 1 2] [--sandbox docker]

Writes N trivial tasks (one function returning a constant, two tests) as a
JSONL file and answers them with a zero-latency scripted model behind the fake
OpenAI server in this process (the workers reach it over loopback). Every task
goes green on its first test run, so what is measured is the machinery: worker
start, model round trips, git, the sandbox's container, the test run.

Per worker count it prints tasks per minute and the overhead per task beyond
the tests' own run time (the sandbox's reported test duration):

- in the run:   a task's wall time inside `run_new` minus its test time
                (container create/remove, planning, git, records);
- in the batch: batch wall x workers / tasks minus the mean test time
                (adds worker start-up, scheduling and the result files).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI, Reply, Request

from agent.batch.scheduler import BatchOptions, load_batch_tasks, read_records, run_batch
from agent.batch.task_run import TaskSettings
from agent.model import ModelConfig
from agent.run.record import read_trajectory
from sandbox import SandboxConfig

PLAN = json.dumps({"files": [{"path": "value.py", "purpose": "the value", "interface": []}]})
TESTS = (
    "from value import value\n\ndef test_value():\n    assert value() == {n}\n\n"
    "def test_type():\n    assert isinstance(value(), int)\n"
)


def _reply(request: Request) -> Reply:
    prompt = request.prompt
    if "JSON plan" in prompt:
        return Reply(text=PLAN)
    number = prompt.split("return the number ", 1)[1].split(".", 1)[0]
    return Reply(text=f"```python\ndef value() -> int:\n    return {number}\n```")


def write_tasks(folder: Path, count: int) -> Path:
    """`count` trivial tasks in one JSONL file."""
    path = folder / "tasks.jsonl"
    lines = [
        json.dumps(
            {
                "name": f"t{n:03d}",
                "spec": f"# Value {n}\n\nWrite `value.py`: `value()` must return the number {n}.",
                "tests": {"tests/test_value.py": TESTS.format(n=n)},
                "config": {"max_iterations": 2, "timeout": 60},
            }
        )
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _test_seconds(record: dict[str, object]) -> float:
    total = 0.0
    for attempt in record["tries"]:  # type: ignore[attr-defined]
        events = read_trajectory(Path(attempt["run_dir"]) / "trajectory.jsonl")
        total += sum(float(e.get("duration", 0.0)) for e in events if e["event"] == "test")
    return total


def measure(tasks: Path, workers: int, out: Path, url: str, sandbox: str) -> dict[str, float]:
    """Run the batch once; tasks/min and the overheads."""
    config = ModelConfig(model="fake", base_url=url, api_key="k")
    settings = TaskSettings(model=config, model_name="fake", sandbox=SandboxConfig(kind=sandbox))  # type: ignore[arg-type]
    options = BatchOptions(out=out, settings=settings, workers=workers)
    loaded = load_batch_tasks(tasks)
    started = time.monotonic()
    summary = run_batch(loaded, options)
    wall = time.monotonic() - started
    if summary.passed != len(loaded):
        raise SystemExit(f"expected every task green, got {summary}")
    records = list(read_records(out).values())
    tests = [_test_seconds(r) for r in records]
    in_run = [float(r["wall"]) - t for r, t in zip(records, tests, strict=True)]
    return {
        "wall": wall,
        "per_min": 60 * len(records) / wall,
        "test": statistics.fmean(tests),
        "in_run": statistics.fmean(in_run),
        "in_batch": wall * workers / len(records) - statistics.fmean(tests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(_reply) as srv:
        tasks = write_tasks(Path(tmp), args.tasks)
        print(f"{args.tasks} trivial tasks, zero-latency scripted model, {args.sandbox} sandbox")
        print(
            f"{'workers':>7} {'wall s':>7} {'tasks/min':>9} {'test s':>7} "
            f"{'overhead/task in run':>21} {'in batch':>9}"
        )
        for workers in args.workers:
            r = measure(tasks, workers, Path(tmp) / f"run-{workers}", srv.base_url, args.sandbox)
            print(
                f"{workers:>7} {r['wall']:>7.1f} {r['per_min']:>9.1f} {r['test']:>7.2f} "
                f"{r['in_run']:>20.2f}s {r['in_batch']:>8.2f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
