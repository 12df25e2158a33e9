"""Every agent.git test runs with a git config of its own; `root` is a small repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_plain import git


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A global git config of our own, with an identity, and no system config."""
    cfg = tmp_path / "gitconfig"
    cfg.write_text("[user]\n\tname = Test User\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    return cfg


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A repository on `main` with text, binary, and ignored-file rules committed."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("alpha\nbeta\n")
    (path / "c.txt").write_text("gamma\n")
    (path / "d.txt").write_text("delta\n")
    (path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (path / "pkg").mkdir()
    (path / "pkg" / "mod.py").write_text("X = 1\n")
    (path / ".gitignore").write_text("*.log\nsecret.txt\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path
