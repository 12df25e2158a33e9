"""`greenloop batch` end to end: the scripted model behind the fake server (the workers talk
to it over loopback through the real openai client), the real Docker sandbox, real git.

Each example task is answered from its reference solution (tests/task_script.py), so
which tasks pass, and at which try, is known in advance.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI
from task_script import TaskScript

from agent.batch.ledger import BatchSummary, TaskRecord, TryRecord
from agent.batch.report import write_report
from agent.batch.scheduler import BatchOptions, load_batch_tasks, read_records, run_batch
from agent.batch.task_run import TaskBusy, TaskSettings, previous_try_context, task_lock
from agent.errors import UsageError
from agent.model import ModelConfig, price_of
from agent.run.candidates import TestRun
from agent.run.record import RunDir, RunResult
from sandbox.base import TestCase, TestReport
from sandbox.docker import LABEL

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks"
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
NAMES = sorted(p.name for p in TASKS.iterdir() if p.is_dir())
FEW = NAMES[:3]


def _settings(url: str, tries: int = 1, model: str = "fake") -> TaskSettings:
    config = ModelConfig(model=model, base_url=url, api_key="k")
    return TaskSettings(model=config, model_name=model, tries=tries, price=price_of(config))


def _few_tasks(tmp_path: Path) -> Path:
    folder = tmp_path / "few"
    for name in FEW:
        shutil.copytree(TASKS / name, folder / name)
    return folder


def _run_dirs(run: Path, name: str) -> list[Path]:
    return sorted((run / "tasks" / name).glob("try-*/.greenloop/runs/*"))


def _containers_of(run_ids: set[str]) -> list[str]:
    from sandbox.image import docker_client

    left = docker_client().containers.list(all=True, filters={"label": LABEL})
    return [c.name for c in left if c.labels.get("greenloop.run") in run_ids]


# --- without Docker ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passed_at", "tries", "expected"),
    [
        ([1, 1, None, 2], 2, [0.5, 0.75]),
        ([None, None], 3, [0.0, 0.0, 0.0]),
        ([3, 1, 2], 3, [1 / 3, 2 / 3, 1.0]),
    ],
)
def test_pass_at_k_counts_tasks_green_within_k_tries(
    passed_at: list[int | None], tries: int, expected: list[float]
) -> None:
    records = {
        f"t{i}": TaskRecord(
            f"t{i}", "passed" if p else "failed", p, prompt_tokens=10, completion_tokens=5
        )
        for i, p in enumerate(passed_at)
    }
    summary = BatchSummary.over([*records, "never-ran"], records, tries)
    total = len(passed_at) + 1
    assert list(summary.pass_at) == [round(x * len(passed_at) / total, 4) for x in expected]
    assert (summary.total, summary.pending, summary.tokens) == (total, 1, 15 * total - 15)


@pytest.mark.parametrize(
    ("make", "count"),
    [
        (lambda tmp: TASKS, len(NAMES)),
        (lambda tmp: TASKS / NAMES[0], 1),
        (lambda tmp: _jsonl(tmp), 2),
    ],
    ids=["folder-of-tasks", "one-task-folder", "jsonl"],
)
def test_tasks_load_from_a_folder_a_task_or_jsonl(
    tmp_path: Path, make: Callable[[Path], Path], count: int
) -> None:
    assert len(load_batch_tasks(make(tmp_path))) == count


def _jsonl(tmp: Path) -> Path:
    line = {"spec": "Write add(a, b).", "tests": {"tests/test_a.py": "def test_a(): pass\n"}}
    path = tmp / "tasks.jsonl"
    path.write_text("\n".join(json.dumps({"name": n, **line}) for n in ("a", "b")) + "\n")
    return path


@pytest.mark.parametrize(
    ("setup", "resume", "tries", "message"),
    [
        ("batch", False, 1, "add --resume"),
        ("batch", True, 2, "same --tries"),
        ("junk", False, 1, "holds no batch"),
        ("inside", False, 1, "inside the task folder"),
    ],
)
def test_bad_run_dirs_are_refused_before_anything_runs(
    tmp_path: Path, setup: str, resume: bool, tries: int, message: str
) -> None:
    tasks = load_batch_tasks(_few_tasks(tmp_path))
    run = tasks[0].root / "out" if setup == "inside" else tmp_path / "run"
    run.mkdir(parents=True)
    if setup == "batch":
        (run / "batch.json").write_text(json.dumps({"tries": 1, "tasks": FEW}))
    elif setup == "junk":
        (run / "notes.txt").write_text("mine\n")
    options = BatchOptions(
        out=run, settings=_settings("http://127.0.0.1:9/v1", tries), resume=resume
    )
    with pytest.raises(UsageError, match=message):
        run_batch(tasks, options)
    assert not (run / "tasks").exists()


def test_a_held_task_lock_is_busy_for_another_holder(tmp_path: Path) -> None:
    with (
        task_lock(tmp_path / "t"),
        pytest.raises(TaskBusy, match=str(os.getpid())),
        task_lock(tmp_path / "t", wait=0.3),
    ):
        pass
    with task_lock(tmp_path / "t", wait=0):
        assert (tmp_path / "t" / ".lock").read_text() == str(os.getpid())


def test_the_next_try_hears_how_the_last_one_failed(tmp_path: Path) -> None:
    with RunDir(tmp_path, "r1") as run:
        report = TestReport(
            tests=(
                TestCase("tests/test_x.py::test_ok", "passed"),
                TestCase("tests/test_x.py::test_a", "failed", "assert 2 == 3", "E   assert 2 == 3"),
                TestCase("tests/test_x.py::test_b", "failed"),
            ),
            timed_out=True,
        )
        run.append(TestRun.of(report, green=False, iteration=1))
    result = RunResult(run.run_id, str(run.path), "fake", status="red", exit_reason="stuck")
    text = previous_try_context(TryRecord(1, "try-1", result))
    for part in (
        "How they failed:",
        "FAILED tests/test_x.py::test_a: assert 2 == 3",
        "E   assert 2 == 3",
        "attempt 1",
        "`stuck`",
        "1 passed, 2 failed, 0 errors (TIMED OUT)",
        "- tests/test_x.py::test_a",
        "- tests/test_x.py::test_b",
    ):
        assert part in text


class _Holder:
    """An executor that only keeps what it is given."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def submit(self, job: Any) -> None:
        self.jobs.append(job)

    def running(self) -> int:
        return len(self.jobs)


def test_a_task_starts_from_what_the_ways_forward_paid_in_the_finished_ones(
    tmp_path: Path,
) -> None:
    from agent.batch.scheduler import _Scheduler, _Signals

    tasks = load_batch_tasks(TASKS)[:3]
    done = {"feedback": {"tried": 3, "paid": 0}, "restart": {"tried": 2, "paid": 1}}
    for task in tasks[:2]:
        result = RunResult("r1", "", "fake", status="red", ways=done)
        record = TaskRecord.of_tries(task.name, [TryRecord(1, "try-1", result)], None)
        folder = tmp_path / "tasks" / task.name
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(record.to_json()))
    options = BatchOptions(out=tmp_path, settings=_settings("http://127.0.0.1:9/v1"))
    scheduler = _Scheduler(tasks, [tasks[2].name], options, lambda progress: None)
    holder = _Holder()
    scheduler._fill(holder, _Signals())  # type: ignore[arg-type]
    (job,) = holder.jobs
    assert job.prior == {"feedback": {"tried": 6, "paid": 0}, "restart": {"tried": 4, "paid": 2}}


def test_under_a_wall_budget_each_task_gets_its_share_and_early_ends_give_time_back(
    tmp_path: Path,
) -> None:
    from agent.batch.scheduler import _Scheduler, _Signals

    tasks = load_batch_tasks(TASKS)[:3]
    names = [t.name for t in tasks]
    settings = _settings("http://127.0.0.1:9/v1")

    def walls(workers: int, budget: float, spent: float = 0.0, ask: int = 3) -> list[float]:
        options = BatchOptions(
            out=tmp_path / f"w{workers}-{spent}", settings=settings, workers=workers,
            budget_wall=budget,
        )  # fmt: skip
        scheduler = _Scheduler(tasks, names[-ask:], options, lambda progress: None)
        scheduler.started -= spent
        holder = _Holder()
        scheduler._fill(holder, _Signals())  # type: ignore[arg-type]
        return [job.task.config.wall_seconds for job in holder.jobs]

    (alone,) = walls(1, 300)
    assert 99 < alone <= 100  # the time left over the three tasks, one at a time
    assert all(199 < w <= 200 for w in walls(2, 300))  # two at once: twice the share
    assert all(w == 1.0 for w in walls(1, 300, spent=299.5))  # a second at least
    # the first task ended after 10 s instead of its 100: the next two share what it left
    (after,) = walls(1, 300, spent=10, ask=2)
    assert 144 < after <= 145
    assert walls(1, 300, spent=301) == []  # spent: nothing starts
    assert walls(1, 10**6)[0] == tasks[0].config.wall_seconds  # never past the task's own


# --- with the real sandbox -------------------------------------------------------------


@pytest.mark.docker
def test_two_workers_over_the_example_tasks_give_the_right_summary(
    tmp_path: Path, sandbox_image: str
) -> None:
    wrong, broken = "01-fizzbuzz", "04-inventory"
    script = TaskScript.from_folders(TASKS, SOLUTIONS, wrong=[wrong], broken=[broken])
    run = tmp_path / "run"
    with FakeOpenAI(script) as srv:
        options = BatchOptions(out=run, settings=_settings(srv.base_url, tries=2), workers=2)
        summary = run_batch(load_batch_tasks(TASKS), options)
    records = read_records(run)
    assert sorted(records) == NAMES
    n = len(NAMES)
    assert (summary.total, summary.passed, summary.failed, summary.errors) == (
        n,
        n - 1,
        1,
        0,
    )
    assert list(summary.pass_at) == [round((n - 2) / n, 4), round((n - 1) / n, 4)]
    assert summary.tokens == sum(r.tokens for r in records.values()) > 0
    assert not summary.stopped_by_budget and not summary.interrupted
    assert json.loads((run / "summary.json").read_text()) == summary.to_json()
    assert (records[wrong].passed_at, len(records[wrong].tries)) == (2, 2)
    assert (records[broken].status, len(records[broken].tries)) == ("failed", 2)
    assert all(len(_run_dirs(run, n)) == len(records[n].tries) for n in NAMES)
    # try 2 was told what try 1's tests said, with the output its feedback prompt showed
    retry = next(p for p in script.retry_prompts if "tests/test_fizzbuzz.py" in p)
    assert "0 passed, 0 failed, 1 errors" in retry and "ImportError: not written yet" in retry
    md, _ = write_report(run)
    pass1, pass2 = 100 * (n - 2) / n, 100 * (n - 1) / n
    assert f"| 1 | {pass1:.1f}% |" in md.read_text() and f"| 2 | {pass2:.1f}% |" in md.read_text()
    # one batch, five languages: each task's row names the language its tests are in
    rows = {r.split("|")[1].strip(): r for r in md.read_text().splitlines() if r.startswith("|")}
    languages = {"00-add": "python", "07-js-add": "javascript", "09-go-add": "go"}
    for name, language in {**languages, "10-rust-add": "rust"}.items():
        assert f"| {language} |" in rows[name], rows[name]
    assert "| typescript |" in rows["08-ts-stack"]  # run by the JavaScript toolchain


def _cli_batch(tasks: Path, run: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    exe = Path(sys.executable).parent / "greenloop"
    args = [str(exe), "batch", str(tasks), "--out", str(run), "--model", "fake", "--base-url", url]
    return subprocess.Popen(
        [*args, *extra],
        env={**env, "OPENAI_API_KEY": "k"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _spawned_children(parent: int) -> list[int]:
    """Pids of the multiprocessing workers `parent` spawned (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    assert found, "the batch should have worker processes"
    return found


@pytest.mark.docker
@pytest.mark.slow
def test_sigkill_mid_batch_then_resume_runs_every_task_exactly_once(
    tmp_path: Path, sandbox_image: str
) -> None:
    script = TaskScript.from_folders(TASKS, SOLUTIONS)
    run = tmp_path / "run"

    def finished() -> list[str]:
        return sorted(p.parent.name for p in (run / "tasks").glob("*/result.json"))

    with FakeOpenAI(script) as srv:
        proc = _cli_batch(TASKS, run, srv.base_url, "--workers", "2")
        _wait_for(lambda: len(finished()) >= 2 and len(list((run / "tasks").iterdir())) > 2)
        workers = _spawned_children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # its orphaned workers cut their runs and exit on their own
        _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 60)
        before = {n: (run / "tasks" / n / "result.json").read_bytes() for n in finished()}
        partial = sorted({p.name for p in (run / "tasks").iterdir()} - set(before))
        assert partial, "the kill should have caught a task mid-run"
        cut_runs = {d.name for n in partial for d in _run_dirs(run, n)}
        starts_before = dict(script.starts)
        again = _cli_batch(TASKS, run, srv.base_url, "--workers", "2", "--resume")
        _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    summary = BatchSummary.from_json(json.loads((run / "summary.json").read_text()))
    assert (summary.total, summary.passed, summary.pending) == (len(NAMES), len(NAMES), 0)
    for name in NAMES:
        ran_again = script.starts[name] - starts_before.get(name, 0)
        assert ran_again == (0 if name in before else 1), name
        assert len(_run_dirs(run, name)) == 1, f"{name}: a partial run was not cleaned up"
    assert all((run / "tasks" / n / "result.json").read_bytes() == b for n, b in before.items())
    assert sorted(read_records(run)) == NAMES
    assert not _containers_of(cut_runs), "the killed batch's sandboxes were left behind"


@pytest.mark.docker
@pytest.mark.parametrize("grace", ["60", "0"], ids=["running-task-ends", "cut-at-deadline"])
def test_ctrl_c_stops_scheduling_and_keeps_results(
    tmp_path: Path, sandbox_image: str, grace: str
) -> None:
    script = TaskScript.from_folders(_few_tasks(tmp_path), SOLUTIONS, slow={FEW[1]: 1.5})
    run = tmp_path / "run"
    with FakeOpenAI(script) as srv:
        proc = _cli_batch(tmp_path / "few", run, srv.base_url, "--workers", "1", "--grace", grace)
        _wait_for(lambda: script.asked[FEW[1]] >= 1)  # the slow task is writing its file
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    summary = BatchSummary.from_json(json.loads((run / "summary.json").read_text()))
    assert summary.interrupted and summary.tasks[FEW[2]] == "pending"
    assert script.asked[FEW[2]] == 0
    slow_result = run / "tasks" / FEW[1] / "result.json"
    slow_runs = list((run / "tasks" / FEW[1]).glob("try-1/.greenloop/runs/*/result.json"))
    if grace == "60":
        assert summary.tasks[FEW[1]] == "passed" and slow_result.is_file()
        return
    assert not slow_result.exists(), "a cut task has no record: resume runs it again"
    assert json.loads(slow_runs[0].read_text())["exit_reason"] == "interrupted"
    script.slow.clear()
    with FakeOpenAI(script) as srv:
        options = BatchOptions(out=run, settings=_settings(srv.base_url), resume=True, workers=2)
        summary = run_batch(load_batch_tasks(tmp_path / "few"), options)
    # FEW[0] ran once, before the interruption: one file, no plan asked (its tests imply it)
    assert (summary.passed, summary.interrupted, script.asked[FEW[0]]) == (3, False, 1)
    assert len(_run_dirs(run, FEW[1])) == 1


@pytest.mark.docker
@pytest.mark.parametrize(
    ("model", "budget"),
    [("fake", {"budget_tokens": 1}), ("gpt-4o-mini", {"budget_cost": 1e-9})],
    ids=["tokens", "cost"],
)
def test_a_spent_budget_starts_no_task_and_running_ones_finish(
    tmp_path: Path, sandbox_image: str, model: str, budget: dict[str, Any]
) -> None:
    script = TaskScript.from_folders(_few_tasks(tmp_path), SOLUTIONS)
    run = tmp_path / "run"
    with FakeOpenAI(script) as srv:
        settings = _settings(srv.base_url, model=model)
        options = BatchOptions(out=run, settings=settings, workers=2, **budget)
        summary = run_batch(load_batch_tasks(tmp_path / "few"), options)
    assert summary.stopped_by_budget
    assert (summary.done, summary.passed, summary.pending) == (2, 2, 1)
    assert script.asked[FEW[2]] == 0
    if model != "fake":
        assert summary.cost and summary.cost > budget["budget_cost"]
    md, _ = write_report(run)
    assert "stopped by the budget" in md.read_text()


@pytest.mark.docker
@pytest.mark.slow
def test_ray_gives_the_same_summary_as_the_local_pool(tmp_path: Path, sandbox_image: str) -> None:
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'greenloop[ray]'")
    tasks = load_batch_tasks(_few_tasks(tmp_path))[:2]
    script = TaskScript.from_folders(tmp_path / "few", SOLUTIONS, wrong=[FEW[0]])
    keys = ("total", "done", "passed", "failed", "errors", "pass_at", "tokens", "tasks")
    summaries = {}
    with FakeOpenAI(script) as srv:
        for executor in ("local", "ray"):
            if executor == "ray":
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:
                options = BatchOptions(
                    out=tmp_path / executor,
                    settings=_settings(srv.base_url, 2),
                    workers=2,
                    executor=executor,
                )
                summaries[executor] = run_batch(tasks, options)
            finally:
                ray.shutdown()
    local, remote = ({k: s.to_json()[k] for k in keys} for s in summaries.values())
    assert remote == local
    assert (local["total"], local["pass_at"]) == (2, [0.5, 1.0])
    assert summaries["ray"].executor == "ray"


@pytest.mark.docker
def test_max_calls_bounds_every_task_of_the_batch(tmp_path: Path, sandbox_image: str) -> None:
    # 00-add answered wrong first: with one model call a task, its first red candidate
    # is all it gets, and the run says the calls ran out
    folder = tmp_path / "one"
    shutil.copytree(TASKS / "00-add", folder / "00-add")
    script = TaskScript.from_folders(folder, SOLUTIONS, wrong=["00-add"])
    run = tmp_path / "run"
    with FakeOpenAI(script) as srv:
        proc = _cli_batch(folder, run, srv.base_url, "--max-calls", "1")
        _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    (run_dir,) = _run_dirs(run, "00-add")
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["status"], result["exit_reason"]) == ("red", "calls")
    assert script.asked["00-add"] == 1
