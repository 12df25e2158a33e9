"""Shared fixtures: the real Docker engine (skipped only where none answers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.errors import SandboxError


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """A client for the real engine; the test is skipped, saying so, when none answers."""
    from sandbox.image import docker_client

    try:
        return docker_client()
    except SandboxError as exc:
        pytest.skip(f"no Docker engine on this machine: {exc}")


@pytest.fixture(scope="session")
def sandbox_image(docker_engine: Any) -> str:
    """The current sandbox image; missing is a failure (CI builds it), not a skip."""
    from sandbox.image import require_image

    return require_image(docker_engine)


@pytest.fixture()
def docker_sandbox(docker_engine: Any, sandbox_image: str) -> Iterator[Any]:
    """A fresh, default-config DockerSandbox for one test."""
    from sandbox.config import SandboxConfig
    from sandbox.docker import DockerSandbox

    with DockerSandbox(SandboxConfig(run_id="pytest"), client=docker_engine) as sb:
        yield sb
