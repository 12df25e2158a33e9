"""How the sandbox container is made: the arguments `DockerSandbox` hands to
`containers.run`, the locked-down settings `sandbox.docker`'s docstring lists.

    client.containers.run(image, **container_args(config, name, labels))
"""

from __future__ import annotations

from typing import Any

from docker.types import DriverConfig, LogConfig, Mount, Ulimit

from sandbox.config import CA_PATH, SandboxConfig

__all__ = ["container_args"]

_SHM_MB = 16


def container_args(cfg: SandboxConfig, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """How the container is made: the locked-down settings of `sandbox.docker`'s docstring."""
    volume_opts = {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": f"size={cfg.workspace_mb}m,uid={cfg.uid},gid={cfg.uid},mode=0755",
    }
    workspace = Mount(
        target=cfg.workdir,
        source=None,
        type="volume",
        labels=labels,
        driver_config=DriverConfig("local", volume_opts),
    )
    if cfg.workspace_volume is not None:
        workspace = Mount(target=cfg.workdir, source=cfg.workspace_volume, type="volume")
    fsize = cfg.fsize_mb * 1024 * 1024
    # tmpfs pages count as the container's memory: give them room on top of memory_mb,
    # so filling the disk stops the write instead of OOM-killing the keep-alive.
    memory = cfg.memory_mb + cfg.workspace_mb + cfg.tmp_mb + _SHM_MB
    return {
        "command": ["sleep", "infinity"],
        "name": name,
        "detach": True,
        "init": True,
        # The keep-alive runs as a uid of its own, so the reaper cannot kill it.
        "user": f"{cfg.uid + 1}:{cfg.uid + 1}",
        "environment": dict(cfg.env),
        "working_dir": cfg.workdir,
        "hostname": "sandbox",
        "network_mode": "bridge" if cfg.network else "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"size={cfg.tmp_mb}m,mode=1777"},
        "mounts": [workspace, *_extra_mounts(cfg)],
        "mem_limit": f"{memory}m",
        "memswap_limit": f"{memory}m",
        "pids_limit": cfg.pids,
        "nano_cpus": int(cfg.cpus * 1e9),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ulimits": [
            Ulimit(name="nofile", soft=cfg.nofile, hard=cfg.nofile),
            Ulimit(name="fsize", soft=fsize, hard=fsize),
        ],
        "shm_size": f"{_SHM_MB}m",
        "log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
        "labels": labels,
    }


def _extra_mounts(cfg: SandboxConfig) -> list[Mount]:
    """The shared (read-only) volume and the CA bundle, when the config names them."""
    mounts = []
    if cfg.shared_volume is not None:
        mounts.append(
            Mount(target=cfg.shared_dir, source=cfg.shared_volume, type="volume", read_only=True)
        )
    if cfg.ca_bundle is not None:
        mounts.append(Mount(target=CA_PATH, source=cfg.ca_bundle, type="bind", read_only=True))
    return mounts
