"""Plain git for the agent.git tests: set up and inspect repositories, arm traps."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

SAFE = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"]


def git(root: Path, *args: str, check: bool = True, safe: bool = True) -> str:
    """Plain git for setting up and inspecting; `safe=False` lets the repo's traps fire."""
    cmd = ["git", *(SAFE if safe else []), *args]
    return subprocess.run(cmd, cwd=root, check=check, capture_output=True, text=True).stdout


def snapshot(path: Path) -> dict[str, object]:
    """Everything a user could notice: status, both diffs, the index, every file's bytes.

    Status leaves out `.greenloop/`, the run record, which a run is meant to add.
    """
    files: dict[str, tuple[int, bytes]] = {}
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".git/") or rel == ".git" or f.is_dir():
            continue
        files[rel] = (f.stat().st_mode, f.read_bytes())
    return {
        "status": git(
            path,
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--",
            ".",
            ":(exclude).greenloop",
        ),
        "diff": git(path, "diff", "--binary"),
        "cached": git(path, "diff", "--cached", "--binary"),
        "index": git(path, "ls-files", "-s"),
        "head": git(path, "rev-parse", "HEAD"),
        "branch": git(path, "symbolic-ref", "-q", "HEAD", check=False),
        "files": files,
    }


def make_dirty(path: Path) -> None:
    """Staged and unstaged edits, binary edits, deletions, untracked and ignored files."""
    (path / "a.txt").write_text("alpha STAGED\nbeta\n")
    git(path, "add", "a.txt")
    (path / "a.txt").write_text("alpha STAGED\nbeta UNSTAGED\n")
    (path / "blob.bin").write_bytes(b"\x00\xff" * 300)
    git(path, "add", "blob.bin")
    (path / "blob.bin").write_bytes(b"\x00\xfe\x01" * 200)
    (path / "d.txt").unlink()
    git(path, "rm", "-q", "c.txt")
    (path / "new.txt").write_text("untracked\n")
    (path / "pkg" / "deep").mkdir()
    (path / "pkg" / "deep" / "new.bin").write_bytes(os.urandom(512))
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    (path / "debug.log").write_text("ignored\n")


def write_hook(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {path.name} >> {marker}\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


HOOKS = ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout"]
