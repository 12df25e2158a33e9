"""`greenloop batch --executor ray` on a real cluster whose worker nodes cannot see the head's disk.

The head has no CPUs, so every task runs on a worker node; each worker node lives in
its own mount namespace with a private tmpfs over the folder holding the head's
tasks and run dir (tests/ray_cluster.py). Whatever reaches the head's run dir came
back through Ray. The model is the scripted one behind the fake server (loopback is
shared), the sandbox the real Docker one on each node.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from ray_cluster import RayCluster, unshare_available
from task_script import TaskScript

from agent.batch.report import write_report
from agent.batch.scheduler import BatchOptions, load_batch_tasks, read_records, run_batch
from agent.batch.shipping import INCOMING_DIR
from agent.batch.task_run import TaskData, TaskRun, TaskSettings
from agent.model import ModelConfig, price_of

pytest.importorskip("ray", reason="ray is not installed: pip install 'greenloop[ray]'")
pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks"
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
NAMES = sorted(p.name for p in TASKS.iterdir() if p.is_dir())
KEY = "sk-test-only-4f1c9a7e2b"
_DRIVER_ENV = {"RAY_AUTH_MODE": "disabled"}


@pytest.fixture()
def hidden(tmp_path: Path) -> Path:
    """The head's folder that worker nodes cannot see; skipped where no namespace can be made."""
    why = unshare_available()
    if why:
        pytest.skip(why)
    return tmp_path / "head"


@pytest.fixture()
def cluster(
    hidden: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RayCluster]:
    for name, value in _DRIVER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with RayCluster(hidden) as running:
        yield running


def _tasks(hidden: Path, names: list[str]) -> Path:
    folder = hidden / "tasks"
    for name in names:
        shutil.copytree(TASKS / name, folder / name)
    return folder


def _settings(url: str) -> TaskSettings:
    config = ModelConfig(model="fake", base_url=url, api_key=KEY)
    return TaskSettings(model=config, model_name="fake", price=price_of(config))


def _options(run: Path, url: str, address: str, workers: int = 1) -> BatchOptions:
    return BatchOptions(
        out=run, settings=_settings(url), workers=workers, executor="ray", ray_address=address
    )


def _wait_for(check: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def _running_ray_tasks() -> list[int]:
    """Pids of the Ray workers running a task here (their title is ray::run_on_node)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::run_on_node"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _assert_on_the_head(run: Path, names: list[str]) -> None:
    """Every task's record, trajectory, cassette and committed project in the head's run dir."""
    records = read_records(run)
    assert sorted(records) == sorted(names)
    for name, record in records.items():
        assert record.status == "passed", record.error
        assert record.shipped_bytes and record.node
        for attempt in record.tries:
            project = run / "tasks" / name / attempt.out
            run_dir = Path(attempt.result.run_dir)
            assert run_dir.parent.parent.parent == project, "paths read as on one machine"
            for part in ("trajectory.jsonl", "cassette.jsonl", "result.json"):
                assert (run_dir / part).stat().st_size > 0, f"{name}: no {part} on the head"
            assert json.loads((run_dir / "result.json").read_text())["run_dir"] == str(run_dir)
            for path in attempt.result.files:
                assert (project / path).is_file(), f"{name}: {path} stayed on the node"
            head = subprocess.run(
                ["git", "-C", str(project), "rev-parse", str(attempt.result.branch)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert head.stdout.strip() == attempt.result.commit
    assert not list((run / INCOMING_DIR).iterdir()), "a landing was left half done"


def _assert_links_resolve(run: Path) -> None:
    md, _ = write_report(run)
    links = re.findall(r"\]\(([^)]+)\)", md.read_text())
    assert links
    assert all((run / link).is_file() for link in links), links


def test_every_tasks_outputs_come_back_to_the_head_and_no_key_is_written(
    cluster: RayCluster, hidden: Path
) -> None:
    cluster.add_node()
    names = NAMES[:3]
    tasks = load_batch_tasks(_tasks(hidden, names))
    script = TaskScript.from_folders(hidden / "tasks", SOLUTIONS)
    run = hidden / "run"
    with FakeOpenAI(script, api_key=KEY) as srv:
        summary = run_batch(tasks, _options(run, srv.base_url, cluster.address))
        authorized = {r.headers.get("authorization") for r in srv.chat_requests}
    assert (summary.total, summary.passed) == (3, 3)
    assert authorized == {f"Bearer {KEY}"}, "the key reached the workers"
    _assert_on_the_head(run, names)
    _assert_links_resolve(run)
    for path in run.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the API key is in {path}"


def test_a_task_sent_without_a_key_uses_its_nodes_own(cluster: RayCluster, hidden: Path) -> None:
    cluster.add_node(env={"OPENAI_API_KEY": KEY})
    tasks = load_batch_tasks(_tasks(hidden, NAMES[:1]))
    script = TaskScript.from_folders(hidden / "tasks", SOLUTIONS)
    with FakeOpenAI(script, api_key=KEY) as srv:
        options = _options(hidden / "run", srv.base_url, cluster.address)
        keyless = ModelConfig(model="fake", base_url=srv.base_url)
        options = replace(options, settings=replace(options.settings, model=keyless))
        summary = run_batch(tasks, options)
    assert summary.passed == 1, read_records(hidden / "run")


def test_the_job_ray_gets_carries_no_api_key(tmp_path: Path) -> None:
    from agent.batch.ray_executor import keyless

    task = load_batch_tasks(TASKS / NAMES[0])[0]
    job = TaskRun(TaskData.of(task), tmp_path / "t", _settings("http://127.0.0.1:9/v1"))
    sent, env = keyless(job)
    assert KEY.encode() not in pickle.dumps(sent)
    assert env == {"OPENAI_API_KEY": KEY}
    assert sent.settings.model.base_url == job.settings.model.base_url


def test_a_node_without_a_docker_engine_fails_its_tasks_with_the_fix(
    cluster: RayCluster, hidden: Path
) -> None:
    cluster.add_node(env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    names = NAMES[:2]
    script = TaskScript.from_folders(_tasks(hidden, names), SOLUTIONS)
    run = hidden / "run"
    with FakeOpenAI(script, api_key=KEY) as srv:
        summary = run_batch(
            load_batch_tasks(hidden / "tasks"), _options(run, srv.base_url, cluster.address)
        )
    assert (summary.done, summary.errors) == (2, 2), "the batch went on"
    for record in read_records(run).values():
        assert "cannot run sandboxes: no Docker engine answers" in record.error
        assert "greenloop sandbox build" in record.error and "Traceback" not in record.error
    assert sum(script.asked.values()) == 0, "no model call is spent on a node that cannot test"


def test_a_task_whose_node_is_killed_runs_again_on_another(
    cluster: RayCluster, hidden: Path
) -> None:
    cluster.add_node()
    slow = NAMES[1]
    script = TaskScript.from_folders(_tasks(hidden, [slow]), SOLUTIONS, slow={slow: 60.0})
    run = hidden / "run"

    summaries = []
    with FakeOpenAI(script, api_key=KEY) as srv:
        options = _options(run, srv.base_url, cluster.address)
        tasks = load_batch_tasks(hidden / "tasks")
        batch = threading.Thread(target=lambda: summaries.append(run_batch(tasks, options)))
        batch.start()
        _wait_for(lambda: script.asked[slow] >= 1)  # the first node is writing its file
        cluster.add_node()  # from this (the main) thread: see ray_cluster._stop_with_parent
        cluster.kill_node(0)
        script.slow.clear()
        batch.join(300)
    (summary,) = summaries
    assert summary.passed == 1
    record = read_records(run)[slow]
    assert record.reruns and "lost" in record.reruns[0]
    assert script.starts[slow] == 2, "the task ran once more, not more"
    _assert_on_the_head(run, [slow])
    md, _ = write_report(run)
    assert "1 task(s) run again" in md.read_text()


def _cli_batch(
    tasks: Path, run: Path, url: str, address: str, *extra: str
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    exe = Path(sys.executable).parent / "greenloop"
    args = [str(exe), "batch", str(tasks), "--out", str(run), "--model", "fake", "--base-url", url,
            "--executor", "ray", "--ray-address", address, "--workers", "1"]  # fmt: skip
    return subprocess.Popen(
        [*args, *extra],
        env={**env, **_DRIVER_ENV, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_resume_after_the_head_is_killed_mid_batch_runs_every_task_exactly_once(
    cluster: RayCluster, hidden: Path
) -> None:
    cluster.add_node()
    names = NAMES[:4]
    tasks = _tasks(hidden, names)
    script = TaskScript.from_folders(tasks, SOLUTIONS)
    run = hidden / "run"

    def finished() -> list[str]:
        return sorted(p.parent.name for p in (run / "tasks").glob("*/result.json"))

    with FakeOpenAI(script, api_key=KEY) as srv:
        proc = _cli_batch(tasks, run, srv.base_url, cluster.address)
        _wait_for(lambda: len(finished()) >= 1 and sum(script.starts.values()) > len(finished()))
        assert _running_ray_tasks(), "a task should be running on the node"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = {n: (run / "tasks" / n / "result.json").read_bytes() for n in finished()}
        _wait_for(lambda: not _running_ray_tasks(), 120)  # Ray ends a dead driver's tasks
        starts_before = dict(script.starts)
        again = _cli_batch(tasks, run, srv.base_url, cluster.address, "--resume")
        _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert len(before) < len(names), "the kill should have left tasks to do"
    for name in names:
        ran_again = script.starts[name] - starts_before.get(name, 0)
        assert ran_again == (0 if name in before else 1), name
    assert all((run / "tasks" / n / "result.json").read_bytes() == b for n, b in before.items())
    _assert_on_the_head(run, names)
    _assert_links_resolve(run)
