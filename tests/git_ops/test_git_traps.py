"""agent.git against real repositories in tmp dirs: real attacks, real checks, no mocks.

Each attack first proves itself with a plain `git` call (the hook or fsmonitor
does run), so a test cannot pass merely because the trap was never armed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from git import Repo
from git_plain import HOOKS, git, write_hook

from agent import git as gitops
from agent.errors import GitError, UsageError

# ---------------------------------------------------------------- hooks and fsmonitor


@pytest.mark.parametrize("location", ["git-dir", "configured-hooksPath"])
def test_repo_hooks_are_not_run(root: Path, tmp_path: Path, location: str) -> None:
    marker = tmp_path / "hooks-ran"
    hook_dir = root / ".git" / "hooks"
    if location == "configured-hooksPath":
        hook_dir = tmp_path / "evil-hooks"
        git(root, "config", "core.hooksPath", str(hook_dir))
    for name in HOOKS:
        write_hook(hook_dir / name, marker)
    git(root, "commit", "-q", "--allow-empty", "-m", "armed", safe=False)
    assert "pre-commit" in marker.read_text() and "post-commit" in marker.read_text()
    marker.unlink()

    repo = Repo(root)
    with gitops.work_on_branch(repo, "greenloop/hooks"):
        (root / "pkg" / "mod.py").write_text("X = 2\n")
        sha = gitops.commit_files(repo, ["pkg/mod.py"], "fix X", {"Model": "m"})
    assert not marker.exists()
    assert git(root, "rev-parse", "greenloop/hooks").strip() == sha


def _op_status(repo: Repo, root: Path) -> None:
    gitops.is_dirty(repo)
    gitops.ensure_clean(repo)


def _op_commit(repo: Repo, root: Path) -> None:
    (root / "a.txt").write_text("changed\n")
    gitops.commit_files(repo, ["a.txt"], "change a", {})


def _op_save_restore(repo: Repo, root: Path) -> None:
    (root / "a.txt").write_text("changed\n")
    (root / "u.txt").write_text("u\n")
    gitops.restore_user_changes(repo, gitops.save_user_changes(repo))


def _op_branch(repo: Repo, root: Path) -> None:
    with gitops.work_on_branch(repo, "greenloop/fsm"):
        (root / "a.txt").write_text("on branch\n")
        gitops.commit_files(repo, ["a.txt"], "on branch", {})
    gitops.diff_stat(repo, "main", "greenloop/fsm")
    gitops.changed_files(repo, "main", "greenloop/fsm")


@pytest.mark.parametrize("operation", [_op_status, _op_commit, _op_save_restore, _op_branch])
def test_fsmonitor_is_not_run(
    root: Path, tmp_path: Path, operation: Callable[[Repo, Path], None]
) -> None:
    marker = tmp_path / "fsmonitor-ran"
    script = tmp_path / "fsmonitor.sh"
    write_hook(script, marker)
    git(root, "config", "core.fsmonitor", str(script))
    git(root, "status", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or this test proves nothing"
    marker.unlink()

    operation(Repo(root), root)
    assert not marker.exists()


# ---------------------------------------------------------------- drivers from the repo's config


def arm_drivers(root: Path, marker: Path) -> None:
    """A .gitattributes naming filter, merge and diff drivers, and a .git/config that
    defines them (and other command-running settings) to write `marker`."""
    trap = f"echo ran >> {marker}"
    (root / ".gitattributes").write_text("* filter=evil merge=evil diff=evil\n")
    git(root, "add", ".gitattributes")
    git(root, "commit", "-q", "-m", "attributes")
    for key, value in [
        ("filter.evil.clean", f"{trap}; cat"),
        ("filter.evil.smudge", f"{trap}; cat"),
        ("filter.evil.required", "true"),
        ("merge.evil.driver", f"{trap}; exit 0"),
        ("diff.evil.textconv", f"{trap}; cat"),
        ("diff.external", f"{trap}"),
        ("core.pager", f"{trap}; cat"),
        ("core.editor", trap),
        ("core.sshCommand", trap),
        ("credential.helper", f"!{trap}"),
        ("gpg.program", trap),
        ("log.showSignature", "true"),
    ]:
        git(root, "config", key, value)


def test_filter_trap_fires_for_plain_git(root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    (root / "a.txt").write_text("changed\n")
    git(root, "add", "a.txt", safe=False)
    git(root, "checkout", "-q", "--", ".", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or the tests below prove nothing"


@pytest.mark.parametrize("operation", [_op_status, _op_commit, _op_save_restore, _op_branch])
def test_repo_defined_drivers_never_run(
    root: Path, tmp_path: Path, operation: Callable[[Repo, Path], None]
) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    operation(Repo(root), root)
    assert not marker.exists(), marker.read_text()


def test_the_users_own_filter_still_runs(root: Path, tmp_path: Path, isolated_git: Path) -> None:
    """A filter from the user's global config (git-lfs-like) keeps working, even when
    the repository's config tries to redefine it."""
    mine, theirs = tmp_path / "mine-ran", tmp_path / "theirs-ran"
    with isolated_git.open("a") as config:
        config.write(f'[filter "lfsish"]\n\tclean = "echo x >> {mine}; cat"\n')
    (root / ".gitattributes").write_text("*.txt filter=lfsish\n")
    git(root, "config", "filter.lfsish.clean", f"echo x >> {theirs}; cat")
    (root / "a.txt").write_text("changed\n")
    gitops.commit_files(Repo(root), [".gitattributes", "a.txt"], "mine", {})
    assert mine.exists() and not theirs.exists()


def test_a_repo_defined_merge_driver_fails_closed(root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "driver-ran"
    arm_drivers(root, marker)
    repo = Repo(root)
    (root / "a.txt").write_text("mine\n")
    saved = gitops.save_user_changes(repo)
    (root / "a.txt").write_text("conflicting\n")
    git(root, "commit", "-q", "-am", "moved on")  # plain git: the filter runs here
    marker.unlink()
    with pytest.raises(GitError, match="git stash apply --index"):
        gitops.restore_user_changes(repo, saved)
    assert not marker.exists()


def test_a_work_tree_moved_elsewhere_by_the_repos_config_is_refused(
    root: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(root, "config", "core.worktree", str(elsewhere))
    git(root, "reset", "-q", "--hard", safe=False)
    assert (elsewhere / "a.txt").exists(), "plain git must check out there, or this proves nothing"
    (elsewhere / "a.txt").unlink()
    with pytest.raises(UsageError, match=r"core\.worktree"):
        gitops.open_repo(root)
    with pytest.raises(UsageError, match=r"core\.worktree"):
        gitops.open_or_init(root)
    # A Repo opened some other way: git still works on `root`, where a.txt is, not elsewhere.
    assert gitops.is_dirty(Repo(root)) == []


def test_a_submodules_own_filter_never_runs(root: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / ".gitattributes").write_text("* filter=evil\n")
    (sub / "f.txt").write_text("a\n")
    git(sub, "add", ".")
    git(sub, "commit", "-q", "-m", "sub")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(root, "commit", "-q", "-m", "add the submodule")
    marker = tmp_path / "sub-filter-ran"
    git(root / "sub", "config", "filter.evil.clean", f"echo ran >> {marker}; cat")
    (root / "sub" / "f.txt").write_text("changed\n")
    git(root, "status", safe=False)
    assert marker.exists(), "the trap must fire for plain git, or this test proves nothing"
    marker.unlink()

    repo = Repo(root)
    gitops.ensure_clean(repo)
    with gitops.work_on_branch(repo, "greenloop/sub"):
        (root / "a.txt").write_text("on branch\n")
        gitops.commit_files(repo, ["a.txt"], "on branch", {})
    assert not marker.exists()
    assert (root / "sub" / "f.txt").read_text() == "changed\n"
