"""Running untrusted code: Docker (the default) and local (explicit opt-in, not isolation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.base import ExecResult, Sandbox, SandboxKind, TestCase, TestReport

if TYPE_CHECKING:
    from sandbox.config import SandboxConfig

__all__ = [
    "ExecResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxKind",
    "TestCase",
    "TestReport",
    "open_sandbox",
]


def __getattr__(name: str) -> object:
    # SandboxConfig is pydantic: loaded on first use, so `greenloop --help` and the
    # error classes (sandbox.errors) do not pay for it.
    if name == "SandboxConfig":
        from sandbox.config import SandboxConfig

        return SandboxConfig
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


def open_sandbox(config: SandboxConfig) -> Sandbox:
    """The sandbox `config.kind` names, not yet entered: use it in a `with`."""
    if config.kind == "local":
        from sandbox.local import LocalSandbox

        return LocalSandbox(config)
    from sandbox.docker import DockerSandbox

    return DockerSandbox(config)
