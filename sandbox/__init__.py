"""Running untrusted code: Docker (the default) and local (explicit opt-in, not isolation)."""

from __future__ import annotations

from sandbox.base import ExecResult, Sandbox, TestCase, TestReport
from sandbox.config import SandboxConfig, SandboxKind

__all__ = [
    "ExecResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxKind",
    "TestCase",
    "TestReport",
    "open_sandbox",
]


def open_sandbox(config: SandboxConfig) -> Sandbox:
    """The sandbox `config.kind` names, not yet entered: use it in a `with`."""
    if config.kind == "local":
        from sandbox.local import LocalSandbox

        return LocalSandbox(config)
    from sandbox.docker import DockerSandbox

    return DockerSandbox(config)
