"""A run on its own branch, and the recovery from a run killed on one."""

from __future__ import annotations

import logging
import shlex
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from git import Repo

from agent.errors import GitError, PathRejected, UsageError
from agent.git.repo import (
    DEFAULT_KEEP_PATHS,
    DIRTY_FIX,
    Branch,
    _git,
    _kept,
    _root,
    current_branch,
    ensure_clean,
    head_sha,
    is_dirty,
)
from agent.git.runner import run_git
from agent.git.stash import _STASH_NOTE, Saved, restore_user_changes, save_user_changes
from sandbox.paths import safe_path

__all__ = [
    "leftover_stashes",
    "refuse_leftovers",
    "start_branch",
    "switch_branch",
    "work_on_branch",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- branches


def start_branch(repo: Repo, name: str) -> Branch:
    """Create branch `name` at HEAD without checking it out."""
    if run_git(_root(repo), ["check-ref-format", "--branch", name])[0] != 0:
        raise UsageError(f"{name!r} is not a valid branch name: use letters, digits, '-' and '/'")
    if run_git(_root(repo), ["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"])[0] == 0:
        raise GitError(
            f"branch {name} already exists: delete it (git branch -D {name}) or start a new run"
        )
    _git(repo, "branch", "--no-track", name, head_sha(repo))
    return repo.heads[name]


def switch_branch(repo: Repo, name: str) -> None:
    """Check out an existing branch (the tree must be clean)."""
    _git(repo, "switch", "--quiet", "--no-guess", name)


@dataclass(frozen=True)
class _Origin:
    branch: str | None
    sha: str
    untracked: frozenset[str]


def _untracked(repo: Repo) -> frozenset[str]:
    """Untracked paths, ignored ones included, wholly untracked folders as 'dir/'."""
    out = _git(repo, "ls-files", "-z", "--others", "--directory")
    return frozenset(p for p in out.split("\0") if p)


def _remove_new(repo: Repo, origin: _Origin, keep_paths: Sequence[str]) -> None:
    """Delete what the run left untracked that was not there when it began."""
    root = _root(repo)
    for rel in sorted(_untracked(repo) - origin.untracked):
        if _kept(rel.rstrip("/"), keep_paths):
            continue
        try:
            target = safe_path(root, rel.rstrip("/"))
        except PathRejected:
            continue
        log.info("removing %s, left behind by the run", rel)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def _return_to(repo: Repo, origin: _Origin, work: str | None, keep_paths: Sequence[str]) -> None:
    if current_branch(repo) != origin.branch or head_sha(repo) != origin.sha:
        _git(repo, "reset", "--quiet", "--hard")
        _remove_new(repo, origin, keep_paths)
        if origin.branch is None:
            _git(repo, "switch", "--quiet", "--detach", origin.sha)
        else:
            switch_branch(repo, origin.branch)
    if current_branch(repo) != origin.branch or head_sha(repo) != origin.sha:
        raise GitError(f"could not return to {origin.branch or origin.sha}: check it out by hand")
    if work is None:
        return
    ref = f"refs/heads/{work}"
    status, tip, _ = run_git(_root(repo), ["rev-parse", "--verify", "--quiet", ref])
    if status == 0 and tip.strip() == origin.sha:
        _git(repo, "branch", "--quiet", "-D", work)  # nothing was committed on it
        log.info("deleted branch %s: the run committed nothing", work)


@contextmanager
def _deferred_sigint() -> Iterator[None]:
    """Hold back Ctrl-C while the user's tree is being put back; deliver it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextmanager
def work_on_branch(
    repo: Repo,
    name: str,
    *,
    allow_dirty: bool = False,
    keep_paths: Sequence[str] = DEFAULT_KEEP_PATHS,
    stay: bool = False,
    dirty_fix: str = DIRTY_FIX,
) -> Iterator[Branch]:
    """Work on a new branch `name` from HEAD; always come back to the user's branch.

    A dirty tree is refused (with `dirty_fix` as the advice) unless `allow_dirty`,
    which saves the work first and restores it at the end. On exit, whatever
    happened in the body (exception, KeyboardInterrupt), uncommitted changes on
    the work branch are discarded, files the run left untracked are removed, the
    user's branch (or detached HEAD) is checked out again and their work
    restored. A branch with no new commit is deleted. Paths under `keep_paths`
    (the run record) are left alone.
    With `stay` (never with `allow_dirty`), a body that ends normally leaves the
    new branch checked out: only a failure brings the user back.
    """
    if stay and allow_dirty:
        raise UsageError("staying on the work branch would leave the saved work in the stash")
    keep = tuple(keep_paths)
    saved: Saved | None = None
    origin: _Origin | None = None
    created: str | None = None
    try:
        with _deferred_sigint():  # a Ctrl-C here lands inside the try, so cleanup runs
            if allow_dirty:
                saved = save_user_changes(repo, keep)
            else:
                ensure_clean(repo, keep, fix=dirty_fix)
            origin = _Origin(current_branch(repo), head_sha(repo), _untracked(repo))
            branch = start_branch(repo, name)
            created = name
            switch_branch(repo, name)
        yield branch
        if stay:
            origin = None
    finally:
        with _deferred_sigint():
            try:
                if origin is not None:
                    _return_to(repo, origin, created, keep)
            finally:
                if saved is not None:
                    restore_user_changes(repo, saved)


# ---------------------------------------------------------------- after a kill


def _origin_of(repo: Repo, branch: str) -> str | None:
    """The branch HEAD left to check out `branch`, from the reflog (None when unknown)."""
    status, out, _ = run_git(_root(repo), ["log", "-g", "-n", "50", "--format=%gs", "HEAD", "--"])
    prefix, suffix = "checkout: moving from ", f" to {branch}"
    for line in out.splitlines() if status == 0 else []:
        if line.startswith(prefix) and line.endswith(suffix):
            return line[len(prefix) : -len(suffix)]
    return None


def leftover_stashes(repo: Repo) -> list[tuple[str, str, str]]:
    """(stash@{n}, sha, the branch it was made on) for each stash a greenloop run left."""
    status, out, _ = run_git(_root(repo), ["stash", "list", "--format=%gd%x00%H%x00%gs"])
    found = []
    for line in out.splitlines() if status == 0 else []:
        ref, sha, subject = [*line.split("\0"), "", ""][:3]
        on, _, note = subject.partition(": ")
        if note.startswith(_STASH_NOTE):
            found.append((ref, sha, on.removeprefix("WIP ").removeprefix("On ")))
    return found


def refuse_leftovers(repo: Repo, prefix: str = "greenloop/") -> None:
    """Raise UsageError, with the exact recovery, when a killed run left its branch checked out.

    A run branch checked out with uncommitted changes, with a greenloop stash, or
    with no commit of its own is a killed run's; a clean one with its commit is a
    finished run's that the user checked out to review, and is left alone.
    """
    branch = current_branch(repo)
    if branch is None or not branch.startswith(prefix):
        return
    origin = _origin_of(repo, branch)
    stashes = [s for s in leftover_stashes(repo) if origin is None or s[2] == origin]
    into = ["merge-base", "--is-ancestor", head_sha(repo), f"refs/heads/{origin}"]
    empty = origin is not None and run_git(_root(repo), into)[0] == 0
    if not (stashes or empty or is_dirty(repo)):
        return
    steps = ["git reset --hard"]
    junk = sorted(p for p in _untracked(repo) if not _kept(p.rstrip("/"), DEFAULT_KEEP_PATHS))
    if junk:
        steps.append(shlex.join(["rm", "-r", "--", *junk]))
    steps.append(f"git switch {origin or '<your branch>'}")
    if stashes:
        ref, sha, _ = stashes[0]
        steps.append(f"git stash apply --index {sha} && git stash drop {ref}")
    after = "" if empty else f" ({branch} has a commit of its own: review it before deleting it)"
    if empty:
        steps.append(f"git branch -D {branch}")
    saved = " (your uncommitted work is in that stash)" if stashes else ""
    raise UsageError(
        f"{_root(repo)} is on {branch}, which a killed greenloop run left checked out{saved}; "
        "to recover, run: " + "; ".join(steps) + after
    )
