"""Ray batches across nodes that share no disk: tasks/min with one worker node against two,
and the bytes each task ships back to the head.

    python benchmarks/ray_nodes.py [--copies 2]     # as root (worker nodes use unshare -m)

Starts a Ray head with no CPUs and worker nodes of one CPU each, every worker in
its own mount namespace with a private tmpfs over the head's folder
(tests/ray_cluster.py), so every record and project reaches the head through
Ray. The example tasks (`--copies` of each) are answered from their reference
solutions by the scripted model behind the fake server. One batch runs with one
worker node (--workers 1); then a second node joins and the same tasks run again
(--workers 2). Prints tasks per minute of each, their ratio, and the bytes
shipped per task (gzipped task folder: project, git repo, trajectory, cassette).
Needs the sandbox image on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI
from ray_cluster import RayCluster, unshare_available
from task_script import TaskScript

from agent.batch.scheduler import BatchOptions, load_batch_tasks, read_records, run_batch
from agent.batch.task_run import TaskSettings
from agent.model import ModelConfig

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"


def _tasks(folder: Path, copies: int) -> Path:
    out = folder / "tasks"
    for task in sorted(p for p in (ROOT / "tasks").iterdir() if p.is_dir()):
        for copy in range(copies):
            shutil.copytree(task, out / f"{task.name}-{copy}")
    return out


def _batch(tasks: Path, run: Path, url: str, address: str, workers: int) -> tuple[float, list[int]]:
    config = ModelConfig(model="fake", base_url=url, api_key="k")
    options = BatchOptions(
        out=run,
        settings=TaskSettings(model=config, model_name="fake"),
        workers=workers,
        executor="ray",
        ray_address=address,
    )
    start = time.monotonic()
    summary = run_batch(load_batch_tasks(tasks), options)
    wall = time.monotonic() - start
    if summary.passed != summary.total:
        raise SystemExit(f"only {summary.passed} of {summary.total} tasks passed")
    shipped = [int(r["shipped_bytes"]) for r in read_records(run).values()]
    return wall, shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="copies of each example task")
    args = parser.parse_args()
    why = unshare_available()
    if why:
        raise SystemExit(f"cannot start worker nodes without the head's disk: {why}")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    base = Path(tempfile.mkdtemp(prefix="greenloop-ray-bench-"))
    hidden = base / "head"
    try:
        tasks = _tasks(hidden, args.copies)
        names = sorted(p.name for p in tasks.iterdir())
        # copies share their task's spec title, so each is answered from its solution
        script = TaskScript.from_folders(ROOT / "tasks", SOLUTIONS)
        with FakeOpenAI(script) as srv, RayCluster(hidden) as cluster:
            rates, shipped = {}, []
            for nodes in (1, 2):
                cluster.add_node()
                wall, sizes = _batch(tasks, hidden / f"run-{nodes}", srv.base_url,
                                     cluster.address, nodes)  # fmt: skip
                rates[nodes] = 60 * len(names) / wall
                shipped += sizes
                print(f"{nodes} worker node(s): {len(names)} tasks in {wall:.1f} s = "
                      f"{rates[nodes]:.2f} tasks/min", flush=True)  # fmt: skip
        print(f"ratio two nodes / one node: {rates[2] / rates[1]:.2f}")
        print(
            f"bytes shipped per task: mean {statistics.fmean(shipped):,.0f}, median "
            f"{statistics.median(shipped):,.0f}, min {min(shipped):,}, max {max(shipped):,}"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
