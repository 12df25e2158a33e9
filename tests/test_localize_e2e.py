"""Fault localization end to end: a real `greenloop fix` (the real openai client against the
fake server, the real Docker sandbox with coverage.py, real git) on the almanac fixture
library, one injected bug per scenario. The first prompt, read back from the run's
cassette, must hold the buggy line, within the context budget."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI
from fixture_repos import make_repo
from localize_repos import almanac_files, almanac_fix, buggy_line
from scripted_agent import Script, search_replace

from agent.fix.repair import prepare_fix, run_fix
from agent.fix.repomap import estimate_tokens
from agent.model import ModelConfig, OpenAIChat
from agent.model.cassette import Cassette, RecordingModel
from agent.run.record import FixResult, read_trajectory
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox import SandboxConfig

pytestmark = pytest.mark.docker

BUDGET = 2500
LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=100_000, wall_seconds=300,
                    timeout=60)  # fmt: skip


def _fix(root: Path, replies: list[str], image: str) -> tuple[FixResult, list[str]]:
    """Run fix; the user messages of every model call, from the run's cassette."""
    run_id = f"t{time.monotonic_ns()}"
    cassette = root / ".greenloop" / "runs" / run_id / "cassette.jsonl"
    with FakeOpenAI(Script("{}", {}, replies)) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(run_id=run_id, model_name="fake", config=LIMITS,
                              sandbox=SandboxConfig(image=image),
                              context_tokens=BUDGET)  # fmt: skip
        result = run_fix(prepare_fix(root, options), RecordingModel(model, cassette))
    prompts = [m.content for e in Cassette(cassette).entries() for m in e.messages
               if m.role == "user"]  # fmt: skip
    return result, prompts


def _events(result: FixResult, kind: str) -> list[dict[str, Any]]:
    events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl", strict=True)
    return [e for e in events if e["event"] == kind]


SCENARIOS = {
    "wrap": "a test asserts the return value of a function whose helper is wrong",
    "cache": "the bug is in a method of a class the test builds",
    "means": "the bug is two calls below what the test calls",
    "render": "the code raises",
}


@pytest.mark.parametrize("bug", list(SCENARIOS))
def test_the_first_prompt_shows_the_buggy_line_within_budget(
    bug: str, tmp_path: Path, sandbox_image: str
) -> None:
    root = make_repo(tmp_path / "almanac", almanac_files(bug))
    result, prompts = _fix(root, [almanac_fix(bug)], sandbox_image)
    assert result.status == "green", result.error
    first = prompts[0]
    assert buggy_line(bug) in first, SCENARIOS[bug]
    system = "You are an expert Python programmer"
    assert estimate_tokens(first) + estimate_tokens(system) * 2 <= BUDGET
    (event,) = _events(result, "localize")[:1]
    assert event["coverage"]["ran"] and event["coverage"]["failed"] == 1
    assert event["coverage"]["note"] == ""
    path = {"wrap": "wrapping", "cache": "cache", "means": "numeric", "render": "render"}[bug]
    shown = [s for s in event["shown"] if s["path"] == f"almanac/{path}.py"]
    assert shown and all(s["score"] > 0 and s["signals"] for s in shown)


def test_the_buggy_function_of_a_deep_call_is_found_by_coverage(
    tmp_path: Path, sandbox_image: str
) -> None:
    root = make_repo(tmp_path / "almanac", almanac_files("means"))
    result, _ = _fix(root, [almanac_fix("means")], sandbox_image)
    (event,) = _events(result, "localize")[:1]
    means = next(s for s in event["shown"] if s["name"] == "running_means")
    # a passing test runs it too: Ochiai 1 / sqrt(1 * 2)
    assert means["signals"]["dynamic"] == pytest.approx(0.707, abs=1e-3)
    assert "static" not in means["signals"]  # three calls deep: static alone would miss it


def test_a_later_prompt_relocalizes_and_shows_the_edited_code(
    tmp_path: Path, sandbox_image: str
) -> None:
    root = make_repo(tmp_path / "almanac", almanac_files("wrap", "cache"))
    # the first reply fixes the wrap bug and gets the cache's wrong: a better, still red candidate
    wrong = almanac_fix("cache").replace("> self.capacity:", ">= self.capacity + 5:")
    right = search_replace(
        "almanac/cache.py",
        "while len(self._data) >= self.capacity + 5:",
        "while len(self._data) > self.capacity:",
    )
    replies = [almanac_fix("wrap") + "\n" + wrong, right]
    result, prompts = _fix(root, replies, sandbox_image)
    assert result.status == "green" and len(prompts) == 2
    assert "while len(self._data) >= self.capacity + 5:" in prompts[1]
    events = _events(result, "localize")
    line = almanac_files("cache")["almanac/cache.py"].splitlines().index(buggy_line("cache")) + 1
    assert len(events) == 2 and events[1]["edited"]["almanac/cache.py"] == [line]
    put = next(s for s in events[1]["shown"] if s["name"] == "LRUCache.put")
    assert put["signals"]["edited"] == 1.0
    assert events[1]["coverage"]["ran"] and events[1]["failing"] == 1
    assert "test_wrap_words" not in prompts[1].split("Test results:")[1]


@pytest.mark.parametrize("bug", ["wrap", "render"])
def test_without_coverage_static_and_traceback_still_find_the_bug(
    bug: str, tmp_path: Path, sandbox_image: str
) -> None:
    # The repository's own `coverage` package shadows the image's: as if it had none.
    shadow = {"coverage/__init__.py": "raise ImportError('not here')\n"}
    root = make_repo(tmp_path / "almanac", {**almanac_files(bug), **shadow})
    result, prompts = _fix(root, [almanac_fix(bug)], sandbox_image)
    assert result.status == "green" and buggy_line(bug) in prompts[0]
    (event,) = _events(result, "localize")[:1]
    assert event["coverage"]["note"] == "coverage.py is not installed in the sandbox image"
    assert not event["coverage"]["ran"]
    signals = {k for s in event["shown"] for k in s["signals"]}
    assert "dynamic" not in signals and "static" in signals


@pytest.fixture(autouse=True)
def _no_leftover_containers(docker_engine: Any) -> Iterator[None]:
    yield
    from sandbox.prune import prune

    prune(docker_engine)
