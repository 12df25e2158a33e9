"""Everything greenloop does with git, through GitPython, on the user's behalf.

Every git command goes through `_git`, on `agent.gitrun.run_git`, which never
lets the repository run a program on the host (hooks, fsmonitor, filter and
merge drivers, pagers, editors, transports and signing are off; see its
docstring); a repository whose `core.worktree` points elsewhere is refused. We
never call GitPython's `index.commit` (it runs hooks itself) nor `index.add`.

The user's work comes first:

- `ensure_clean` refuses a dirty tree (the fix: commit, or `--allow-dirty`);
- `save_user_changes` / `restore_user_changes` set uncommitted work aside in a
  stash (staged and unstaged kept apart, untracked files included) and put it
  back, dropping the stash only once the tree matches what it was;
- `work_on_branch` does the run on its own branch and always returns the user
  to their branch (or detached HEAD), whatever happens in the body;
- `commit_files` stages exactly the files it is given, refuses secrets,
  ignored files and key material (`agent.secret_scan`), and writes git trailers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType

from git import Head, Repo
from git.exc import InvalidGitRepositoryError, NoSuchPathError

from agent.errors import GitError, PathRejected, UsageError
from agent.gitrun import NO_EXT, run_git
from agent.secret_scan import find_secrets, is_sensitive_name, refuse_secrets
from sandbox.paths import check_name, safe_path

__all__ = [
    "DEFAULT_KEEP_PATHS",
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "Branch",
    "Saved",
    "changed_files",
    "check_writable",
    "commit_files",
    "committable",
    "current_branch",
    "diff_stat",
    "ensure_clean",
    "find_secrets",
    "format_message",
    "head_sha",
    "is_dirty",
    "leftover_stashes",
    "open_or_init",
    "open_repo",
    "refuse_leftovers",
    "refuse_secrets",
    "restore_user_changes",
    "save_user_changes",
    "start_branch",
    "switch_branch",
    "work_on_branch",
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


def ensure_clean(repo: Repo, allow_paths: Sequence[str] = DEFAULT_KEEP_PATHS) -> None:
    """Raise UsageError when the tree has uncommitted work outside `allow_paths`."""
    dirty = [p for p in is_dirty(repo) if not _kept(p, allow_paths)]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UsageError(
            f"{_root(repo)} has uncommitted changes ({shown}): commit or stash them, or pass "
            "--allow-dirty to have greenloop set them aside and restore them afterwards"
        )


# ---------------------------------------------------------------- saving work


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


# ---------------------------------------------------------------- after a kill

_STASH_NOTE = "greenloop: your uncommitted work"


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
) -> Iterator[Branch]:
    """Work on a new branch `name` from HEAD; always come back to the user's branch.

    A dirty tree is refused unless `allow_dirty`, which saves the work first and
    restores it at the end. On exit, whatever happened in the body (exception,
    KeyboardInterrupt), uncommitted changes on the work branch are discarded,
    files the run left untracked are removed, the user's branch (or detached
    HEAD) is checked out again and their work restored. A branch with no new
    commit is deleted. Paths under `keep_paths` (the run record) are left alone.
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
                ensure_clean(repo, keep)
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


# ---------------------------------------------------------------- committing


def _added_lines(diff: str) -> Iterator[tuple[int, str]]:
    """(line number in the new file, text) for each added line of a -U0 diff."""
    line_no = 0
    for line in diff.splitlines():
        if line.startswith("@@"):
            hunk = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", line)
            line_no = int(hunk.group(1)) if hunk else 0
        elif line.startswith("+") and not line.startswith("+++"):
            yield line_no, line[1:]
            line_no += 1


def _check_paths(repo: Repo, files: Sequence[str]) -> list[str]:
    """Normalise and vet the listed paths; anything questionable raises before staging."""
    root = _root(repo)
    names: list[str] = []
    for rel in files:
        name = str(check_name(rel))
        target = safe_path(root, name)
        if is_sensitive_name(PurePosixPath(name).name):
            raise PathRejected(
                f"refused to commit {name}: it looks like secrets or key material; "
                "leave it out of the commit"
            )
        if target.is_dir():
            raise PathRejected(f"refused to commit {name}: it is a folder; list its files instead")
        names.append(name)
    status, out, err = run_git(root, ["check-ignore", "--", *names])
    if status == 0:
        ignored = ", ".join(out.split())
        raise PathRejected(
            f"refused to commit {ignored}: git ignores it (.gitignore); leave it out of the commit"
        )
    if status not in (0, 1):
        raise GitError(f"git check-ignore failed in {root}: {err.strip()}")
    return sorted(set(names))


def check_writable(repo: Repo, names: Sequence[str]) -> None:
    """Refuse, before anything is written, paths that cannot be written as plain files.

    PathRejected for an unsafe name, a path through a symlink (inside or out),
    a path that is a folder, or one whose parent is a file. Run this (and
    `refuse_secrets`) before switching branches.
    """
    root = _root(repo)
    for rel in names:
        name = str(check_name(rel))
        target = safe_path(root, name)
        probe = root
        for part in PurePosixPath(name).parts:
            probe = probe / part
            where = probe.relative_to(root)
            if probe.is_symlink():
                raise PathRejected(f"refused to write {name}: {where} is a symbolic link")
            if probe != target and probe.exists() and not probe.is_dir():
                raise PathRejected(f"refused to write {name}: {where} is a file, not a folder")
        if target.is_dir():
            raise PathRejected(f"refused to write {name}: it is a folder in {root}")


def format_message(message: str, trailers: Mapping[str, str]) -> str:
    """The commit message with `Key: value` trailers in a final paragraph."""
    body = message.strip()
    if not body:
        raise UsageError("a commit message is required")
    lines = []
    for key, value in trailers.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", key):
            raise UsageError(f"{key!r} is not a valid trailer key: use letters, digits and '-'")
        lines.append(f"{key}: {' '.join(str(value).split())}")
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"


def _scan_staged(repo: Repo, names: Sequence[str]) -> None:
    for name in names:
        diff = _git(
            repo,
            "--literal-pathspecs",
            "diff",
            "--cached",
            "--text",
            "--unified=0",
            *NO_EXT,
            "--",
            name,
        )
        added = list(_added_lines(diff))
        hits = find_secrets("\n".join(text for _, text in added))  # one scanner set-up
        if hits:
            line, kind = hits[0]
            raise GitError(
                f"refused to commit: {name}:{added[line - 1][0]} looks like {kind}; "
                "remove it (read secrets from the environment) and retry"
            )


def commit_files(
    repo: Repo, files: Sequence[str], message: str, trailers: Mapping[str, str]
) -> str:
    """Stage exactly `files`, scan them for secrets, commit with trailers; return the sha.

    Refused (nothing staged afterwards): unsafe paths, `.env`, key files, paths
    git ignores, folders, an index that already holds other staged changes, and
    any added line that looks like a secret (the error names file and line).
    """
    if not files:
        raise UsageError("nothing to commit: no files were listed")
    names = _check_paths(repo, files)
    full_message = format_message(message, trailers)
    if run_git(_root(repo), ["diff", "--cached", "--quiet", *NO_EXT])[0] != 0:
        raise GitError(
            "the index already holds staged changes: greenloop commits only the "
            "files it lists; unstage them (git restore --staged .) and retry"
        )
    _git(repo, "--literal-pathspecs", "add", "--", *names)
    try:
        if run_git(_root(repo), ["diff", "--cached", "--quiet", *NO_EXT])[0] == 0:
            raise GitError(f"nothing to commit: {', '.join(names)} are unchanged")
        _scan_staged(repo, names)
        _git(
            repo,
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=whitespace",
            "-m",
            full_message,
            env=_identity_env(repo),
        )
    except GitError:
        run_git(_root(repo), ["--literal-pathspecs", "reset", "--quiet", "--", *names])
        raise
    sha = head_sha(repo)
    log.info("committed %d file(s) as %s", len(names), sha[:12])
    return sha


# ---------------------------------------------------------------- reviewing


def diff_stat(repo: Repo, base: str, branch: str) -> str:
    """`git diff --stat base...branch`: what the branch changed since it left base."""
    return _git(repo, "diff", "--stat", *NO_EXT, f"{base}...{branch}")


def changed_files(repo: Repo, base: str, branch: str) -> list[str]:
    """The paths the branch changed since it left base."""
    out = _git(repo, "diff", "--name-only", "-z", *NO_EXT, f"{base}...{branch}")
    return [p for p in out.split("\0") if p]


def committable(repo: Repo, files: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split `files` into those `commit_files` would take and those it would refuse (why)."""
    ok: list[str] = []
    refused: dict[str, str] = {}
    for name in files:
        try:
            ok.extend(_check_paths(repo, [name]))
        except PathRejected as exc:
            refused[name] = str(exc)
    return ok, refused
