"""Set the user's uncommitted work aside in a stash and put it back exactly."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from git import Repo

from agent.errors import GitError, UsageError
from agent.git.repo import (
    DEFAULT_KEEP_PATHS,
    _git,
    _identity_env,
    _kept,
    _root,
    _status_entries,
    head_sha,
    is_dirty,
)
from agent.git.runner import NO_EXT, run_git

__all__ = ["Saved", "restore_user_changes", "save_user_changes"]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- saving work

_STASH_NOTE = "greenloop: your uncommitted work"
"""How greenloop's stashes begin (`git stash list` finds a killed run's by it)."""


@dataclass(frozen=True)
class Saved:
    """The user's uncommitted work, set aside by `save_user_changes`."""

    stash_sha: str | None
    """The stash commit holding the work; None when there was nothing to save."""
    head: str
    fingerprint: str
    keep_paths: tuple[str, ...]


def _ignored(repo: Repo, path: str) -> bool:
    return run_git(_root(repo), ["check-ignore", "--quiet", "--", path])[0] == 0


def _pathspec(keep_paths: Sequence[str]) -> list[str]:
    return [".", *(f":(exclude){p.rstrip('/')}" for p in keep_paths)]


def _fingerprint(repo: Repo, keep_paths: Sequence[str]) -> str:
    """A digest of the index, the work tree's changes and untracked files' bytes and modes."""
    digest = hashlib.sha256()
    spec = ["--", *_pathspec(keep_paths)]
    digest.update(_git(repo, "diff", "--binary", *NO_EXT, *spec).encode())
    digest.update(_git(repo, "diff", "--cached", "--binary", *NO_EXT, *spec).encode())
    root = _root(repo)
    for xy, path in sorted(_status_entries(repo)):
        if _kept(path, keep_paths):
            continue
        digest.update(f"{xy} {path}\0".encode())
        full = root / path
        if xy == "??" and full.is_file() and not full.is_symlink():
            digest.update(f"{full.stat().st_mode:o}".encode() + full.read_bytes())
    return digest.hexdigest()


def _refuse_unstashable(repo: Repo) -> None:
    for xy, path in _status_entries(repo):
        if xy == " A":
            raise UsageError(
                f"{path} is marked intent-to-add (git add -N), which git cannot set aside: "
                f"stage it (git add {path}) or unmark it (git reset {path}), then retry"
            )
        if "U" in xy or xy in ("AA", "DD"):
            raise UsageError(f"{path} has an unresolved merge conflict: resolve it first")


def save_user_changes(repo: Repo, keep_paths: Sequence[str] = DEFAULT_KEEP_PATHS) -> Saved:
    """Set the user's uncommitted work aside (for `--allow-dirty`), leaving a clean tree.

    The work goes into a stash named for greenloop, so if greenloop dies before
    restoring it, `git stash list` shows it and `git stash apply --index` brings it back.
    """
    keep = tuple(keep_paths)
    _refuse_unstashable(repo)
    head = head_sha(repo)
    fingerprint = _fingerprint(repo, keep)
    if not [p for p in is_dirty(repo) if not _kept(p, keep)]:
        return Saved(None, head, fingerprint, keep)
    _git(
        repo,
        "stash",
        "push",
        "--quiet",
        "--include-untracked",
        "-m",
        f"{_STASH_NOTE} (git stash apply --index to restore)",
        "--",
        # An ignored path is never stashed, and naming it in a pathspec makes git fail.
        *_pathspec([p for p in keep if not _ignored(repo, p)]),
        env=_identity_env(repo),
    )
    sha = _git(repo, "rev-parse", "--verify", "refs/stash").strip()
    saved = Saved(sha, head, fingerprint, keep)
    leftover = [p for p in is_dirty(repo) if not _kept(p, keep)]
    if leftover:
        restore_user_changes(repo, saved)
        raise GitError(f"could not set aside {', '.join(leftover[:5])}: commit them and retry")
    log.info("saved the uncommitted work of %s in stash %s", _root(repo), sha[:12])
    return saved


def restore_user_changes(repo: Repo, saved: Saved) -> None:
    """Put the saved work back exactly; the stash is dropped only once that is verified."""
    if saved.stash_sha is None:
        return
    hint = f"your work is safe in the stash: run `git stash apply --index {saved.stash_sha}`"
    status, _, err = run_git(_root(repo), ["stash", "apply", "--quiet", "--index", saved.stash_sha])
    if status != 0:
        raise GitError(f"could not restore your uncommitted work ({err.strip()}); {hint}")
    if _fingerprint(repo, saved.keep_paths) != saved.fingerprint:
        raise GitError(f"your restored work differs from what was saved; {hint}")
    shas = _git(repo, "stash", "list", "--format=%H").split()
    if saved.stash_sha in shas:
        _git(repo, "stash", "drop", "--quiet", f"stash@{{{shas.index(saved.stash_sha)}}}")
    log.info("restored the uncommitted work of %s", _root(repo))
