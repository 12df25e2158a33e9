"""agent.git.branches and stash: the user's branch and uncommitted work always come back."""

from __future__ import annotations

from pathlib import Path

import pytest
from git import Repo
from git_plain import git, make_dirty, snapshot

from agent import git as gitops
from agent.errors import GitError, UsageError

# ---------------------------------------------------------------- the user's branch and work


@pytest.mark.parametrize("raised", [None, RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("detached", [False, True])
def test_work_on_branch_always_returns_the_user(
    root: Path, raised: type[BaseException] | None, detached: bool
) -> None:
    if detached:
        git(root, "switch", "-q", "--detach", "HEAD")
    (root / ".greenloop" / "runs").mkdir(parents=True)
    before = snapshot(root)
    repo = Repo(root)
    tip = git(root, "rev-parse", "main").strip()

    def body() -> None:
        with gitops.work_on_branch(repo, "greenloop/run-1") as branch:
            assert branch.name == "greenloop/run-1"
            assert gitops.current_branch(repo) == "greenloop/run-1"
            (root / "pkg" / "mod.py").write_text("X = 42\n")
            gitops.commit_files(repo, ["pkg/mod.py"], "fix", {"Tests": "1 passed"})
            (root / "a.txt").write_text("uncommitted\n")
            git(root, "add", "a.txt")
            (root / "c.txt").write_text("unstaged\n")
            (root / "d.txt").unlink()
            (root / "leftover.py").write_text("x\n")
            (root / "cache").mkdir()
            (root / "cache" / "x.log").write_text("ignored leftover\n")
            (root / ".greenloop" / "runs" / "trajectory.jsonl").write_text("{}\n")
            if raised is not None:
                raise raised("boom")

    if raised is None:
        body()
    else:
        with pytest.raises(raised):
            body()

    after = snapshot(root)
    trajectory = after["files"].pop(".greenloop/runs/trajectory.jsonl")  # type: ignore[attr-defined]
    assert trajectory[1] == b"{}\n", "the run record is kept"
    assert after == before
    assert git(root, "rev-parse", "main").strip() == tip
    assert git(root, "show", "--format=%s", "--name-only", "greenloop/run-1").split() == [
        "fix",
        "pkg/mod.py",
    ]


def test_branch_without_commits_is_deleted(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/empty"):
        (root / "a.txt").write_text("red run, nothing committed\n")
    assert "greenloop/empty" not in [h.name for h in repo.heads]
    assert (root / "a.txt").read_text() == "alpha\nbeta\n"


def test_dirty_tree_is_refused_untouched(root: Path) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    with pytest.raises(UsageError, match="--allow-dirty"), gitops.work_on_branch(repo, "gl/x"):
        pytest.fail("the body must not run on a dirty tree")
    assert snapshot(root) == before
    assert [h.name for h in repo.heads] == ["main"]


def test_existing_branch_is_refused_and_kept(root: Path) -> None:
    git(root, "branch", "greenloop/taken")
    repo = Repo(root)
    with (
        pytest.raises(GitError, match="already exists"),
        gitops.work_on_branch(repo, "greenloop/taken"),
    ):
        pytest.fail("unreachable")
    assert "greenloop/taken" in [h.name for h in repo.heads]
    assert gitops.current_branch(repo) == "main"


def test_save_and_restore_are_exact(root: Path) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    saved = gitops.save_user_changes(repo)
    assert saved.stash_sha is not None
    assert gitops.is_dirty(repo) == []
    assert not (root / "new.txt").exists() and (root / "d.txt").exists()
    gitops.restore_user_changes(repo, saved)
    assert snapshot(root) == before
    assert git(root, "stash", "list") == ""


@pytest.mark.parametrize("raised", [None, RuntimeError])
def test_allow_dirty_run_keeps_the_users_work(root: Path, raised: type[Exception] | None) -> None:
    make_dirty(root)
    before = snapshot(root)
    repo = Repo(root)
    try:
        with gitops.work_on_branch(repo, "greenloop/fix-1", allow_dirty=True):
            assert (root / "a.txt").read_text() == "alpha\nbeta\n", "the run sees HEAD"
            (root / "a.txt").write_text("the fix\n")
            gitops.commit_files(repo, ["a.txt"], "fix", {})
            if raised is not None:
                raise raised("boom")
    except RuntimeError:
        assert raised is RuntimeError
    assert snapshot(root) == before
    assert git(root, "show", "greenloop/fix-1:a.txt") == "the fix\n"
    assert git(root, "stash", "list") == ""


def test_intent_to_add_is_refused_with_the_fix(root: Path) -> None:
    (root / "n.txt").write_text("n\n")
    git(root, "add", "-N", "n.txt")
    with pytest.raises(UsageError, match=r"git reset n\.txt"):
        gitops.save_user_changes(Repo(root))


def test_clean_tree_saves_nothing(root: Path) -> None:
    repo = Repo(root)
    saved = gitops.save_user_changes(repo)
    assert saved.stash_sha is None
    gitops.restore_user_changes(repo, saved)
    assert git(root, "stash", "list") == ""


def test_is_dirty_lists_tracked_and_untracked_not_ignored(root: Path) -> None:
    make_dirty(root)
    assert gitops.is_dirty(Repo(root)) == [
        "a.txt",
        "blob.bin",
        "c.txt",
        "d.txt",
        "new.txt",
        "pkg/deep/new.bin",
        "run.sh",
    ]


def test_a_finished_fix_branch_checked_out_to_review_is_not_a_leftover(root: Path) -> None:
    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/fix-done"):
        (root / "a.txt").write_text("fixed\n")
        gitops.commit_files(repo, ["a.txt"], "fix", {})
    git(root, "switch", "-q", "greenloop/fix-done")
    gitops.refuse_leftovers(repo, "greenloop/fix-")  # no error: the user is reviewing it
    (root / "c.txt").write_text("half-written\n")
    with pytest.raises(UsageError, match="review it before deleting it"):
        gitops.refuse_leftovers(repo, "greenloop/fix-")
