"""One pydantic config for the sandbox: every limit in one place."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sandbox.base import SandboxKind

__all__ = ["CA_PATH", "SandboxConfig", "SandboxKind"]

CA_PATH = "/etc/ssl/certs/greenloop-host-ca.pem"
"""Where `ca_bundle` appears inside the container."""


class SandboxConfig(BaseModel):
    """Limits and settings for a sandbox. Defaults are the safe ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SandboxKind = SandboxKind.DOCKER
    """`docker` isolates; `local` is a subprocess with rlimits, not isolation (opt-in)."""
    toolchain: str = "python"
    """Whose tests run here (`sandbox.toolchains`): its image, runner and judge."""
    image: str | None = None
    """Image to run; None means the image `greenloop sandbox build` made for the toolchain."""
    run_id: str = "adhoc"
    """Written into the container's labels, so prune can find what a run left behind."""
    network: bool = False
    """Network access; off for everything that runs generated code."""
    memory_mb: int = Field(default=1024, ge=64)
    """Memory for processes; swap is set equal to the limit, so there is no swap on top.
    The container's limit adds workspace_mb and tmp_mb: their tmpfs pages count as memory."""
    pids: int = Field(default=256, ge=16)
    """Processes and threads the container may hold at once."""
    cpus: float = Field(default=1.0, gt=0)
    """CPU share, as a number of cores."""
    nofile: int = Field(default=1024, ge=64)
    """Open file descriptors per process."""
    fsize_mb: int = Field(default=256, ge=1)
    """Largest file a process may write."""
    workspace_mb: int = Field(default=512, ge=16)
    """Size of the workspace: a tmpfs-backed volume that holds the project."""
    tmp_mb: int = Field(default=128, ge=16)
    """Size of /tmp inside the sandbox."""
    output_bytes: int = Field(default=1_000_000, ge=1024)
    """Output kept per command: head and tail, the middle dropped when over."""
    read_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """Largest file `read()` harvests."""
    uid: int = Field(default=1000, ge=1)
    """The user the code runs as; never root."""
    default_timeout: float = Field(default=120.0, gt=0)
    """Seconds a command may run when the caller gives no timeout."""
    workdir: str = "/workspace"
    """Where the project lives inside the sandbox."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment of the container and every command; empty by default (nothing from the host)."""
    workspace_volume: str | None = None
    """A named volume to use as the workspace instead of a fresh tmpfs one (it outlives the
    container: `sandbox.setup` prepares a repository in one and tests from another)."""
    shared_volume: str | None = None
    """A named volume mounted read-only at `shared_dir` (what a setup step installed)."""
    shared_dir: str = "/deps"
    """Where `shared_volume` is mounted."""
    ca_bundle: str | None = None
    """A host CA bundle mounted read-only at `sandbox.config.CA_PATH` (for a setup step)."""
