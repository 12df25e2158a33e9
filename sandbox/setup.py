"""Preparing a sandbox for an existing repository (`greenloop fix`).

    with prepared(config, repo_files, "pip install -e .") as ready:   # setup step, network on
        with open_sandbox(ready) as inner:                          # tests, network off
            sandbox = RepoSandbox(inner, other_files)

`prepared` runs the setup command in a container of its own, the only one
with network, whose workspace is a named volume holding a copy of the
repository. It gets the host's CA bundle (read-only) and proxy variables, and
nothing else from the host's environment; pip installs into a user base inside
that volume. The test sandbox then mounts the volume read-only and points
`PYTHONUSERBASE` at it, so what was installed (an editable install of the
repository included: its paths are the same `/workspace`) is importable.

`RepoSandbox` wraps any sandbox: every `write` also writes the repository's
files the model does not edit (binary, large) and splits the batch under the
per-write cap, so a repository of thousands of files fits; and makes its `links`
again (`node_modules` -> the setup volume's, for node, which looks for packages in
the folders above the code, never in `/deps`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import docker.errors

from sandbox.base import ExecResult, Sandbox, Suite, TestReport
from sandbox.config import CA_PATH, SandboxConfig
from sandbox.errors import SandboxError
from sandbox.paths import MAX_FILES

__all__ = ["RepoSandbox", "host_ca_bundle", "prepared", "setup_environment"]

log = logging.getLogger(__name__)

_BATCH = MAX_FILES // 2
_USERBASE = ".greenloop-deps"
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)
_OUTPUT_TAIL = 2000


def host_ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The host's CA bundle: the one the environment names, else the system's."""
    env = os.environ if environ is None else environ
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"):
        if env.get(name) and Path(env[name]).is_file():
            return str(Path(env[name]).resolve())
    return next((str(Path(p).resolve()) for p in _CA_FILES if Path(p).is_file()), None)


def setup_environment(
    workdir: str, ca_bundle: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The setup step's environment: pip settings, the host's proxies, the CA bundle; no more."""
    env = os.environ if environ is None else environ
    out = {
        "HOME": "/tmp",
        "PYTHONUSERBASE": f"{workdir}/{_USERBASE}",
        "PIP_USER": "1",
        "PIP_BREAK_SYSTEM_PACKAGES": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for name in _PROXIES:
        for variant in (name, name.lower()):
            if env.get(variant):
                out[variant] = env[variant]
    if ca_bundle is not None:
        for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                     "NODE_EXTRA_CA_CERTS"):  # fmt: skip
            out[name] = CA_PATH
    return out


@contextmanager
def prepared(
    config: SandboxConfig, files: Mapping[str, bytes], command: str, timeout: float = 900.0
) -> Iterator[SandboxConfig]:
    """Run `command` on a copy of `files` with network; yield the test sandbox's config."""
    from sandbox.docker import LABEL, DockerSandbox
    from sandbox.image import docker_client

    client = docker_client()
    labels = {
        LABEL: "1",
        "greenloop.run": config.run_id,
        "greenloop.created": str(int(time.time())),
        "greenloop.pid": str(os.getpid()),
        "greenloop.host": socket.gethostname(),
    }
    name = f"greenloop-setup-{config.run_id}-{uuid.uuid4().hex[:8]}"
    try:
        volume = client.volumes.create(name=name, labels=labels)
    except docker.errors.APIError as exc:
        raise SandboxError(f"could not create the setup volume: {exc}") from exc
    try:
        ca_bundle = host_ca_bundle()
        setup = config.model_copy(
            update={
                "network": True,
                "workspace_volume": volume.name,
                "ca_bundle": ca_bundle,
                "env": setup_environment(config.workdir, ca_bundle),
            }
        )
        with DockerSandbox(setup, client=client) as sandbox:
            RepoSandbox(sandbox, files).write({})
            result = sandbox.run(["sh", "-c", command], timeout)
        if not result.ok:
            why = "timed out" if result.timed_out else f"exited with {result.exit_code}"
            raise SandboxError(
                f"--setup-cmd {command!r} {why}; its output ends:\n"
                f"{result.output[-_OUTPUT_TAIL:]}\nfix the command and retry"
            )
        log.info("setup %r done in %.1f s", command, result.duration)
        env = {**config.env, "PYTHONUSERBASE": f"{config.shared_dir}/{_USERBASE}"}
        yield config.model_copy(update={"shared_volume": volume.name, "env": env})
    finally:
        try:
            volume.remove(force=True)
        except docker.errors.APIError as exc:
            log.warning("could not remove volume %s: %s (greenloop sandbox prune)", name, exc)


class RepoSandbox:
    """A sandbox whose writes carry the repository's other files, in batches."""

    def __init__(
        self, inner: Sandbox, other: Mapping[str, bytes], links: Mapping[str, str] | None = None
    ) -> None:
        self.inner = inner
        self.other = dict(other)
        self.links = dict(links or {})
        """Workspace path -> what it links to, made after every write (a reset empties it)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # the inner sandbox is closed by whoever opened it

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Write `files` and the repository's other files, at most `_BATCH` per call."""
        items = list({**self.other, **files}.items())
        for start in range(0, len(items), _BATCH):
            self.inner.write(dict(items[start : start + _BATCH]))
        for path, target in self.links.items():
            done = self.inner.run(["ln", "-sfn", target, path], 30)
            if not done.ok:
                raise SandboxError(f"could not link {path} to {target}: {done.output[-300:]}")

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        return self.inner.run(cmd, timeout)

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        return self.inner.read(paths)

    def read_optional(self, rel: str) -> bytes | None:
        return self.inner.read_optional(rel)

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        return self.inner.run_tests(args, timeout, suite)

    def reset(self) -> None:
        self.inner.reset()
