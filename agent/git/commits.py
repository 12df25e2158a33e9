"""Commit exactly the files given, with trailers, refusing secrets; review a run branch."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath

from git import Repo

from agent.errors import GitError, PathRejected, UsageError
from agent.git.repo import _git, _identity_env, _root, head_sha
from agent.git.runner import NO_EXT, run_git
from agent.git.secrets import find_secrets, is_sensitive_name
from sandbox.paths import check_name, safe_path

__all__ = [
    "changed_files",
    "check_writable",
    "commit_files",
    "committable",
    "diff_stat",
    "format_message",
]

log = logging.getLogger(__name__)


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
