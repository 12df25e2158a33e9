"""Open the user's repository and read its state; every git command goes through `_git`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from git import Head, Repo
from git.exc import InvalidGitRepositoryError, NoSuchPathError

from agent.errors import GitError, UsageError
from agent.git.runner import run_git

__all__ = [
    "DEFAULT_KEEP_PATHS",
    "DIRTY_FIX",
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "Branch",
    "current_branch",
    "ensure_clean",
    "head_sha",
    "is_dirty",
    "open_or_init",
    "open_repo",
]


log = logging.getLogger(__name__)

Branch = Head
"""A local branch (GitPython's `Head`)."""

FALLBACK_NAME = "greenloop"
FALLBACK_EMAIL = "greenloop@localhost"
DEFAULT_KEEP_PATHS: tuple[str, ...] = (".greenloop",)
"""Paths that never count as the user's work: the run record lives there."""
_LOCK_RETRIES = (0.1, 0.3, 1.0, 2.0, 0.0)


# ---------------------------------------------------------------- running git


def _git(repo: Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git in the repository's work tree; a failure raises GitError with git's words.

    A command refused because another git process holds `index.lock` changed
    nothing, so it is retried a few times before giving up.
    """
    for delay in _LOCK_RETRIES:
        status, out, err = run_git(_root(repo), args, env)
        if status == 0 or "index.lock" not in err:
            break
        log.info("git index is locked by another process; retrying in %.1fs", delay)
        time.sleep(delay)
    if status != 0:
        raise GitError(
            f"`git {' '.join(args[:3])}` failed in {_root(repo)}: {err.strip() or out.strip()}"
        )
    return out


def _root(repo: Repo) -> Path:
    if repo.working_tree_dir is None:
        raise UsageError(f"{repo.git_dir} is a bare repository: point greenloop at a checkout")
    return Path(repo.working_tree_dir)


def _identity_env(repo: Repo) -> dict[str, str]:
    """Author/committer variables, only for what the user's config does not already set."""
    env: dict[str, str] = {}
    for key, fallback, names in (
        ("user.name", FALLBACK_NAME, ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
        ("user.email", FALLBACK_EMAIL, ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
    ):
        status, out, _ = run_git(_root(repo), ["config", "--get", key])
        if status != 0 or not out.strip():
            env.update({name: os.environ.get(name, fallback) for name in names})
    return env


# ---------------------------------------------------------------- opening


def open_repo(path: Path) -> Repo:
    """The repository that contains `path` (for `greenloop fix`)."""
    try:
        repo = Repo(path, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise UsageError(
            f"{path} is not inside a git repository: run `git init` there, or point "
            "greenloop at a repository"
        ) from exc
    _refuse_elsewhere(repo)
    return repo


def _refuse_elsewhere(repo: Repo) -> None:
    """Refuse a repository whose config moves its work tree (`core.worktree`) elsewhere:
    git would check files out there while greenloop reads and writes this folder."""
    root = _root(repo)
    status, out, _ = run_git(root, ["config", "--get", "core.worktree"])
    if status == 0 and (Path(repo.git_dir) / out.strip()).resolve() != root.resolve():
        raise UsageError(
            f"{root}/.git's config sets core.worktree to {out.strip()}: greenloop works only "
            f"in the folder holding .git; unset it (git -C {root} config --unset core.worktree)"
        )


def open_or_init(path: Path) -> Repo:
    """Open the repository rooted at `path`, or create it with an initial empty commit.

    A repository with no commit yet gets the empty commit too, so that a run
    branch can start from it. The identity is passed per command when none is
    configured; nothing is written to any git config.
    """
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        status, _, err = run_git(path, ["init", "--quiet", "."])
        if status != 0:
            raise GitError(f"could not create a git repository in {path}: {err.strip()}")
        log.info("initialised a git repository in %s", path)
    try:
        repo = Repo(path)
    except InvalidGitRepositoryError as exc:
        raise GitError(f"{path}/.git is not a usable repository: repair or remove it") from exc
    _refuse_elsewhere(repo)
    if run_git(path, ["rev-parse", "--verify", "--quiet", "HEAD"])[0] != 0:
        _git(
            repo,
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "-m",
            "greenloop: initial empty commit",
            env=_identity_env(repo),
        )
    return repo


# ---------------------------------------------------------------- state


def current_branch(repo: Repo) -> str | None:
    """The checked-out branch's short name, or None on a detached HEAD."""
    status, out, _ = run_git(_root(repo), ["symbolic-ref", "--quiet", "--short", "HEAD"])
    return out.strip() if status == 0 else None


def head_sha(repo: Repo) -> str:
    """The commit HEAD points at."""
    status, out, _ = run_git(_root(repo), ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if status != 0:
        raise UsageError(
            f"{_root(repo)} has no commit yet: make a first commit (git commit), then retry"
        )
    return out.strip()


def _status_entries(repo: Repo) -> list[tuple[str, str]]:
    """(XY, path) for every change git status reports, untracked files listed one by one."""
    out = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    fields = out.split("\0")
    entries: list[tuple[str, str]] = []
    i = 0
    while i < len(fields):
        item = fields[i]
        i += 1
        if len(item) < 4:
            continue
        xy, path = item[:2], item[3:]
        entries.append((xy, path))
        if "R" in xy or "C" in xy:  # the next field is the rename's source
            entries.append((xy, fields[i]))
            i += 1
    return entries


def _kept(path: str, keep_paths: Sequence[str]) -> bool:
    return any(path == k.rstrip("/") or path.startswith(k.rstrip("/") + "/") for k in keep_paths)


def is_dirty(repo: Repo) -> list[str]:
    """Paths with tracked changes (staged or not) and untracked, not ignored, files."""
    return sorted({path for _, path in _status_entries(repo)})


DIRTY_FIX = (
    "commit or stash them, or pass --allow-dirty to have greenloop set them aside and "
    "restore them afterwards"
)
"""What `greenloop fix` offers for a dirty tree; a command without --allow-dirty passes its own."""


def ensure_clean(
    repo: Repo, allow_paths: Sequence[str] = DEFAULT_KEEP_PATHS, *, fix: str = DIRTY_FIX
) -> None:
    """Raise UsageError (with `fix` as its advice) when the tree has uncommitted work
    outside `allow_paths`."""
    dirty = [p for p in is_dirty(repo) if not _kept(p, allow_paths)]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UsageError(f"{_root(repo)} has uncommitted changes ({shown})", fix=fix)
