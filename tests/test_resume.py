"""`greenloop new|fix --resume`: a run killed with SIGKILL (during a model call, during a
test run, after a green before the commit) continues to the result an uninterrupted
run reaches, and no answered model call is asked of the model again.

The real CLI in a subprocess, the real openai client against the scripted server
(which counts what it is asked), the real Docker sandbox, real git. The acceptance
tests hold a test that sleeps, so that each test run lasts long enough to be killed
in; a model call is killed while the scripted server holds its answer back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI, Reply, Request
from fixture_repos import fix_reply, make_repo, shop_files
from fizzbuzz_case import BUGGY, FIX, fizzbuzz_task
from scripted_agent import Script, fenced

from agent.run.record import read_trajectory

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLOW_TEST = "import time\n\n\ndef test_takes_its_time():\n    time.sleep(2)\n"
POINTS = ["model-call", "test-run", "green-before-commit"]


class Held:
    """The script's answers; the first feedback answer held back `hold` seconds (the
    run is killed meanwhile). Counts every request it is sent."""

    def __init__(self, script: Script, hold: float) -> None:
        self.script, self.hold = script, hold
        self.sent = 0

    def __call__(self, request: Request) -> Reply:
        reply = self.script(request)
        self.sent += 1
        if self.hold and self.script.asked[-1] == "feedback":
            reply, self.hold = dataclasses.replace(reply, latency=self.hold), 0.0
        return reply


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    return {**env, "OPENAI_API_KEY": "k"}


def _greenloop(*args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "greenloop"
    return subprocess.Popen([str(exe), *args], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), err
    result: dict[str, Any] = json.loads(out)
    return {**result, "stderr": err}


def _events(runs: Path) -> list[dict[str, Any]]:
    found = sorted(runs.glob("*/trajectory.jsonl"))
    return list(read_trajectory(found[0])) if found else []


def _wait_for(check: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "timed out waiting for the kill point"
        time.sleep(0.02)


def _at(point: str, runs: Path, served: Held, candidates: int) -> Callable[[], bool]:
    """When the run has reached the kill point (`candidates`: the one feedback made is
    the run's n-th)."""

    def reached() -> bool:
        events = [e["event"] for e in _events(runs)]
        if point == "model-call":
            return served.script.asked[-1:] == ["feedback"]
        if point == "test-run":  # the candidate the feedback made is being tested
            return events.count("candidate") == candidates and events[-1] == "candidate"
        greens = [e for e in _events(runs) if e["event"] == "test" and e.get("green")]
        return bool(greens)  # green; the fresh confirming run, then the commit, follow

    return reached


def _killed(args: list[str], runs: Path, point: str, served: Held, candidates: int) -> Path:
    """Run, SIGKILL at `point`; the killed run's folder (it has not committed)."""
    proc = _greenloop(*args)
    _wait_for(_at(point, runs, served, candidates), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (folder,) = [f for f in runs.iterdir() if f.is_dir()]
    assert not any(e["event"] == "commit" for e in _events(runs))
    return folder


@pytest.fixture(autouse=True)
def _no_leftover_containers(docker_engine: Any) -> Iterator[None]:
    yield
    from sandbox.prune import prune

    prune(docker_engine)


def _tree(root: Path, ref: str) -> str:
    return git.Repo(root).commit(ref).tree.hexsha


def _same(resumed: dict[str, Any], whole: dict[str, Any]) -> None:
    for key in ("status", "exit_reason", "iterations", "tests", "history"):
        assert resumed[key] == whole[key], key


# ---------------------------------------------------------------- new


def _new_task(tmp_path: Path) -> Path:
    task = fizzbuzz_task(tmp_path / "task")
    (task / "tests" / "test_slow.py").write_text(SLOW_TEST)
    return task


def _new_script(hold: float = 0.0) -> Held:
    return Held(Script("{}", {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [FIX]), hold)


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_new_resumes_to_the_same_result(
    tmp_path: Path, sandbox_image: str, point: str
) -> None:
    task = _new_task(tmp_path)
    whole_script = _new_script()
    with FakeOpenAI(whole_script) as srv:
        args = ["new", str(task), "--model", "fake", "--base-url", srv.base_url, "--json"]
        whole = _finish(_greenloop(*args, "--out", str(tmp_path / "whole")))
    assert whole["status"] == "green"

    out = tmp_path / "out"
    served = _new_script(hold=30 if point == "model-call" else 0)
    with FakeOpenAI(served) as srv:
        args = ["new", str(task), "--model", "fake", "--base-url", srv.base_url, "--json"]
        runs = out / ".greenloop" / "runs"
        folder = _killed([*args, "--out", str(out)], runs, point, served, candidates=2)
        # the next run in the same place names the killed one and how to resume it (this
        # one replays an empty cassette: it asks the model nothing and ends in an error)
        (tmp_path / "empty.jsonl").write_text("")
        hint = _greenloop(
            "new", str(task), "--out", str(out), "--replay", str(tmp_path / "empty.jsonl")
        )
        assert f"greenloop new --resume {folder}" in hint.communicate(timeout=300)[1]
        resumed = _finish(_greenloop("new", "--resume", str(folder), "--json"))
    _same(resumed, whole)
    assert resumed["run_dir"] == str(folder)
    assert _tree(out, resumed["commit"]) == _tree(tmp_path / "whole", whole["commit"])
    # what the killed run was answered is replayed; only the call in flight is asked again
    in_flight = 1 if point == "model-call" else 0
    assert served.sent == whole_script.sent + in_flight
    assert "replayed" in resumed["stderr"]
    events = [e["event"] for e in read_trajectory(folder / "trajectory.jsonl")]
    assert events[0] == "resumed" and (folder / "trajectory.killed-1.jsonl").is_file()
    again = _greenloop("new", "--resume", str(folder))
    assert again.wait(timeout=60) == 2 and "is finished: green" in again.communicate()[1]


# ---------------------------------------------------------------- fix


def _shop(root: Path) -> Path:
    return make_repo(root, {**shop_files(bugs={"discount"}), "tests/test_slow.py": SLOW_TEST})


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_fix_resumes_to_the_same_result(
    tmp_path: Path, sandbox_image: str, point: str
) -> None:
    whole_script = Held(Script("{}", {}, [fix_reply("discount")]), 0.0)
    reference = _shop(tmp_path / "reference")
    with FakeOpenAI(whole_script) as srv:
        args = ["--model", "fake", "--base-url", srv.base_url, "--json"]
        whole = _finish(_greenloop("fix", str(reference), *args))
    assert whole["status"] == "green"

    shop = _shop(tmp_path / "shop")
    user = git.Repo(shop)
    before = (user.active_branch.name, user.head.commit.hexsha)
    served = Held(Script("{}", {}, [fix_reply("discount")]), 30 if point == "model-call" else 0)
    with FakeOpenAI(served) as srv:
        args = ["--model", "fake", "--base-url", srv.base_url, "--json"]
        runs = shop / ".greenloop" / "runs"
        folder = _killed(["fix", str(shop), *args], runs, point, served, candidates=1)
        assert (user.active_branch.name, user.head.commit.hexsha) == before
        assert [h.name for h in user.heads] == ["main"]
        resumed = _finish(_greenloop("fix", "--resume", str(folder), "--json"))
    _same(resumed, whole)
    assert resumed["run_dir"] == str(folder) and resumed["fixed"] == whole["fixed"]
    assert _tree(shop, resumed["commit"]) == _tree(reference, whole["commit"])
    assert (user.active_branch.name, user.head.commit.hexsha) == before
    in_flight = 1 if point == "model-call" else 0
    assert served.sent == whole_script.sent + in_flight


def test_a_resume_is_refused_when_head_moved_and_the_run_is_kept(
    tmp_path: Path, sandbox_image: str
) -> None:
    shop = _shop(tmp_path / "shop")
    served = Held(Script("{}", {}, [fix_reply("discount")]), 30)
    with FakeOpenAI(served) as srv:
        args = ["--model", "fake", "--base-url", srv.base_url, "--json"]
        runs = shop / ".greenloop" / "runs"
        folder = _killed(["fix", str(shop), *args], runs, "model-call", served, candidates=1)
        (shop / "NOTES.md").write_text("a commit made after the kill\n")
        git.Repo(shop).git.add("NOTES.md")
        git.Repo(shop).git.commit("-q", "-m", "notes")
        refused = _greenloop("fix", "--resume", str(folder))
        err = refused.communicate(timeout=120)[1]
    assert refused.returncode == 2
    assert "cannot resume: HEAD changed since it started" in err
    # refused before anything moved: the killed run's record is where it was
    assert (folder / "trajectory.jsonl").is_file() and not list(folder.glob("*.killed-*"))
