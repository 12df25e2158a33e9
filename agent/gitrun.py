"""Running git so that the repository cannot make it run a program on the host.

`run_git(cwd, args)` is the one way greenloop starts git (`agent.gitops` builds on
it). Each call carries, as `-c` flags and as `GIT_CONFIG_*` variables:

- hooks (`core.hooksPath=/dev/null`), fsmonitor, commit and tag signing,
  signature display, auto gc/maintenance and pagers off, editors a no-op, and
  no transport (`protocol.allow=never`, no credential helper), so
  `core.sshCommand`, `core.gitProxy` and askpass programs are never reached;
- the filter drivers (`filter.<name>.clean/smudge/process`) and merge drivers
  (`merge.<name>.driver`) that the repository's own config (`.git/config`, the
  worktree config, or a file they include) defines, overridden with the user's
  own value of that key (system, global or command scope) if any, else with
  nothing: a `.gitattributes` naming such a driver runs nothing, while the
  user's own (git-lfs) still work;
- no look inside submodules (each has a config of its own), no recursion;
- the work tree pinned to `cwd` (`GIT_WORK_TREE`), whatever `core.worktree` says.

Diffs pass `NO_EXT` (`--no-ext-diff --no-textconv`). git runs in its own
session, so a Ctrl-C aimed at greenloop cannot interrupt it half-way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from git import Git
from git.exc import GitCommandNotFound

from agent.errors import GitError

__all__ = ["NO_EXT", "SAFE_CONFIG", "run_git"]

# Applied to every git call: the agent must never run code the repository names.
SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("core.pager", "cat"),
    ("protocol.allow", "never"),
    ("credential.helper", ""),
    # A submodule is a repository of its own, with its own config: never run git in it.
    ("diff.ignoreSubmodules", "dirty"),
    ("submodule.recurse", "false"),
)
_SAFE_VARS = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": ":",
    "GIT_SEQUENCE_EDITOR": ":",
}
NO_EXT = ("--no-ext-diff", "--no-textconv", "--no-color")
# Driver commands a `.gitattributes` line can make git run (keys as `git config -l` spells them).
_DRIVER_KEY = re.compile(r"^(filter\..+\.(?:clean|smudge|process)|merge\..+\.driver)$")
_REPO_SCOPES = frozenset({"local", "worktree"})


# ---------------------------------------------------------------- running git


def _driver_overrides(cwd: Path | str, base: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Overrides for the drivers the repository's own config defines.

    Each key whose effective value comes from the repository is set back to the
    user's own value (system, global or command scope) when there is one, else
    to nothing, which makes git run no program (a filter then passes data
    through; a merge driver fails the merge, which greenloop reports).
    """
    args = [part for key, value in base for part in ("-c", f"{key}={value}")]
    cmd = [Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args, "config", "--list", "--show-scope", "-z"]
    try:
        status, out, _ = Git(str(cwd)).execute(
            cmd, with_extended_output=True, with_exceptions=False, env=_base_env(base)
        )
    except GitCommandNotFound as exc:
        raise GitError("git is not installed or not on PATH: install git") from exc
    if status != 0:
        return []
    effective: dict[str, str] = {}
    users: dict[str, str] = {}
    fields = str(out).split("\0")
    for scope, entry in zip(fields[::2], fields[1::2], strict=False):
        key, _, value = entry.partition("\n")
        if not _DRIVER_KEY.match(key):
            continue
        effective[key] = scope
        if scope not in _REPO_SCOPES:
            users[key] = value
    overrides = []
    for key, scope in effective.items():
        if scope in _REPO_SCOPES:
            overrides.append((key, users.get(key, "")))
            if key.startswith("filter.") and key not in users:
                overrides.append((key.rsplit(".", 1)[0] + ".required", "false"))
    return overrides


def _base_env(config: Sequence[tuple[str, str]]) -> dict[str, str]:
    """GIT_CONFIG_* entries appended after any the user already exports."""
    try:
        base = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        base = 0
    env = dict(_SAFE_VARS)
    for i, (key, value) in enumerate(config, start=base):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["GIT_CONFIG_COUNT"] = str(base + len(config))
    return env


def _safe_config(cwd: Path | str) -> list[tuple[str, str]]:
    return [*SAFE_CONFIG, *_driver_overrides(cwd, SAFE_CONFIG)]


def _command(args: Sequence[str], config: Sequence[tuple[str, str]] = SAFE_CONFIG) -> list[str]:
    flags = [part for key, value in config for part in ("-c", f"{key}={value}")]
    return [Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *flags, *args]


def run_git(
    cwd: Path | str, args: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """Run git in `cwd` with the safe configuration; return (status, stdout, stderr)."""
    config = _safe_config(cwd)
    # The work tree is the folder we read and write, whatever core.worktree says.
    tree = {} if list(args[:1]) == ["init"] else {"GIT_WORK_TREE": str(cwd)}
    try:
        status, out, err = Git(str(cwd)).execute(
            _command(args, config),
            with_extended_output=True,
            with_exceptions=False,
            env={**_base_env(config), **tree, **(env or {})},
            start_new_session=True,
        )
    except GitCommandNotFound as exc:
        raise GitError("git is not installed or not on PATH: install git") from exc
    return int(status), str(out), str(err)
