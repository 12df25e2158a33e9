"""Everything greenloop does with git, through GitPython, on the user's behalf.

Every git command goes through `_git`, on `agent.git.runner.run_git`, which never
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
  ignored files and key material (`agent.git.secrets`), and writes git trailers.

    agent.git.runner    the safe git runner (no hooks, no fsmonitor, no drivers)
    agent.git.repo      open the repository, read its state (`_git` runs every command)
    agent.git.stash     set uncommitted work aside and put it back
    agent.git.branches  a run on its own branch; recovering from a killed run
    agent.git.commits   stage exactly the given files, refuse secrets, commit with trailers
    agent.git.secrets   the secret scan and the sensitive file names

Use it as `from agent import git as gitops`; this module re-exports the public names.
"""

from __future__ import annotations

from agent.git.branches import (
    leftover_stashes,
    refuse_leftovers,
    start_branch,
    switch_branch,
    work_on_branch,
)
from agent.git.commits import (
    changed_files,
    check_writable,
    commit_files,
    committable,
    diff_stat,
    format_message,
)
from agent.git.repo import (
    DEFAULT_KEEP_PATHS,
    FALLBACK_EMAIL,
    FALLBACK_NAME,
    Branch,
    current_branch,
    ensure_clean,
    head_sha,
    is_dirty,
    open_or_init,
    open_repo,
)
from agent.git.secrets import find_secrets, refuse_secrets
from agent.git.stash import Saved, restore_user_changes, save_user_changes

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
