"""agent.git.repo: opening, identities, branches, review, the index lock."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from git import Repo
from git_plain import git, snapshot

from agent import git as gitops
from agent.errors import GitError, UsageError
from agent.git.branches import _deferred_sigint

# ---------------------------------------------------------------- opening, branches, review


def test_open_or_init_uses_a_fallback_identity_without_writing_config(
    tmp_path: Path, isolated_git: Path
) -> None:
    isolated_git.write_text("")
    out = tmp_path / "out"
    repo = gitops.open_or_init(out)
    assert git(out, "log", "--format=%an <%ae>|%s").strip() == (
        "greenloop <greenloop@localhost>|greenloop: initial empty commit"
    )
    assert isolated_git.read_text() == ""
    assert git(out, "config", "--local", "--get-regexp", "^user\\.", check=False) == ""
    gitops.start_branch(repo, "greenloop/first")
    assert gitops.open_or_init(out).head.commit.hexsha == gitops.head_sha(repo)


def test_open_or_init_keeps_the_users_identity(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gitops.open_or_init(out)
    assert git(out, "log", "--format=%an <%ae>").strip() == "Test User <test@example.com>"


def test_open_repo_outside_a_repository_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="git init"):
        gitops.open_repo(tmp_path / "plain")


@pytest.mark.parametrize(("name", "error"), [("bad name", UsageError), ("-x", UsageError)])
def test_bad_branch_names(root: Path, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        gitops.start_branch(Repo(root), name)


def test_start_branch_leaves_the_checkout_alone(root: Path) -> None:
    before = snapshot(root)
    repo = Repo(root)
    branch = gitops.start_branch(repo, "greenloop/a")
    assert branch.commit.hexsha == gitops.head_sha(repo)
    assert snapshot(root) == before


def test_diff_stat_and_changed_files(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/d"):
        (root / "pkg" / "mod.py").write_text("X = 5\n")
        (root / "pkg" / "new.py").write_text("Y = 1\n")
        gitops.commit_files(repo, ["pkg/mod.py", "pkg/new.py"], "change", {})
    assert gitops.changed_files(repo, "main", "greenloop/d") == ["pkg/mod.py", "pkg/new.py"]
    assert "2 files changed" in gitops.diff_stat(repo, "main", "greenloop/d")
    assert gitops.current_branch(repo) == "main"


def test_a_briefly_held_index_lock_is_waited_out(root: Path) -> None:
    lock = root / ".git" / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.3, lock.unlink)
    timer.start()
    (root / "a.txt").write_text("after the lock\n")
    repo = Repo(root)
    try:
        sha = gitops.commit_files(repo, ["a.txt"], "wait for the lock", {})
    finally:
        timer.join()
    assert git(root, "show", f"{sha}:a.txt") == "after the lock\n"


def test_a_held_index_lock_fails_with_git_words(root: Path) -> None:
    (root / ".git" / "index.lock").write_text("")
    (root / "a.txt").write_text("x\n")
    with pytest.raises(GitError, match=r"index\.lock"):
        gitops.commit_files(Repo(root), ["a.txt"], "locked", {})


def test_ctrl_c_while_putting_things_back_is_delivered_afterwards() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), _deferred_sigint():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("cleanup ran to the end")
    assert finished == ["cleanup ran to the end"]


def test_allow_dirty_with_the_run_records_folder_ignored(tmp_path: Path) -> None:
    """`.greenloop/` excluded through .git/info/exclude must not break saving the user's work."""
    repo_dir = tmp_path / "r"
    repo = Repo.init(repo_dir)
    (repo_dir / "a.txt").write_text("one\n")
    repo.index.add(["a.txt"])
    repo.index.commit("first")
    (repo_dir / ".git" / "info" / "exclude").write_text(".greenloop/\n")
    (repo_dir / ".greenloop").mkdir()
    (repo_dir / ".greenloop" / "run.json").write_text("{}")
    (repo_dir / "a.txt").write_text("one, edited\n")
    (repo_dir / "new.txt").write_text("untracked\n")
    saved = gitops.save_user_changes(gitops.open_repo(repo_dir))
    assert (repo_dir / "a.txt").read_text() == "one\n"
    gitops.restore_user_changes(gitops.open_repo(repo_dir), saved)
    assert (repo_dir / "a.txt").read_text() == "one, edited\n"
    assert (repo_dir / "new.txt").read_text() == "untracked\n"
    assert (repo_dir / ".greenloop" / "run.json").read_text() == "{}"


def test_open_or_init_takes_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = gitops.open_or_init(Path("rel") / "new-project")
    assert Path(repo.working_tree_dir or "") == tmp_path / "rel" / "new-project"
    assert not (tmp_path / "rel" / "new-project" / "rel").exists()
    assert gitops.head_sha(repo)
