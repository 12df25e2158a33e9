"""The sandbox image's tag and the bootstrap's errors (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import SandboxError
from sandbox.image import _bootstrap_tar, dockerfile_path, image_tag


def test_the_tag_is_a_hash_of_the_dockerfile(tmp_path: Path) -> None:
    first = tmp_path / "Dockerfile"
    first.write_text("FROM scratch\n")
    tag = image_tag(first)
    assert tag.startswith("greenloop-sandbox:") and len(tag.split(":")[1]) == 12
    first.write_text("FROM scratch\nUSER 1000\n")
    assert image_tag(first) != tag
    assert image_tag() == image_tag(dockerfile_path())


def test_the_root_dockerfile_takes_a_base_image_and_runs_as_non_root() -> None:
    text = dockerfile_path().read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in text
    assert "USER 1000:1000" in text


def test_bootstrap_without_a_tool_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mmdebstrap nor debootstrap here
    with pytest.raises(SandboxError, match="apt-get install mmdebstrap"):
        _bootstrap_tar("bookworm", tmp_path / "base.tar", ("python3",))
    assert not (tmp_path / "base.tar").exists()
