"""`greenloop new` leaves the user's folder as it found it when the commit cannot be made
(issue 14): the real openai client against a fake server, the real Docker sandbox, real git.

Each failure is a green run whose files cannot be committed: one written through a
symbolic link, one named like a folder the repository has, one holding a live key.
Afterwards the folder is byte for byte what it was (every file, link and mode, HEAD,
the refs and the index), result.json says why nothing was committed, and the next
`new` in the same folder runs and commits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from fizzbuzz_case import GOOD
from scripted_agent import Script, fenced

from agent.model import ModelConfig, OpenAIChat
from agent.new.scaffold import prepare_new, run_new
from agent.run.record import RunResult, read_result
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
LIVE_KEY = 'STRIPE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n'


def _plan(*paths: str) -> str:
    files = [{"path": p, "purpose": p, "interface": []} for p in ("fizzbuzz.py", *paths)]
    return json.dumps({"files": files, "test_command": "python -m pytest -q"})


CASES: dict[str, tuple[str, dict[str, list[str]], str]] = {
    "through-a-link-outside": (
        _plan("linked_out/helper.py"),
        {"linked_out/helper.py": [fenced("linked_out/helper.py", "X = 1\n")]},
        "linked_out",
    ),
    "through-a-link-inside": (
        _plan("linked_in/helper.py"),
        {"linked_in/helper.py": [fenced("linked_in/helper.py", "X = 1\n")]},
        "linked_in is a symbolic link",
    ),
    "named-like-a-folder": (_plan("docs"), {"docs": ["```\nnotes\n```"]}, "docs: it is a folder"),
    "holding-a-live-key": (_plan(), {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD + LIVE_KEY)]},
                           "fizzbuzz.py:9 looks like a secret (Stripe"),
}  # fmt: skip


@pytest.fixture()
def task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    shutil.copytree(ROOT / "tasks" / "01-fizzbuzz", folder)
    (folder / "task.toml").write_text(
        'test_command = "python -m pytest -q"\nmax_iterations = 2\nmax_tokens = 100000\n'
        "wall_seconds = 120\ntimeout = 30\n"
    )
    return folder


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    """The user's project: a file, a folder, links inside and outside, all committed."""
    folder = tmp_path / "out"
    repo = git.Repo.init(folder, initial_branch="main")
    (folder / "README.md").write_text("user's project\n")
    (folder / "docs").mkdir()
    (folder / "docs" / "guide.md").write_text("guide\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the project's\n")
    (folder / "linked_out").symlink_to(outside)
    (folder / "linked_in").symlink_to("docs")
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "user's first commit")
    return folder


def folder_state(path: Path) -> dict[str, Any]:
    """Everything of the folder a user could tell apart, the index read before any git runs."""
    git_dir = path / ".git"
    state: dict[str, Any] = {"index": (git_dir / "index").read_bytes()}
    state["HEAD"] = (git_dir / "HEAD").read_bytes()
    packed = git_dir / "packed-refs"
    state["packed-refs"] = packed.read_bytes() if packed.exists() else b""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    state["refs"] = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tree = {}
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path)
        if rel.parts[0] in (".git", ".greenloop"):
            continue
        info = item.lstat()
        if item.is_symlink():
            tree[rel.as_posix()] = ("link", os.readlink(item))
        elif item.is_dir():
            tree[rel.as_posix()] = ("dir", info.st_mode)
        else:
            tree[rel.as_posix()] = ("file", info.st_mode, item.read_bytes())
    state["tree"] = tree
    return state


def _run(task_dir: Path, out: Path, script: Script, image: str) -> RunResult:
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(
            out=out,
            run_id=f"t{time.monotonic_ns()}",
            model_name="fake",
            sandbox=SandboxConfig(image=image),
        )
        return run_new(prepare_new(load_task(task_dir), options), model)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_commit_that_cannot_be_made_leaves_the_folder_as_it_was(
    task_dir: Path, out: Path, tmp_path: Path, sandbox_image: str, case: str
) -> None:
    plan, files, words = CASES[case]
    spec = task_dir / "spec.md"  # name the extra files, so the model's plan is asked for
    extra = [f["path"] for f in json.loads(plan)["files"] if f["path"] != "fizzbuzz.py"]
    extra.append("NOTES.md")  # a file name for sure: `docs` alone does not read as one
    spec.write_text(spec.read_text() + "".join(f"\nAlso write `{p}`.\n" for p in extra))
    before, outside = folder_state(out), sorted((tmp_path / "outside").rglob("*"))
    files = {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)], **files}
    result = _run(task_dir, out, Script(plan, files), sandbox_image)

    assert (result.status, result.exit_reason) == ("error", "not-committed"), result.error
    assert words in result.error and result.commit is None and result.branch is None
    saved = read_result(Path(result.run_dir))
    assert saved is not None and (saved["status"], saved["error"]) == ("error", result.error)
    assert saved["tests"]["passed"] == 4  # the tests were green; only the commit was refused
    assert folder_state(out) == before
    assert sorted((tmp_path / "outside").rglob("*")) == outside
    assert (tmp_path / "outside" / "keep.txt").read_text() == "not the project's\n"

    again = _run(task_dir, out, Script(_plan(), {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)]}),
                 sandbox_image)  # fmt: skip
    assert (again.status, again.exit_reason) == ("green", "green"), again.error
    assert again.commit and git.Repo(out).head.commit.hexsha == again.commit
