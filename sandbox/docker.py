"""DockerSandbox: one locked-down container per run, kept warm, an exec per command.

The container has no network, no capabilities, a read-only root, a non-root
uid, an empty environment, and hard limits on memory (no swap), processes,
CPU, open files, file size and output. The workspace is a size-capped volume
written from the host as a tar of regular files. Every exec is wrapped in an
in-container `timeout -s KILL`; whatever outlives its command is killed by a
reaper; if even that cannot run, the host restarts the container (a restart
empties the workspace: callers that keep state there write it again).

The container's arguments are made in `sandbox.docker_args`, the reaper is
`sandbox.reaper`.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any, Self

import docker.errors

from sandbox.base import ExecResult, Suite, TestReport
from sandbox.config import SandboxConfig
from sandbox.docker_args import container_args
from sandbox.errors import PathRejected, SandboxError
from sandbox.image import docker_client, require_image
from sandbox.output import HeadTail
from sandbox.paths import check_name, check_names
from sandbox.reaper import cgroup_value, reap, restart
from sandbox.testrun import REPORT_CAP, REPORT_FD
from sandbox.toolchains import toolchain

__all__ = ["LABEL", "DockerSandbox"]

log = logging.getLogger(__name__)

LABEL = "greenloop.sandbox"
_GRACE = 2.0
_NO_EXIT_CODE = 255


class DockerSandbox:
    """A Docker container for one run. `with DockerSandbox(cfg) as sb: sb.run(...)`."""

    def __init__(self, config: SandboxConfig | None = None, client: Any = None) -> None:
        self.config = config or SandboxConfig()
        self._client = client
        self._container: Any = None
        self.name = f"greenloop-{self.config.run_id}-{uuid.uuid4().hex[:8]}"

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Self:
        self._client = self._client or docker_client()
        image = require_image(
            self._client, self.config.image, toolchain(self.config.toolchain).image
        )
        try:
            self._container = self._client.containers.run(
                image, **container_args(self.config, self.name, self.labels())
            )
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not start the sandbox container: {exc}") from exc
        log.info("sandbox %s started from %s", self.name, image)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._container is None:
            return
        try:
            self._container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            log.warning("could not remove sandbox %s: %s (greenloop sandbox prune)", self.name, err)
        self._container = None

    def labels(self) -> dict[str, str]:
        """Labels that let `prune` find what a killed run left behind."""
        return {
            LABEL: "1",
            "greenloop.run": self.config.run_id,
            "greenloop.created": str(int(time.time())),
            "greenloop.pid": str(os.getpid()),
            "greenloop.host": socket.gethostname(),
        }

    @property
    def container(self) -> Any:
        if self._container is None:
            raise SandboxError("the sandbox is not started: use it as `with DockerSandbox(...)`")
        return self._container

    # -- files ---------------------------------------------------------------------

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Copy files into the workspace as a tar of regular files owned by the sandbox user."""
        checked = check_names(files)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            dirs: set[str] = set()
            for path, data in checked.items():
                rel = path.as_posix()
                for parent in reversed(PurePosixPath(rel).parents[:-1]):
                    if str(parent) not in dirs:
                        dirs.add(str(parent))
                        tar.addfile(self._tarinfo(str(parent), tarfile.DIRTYPE, 0o755))
                info = self._tarinfo(rel, tarfile.REGTYPE, 0o644, size=len(data))
                tar.addfile(info, io.BytesIO(data))
        if not self.container.put_archive(self.config.workdir, buf.getvalue()):
            raise SandboxError("the engine refused to write files into the sandbox")

    def _tarinfo(self, name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.uid = info.gid = self.config.uid
        info.mtime = int(time.time())
        return info

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Harvest regular files only; a link, device or odd name raises PathRejected."""
        out: dict[str, bytes] = {}
        for rel in paths:
            check_name(rel)
            data = self._read_one(rel)
            if data is not None:
                out[rel] = data
        return out

    def reset(self) -> None:
        """Empty the workspace, as the sandbox user (nothing outside it is touched)."""
        self.run(["find", ".", "-mindepth", "1", "-delete"], 30)

    def read_optional(self, rel: str) -> bytes | None:
        """One file, or None when it does not exist."""
        check_name(rel)
        return self._read_one(rel)

    def _read_one(self, rel: str) -> bytes | None:
        cap = self.config.read_bytes
        try:
            stream, stat = self.container.get_archive(f"{self.config.workdir}/{rel}")
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not read {rel} from the sandbox: {exc}") from exc
        if stat.get("size", 0) > cap:
            raise PathRejected(f"refused {rel!r}: {stat['size']} bytes is over the {cap}-byte cap")
        raw = _capped(stream, cap + 64 * 1024)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            members = tar.getmembers()
            if len(members) != 1 or not members[0].isreg():
                raise PathRejected(f"refused {rel!r}: not a regular file (link or directory)")
            handle = tar.extractfile(members[0])
            return handle.read(cap) if handle else None

    # -- commands ----------------------------------------------------------------------

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        """Run `cmd` with a hard timeout; output capped to head and tail."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        result, _ = self._exec(argv, timeout or self.config.default_timeout, report=False)
        return result

    def run_report(self, argv: Sequence[str], timeout: float) -> tuple[ExecResult, bytes | None]:
        """Run `argv` with fd 3 onto the exec's stdout, its own stdout and stderr onto stderr.

        The exec's two streams come apart on the host (the engine frames them), so
        the output is the command's stdout and stderr, and the channel is only what
        was written to fd 3: None when over `REPORT_CAP`.
        """
        wrapped = ["sh", "-c", f'exec "$@" {REPORT_FD}>&1 1>&2', "sh", *argv]
        return self._exec(wrapped, timeout, report=True)

    def _exec(
        self, argv: Sequence[str], limit: float, *, report: bool
    ) -> tuple[ExecResult, bytes | None]:
        wrapped = ["timeout", "-s", "KILL", f"{limit:g}", *argv]
        oom_before = self._oom_count()
        start = time.monotonic()
        exec_id = self._client.api.exec_create(
            self.container.id,
            wrapped,
            user=f"{self.config.uid}:{self.config.uid}",
            workdir=self.config.workdir,
            environment=dict(self.config.env),
        )["Id"]
        buf = HeadTail(self.config.output_bytes)
        channel = _Channel(REPORT_CAP) if report else None
        reader = threading.Thread(target=self._pump, args=(exec_id, buf, channel), daemon=True)
        reader.start()
        code = self._wait(exec_id, reader, start + limit + _GRACE)
        duration = time.monotonic() - start
        hung = code is None
        timed_out = hung or (code == 137 and duration >= limit - 0.05)
        self._reap()
        reader.join(5)
        code = -1 if code is None else code
        oom = code == 137 and not timed_out and self._oom_count() > oom_before
        result = ExecResult(
            output=buf.text(),
            exit_code=-1 if timed_out else int(code),
            timed_out=timed_out,
            oom_killed=oom,
            duration=duration,
            truncated=buf.truncated,
        )
        return result, channel.value() if channel is not None else None

    def _wait(self, exec_id: str, reader: threading.Thread, deadline: float) -> int | None:
        """The exec's exit code, or None when it outlived the deadline (container restarted).

        The output stream can stay open after the command ended (a child that escaped
        with setsid holds stdout), so the exec's own state decides, not the stream. An
        exec not started yet (a loaded machine) is not running either, and has no exit
        code: only an exit code ends the wait.
        """
        stream_ended: float | None = None
        while time.monotonic() < deadline:
            reader.join(0.1)
            state = self._client.api.exec_inspect(exec_id)
            code = state.get("ExitCode")
            if not state.get("Running") and code is not None:
                reader.join(0.2)
                return int(code)
            if not reader.is_alive():
                stream_ended = stream_ended or time.monotonic()
                if time.monotonic() - stream_ended > _GRACE:
                    log.warning("sandbox %s: a command ended with no exit code", self.name)
                    return _NO_EXIT_CODE
        log.warning("sandbox %s: a command outlived its timeout; restarting it", self.name)
        restart(self.container)
        return None

    def _pump(self, exec_id: str, buf: HeadTail, channel: _Channel | None) -> None:
        """Feed the output (and, for a report command, the channel on stdout) as it comes."""
        try:
            if channel is None:
                for chunk in self._client.api.exec_start(exec_id, stream=True):
                    buf.feed(chunk)
                return
            for out, err in self._client.api.exec_start(exec_id, stream=True, demux=True):
                if out:
                    channel.feed(out)
                if err:
                    buf.feed(err)
        except docker.errors.APIError as exc:
            log.warning("sandbox %s: output stream ended: %s", self.name, exc)

    def _reap(self) -> None:
        """Kill whatever of a command outlived it (`sandbox.reaper`)."""
        reap(self._client, self.container, uid=self.config.uid, name=self.name)

    def _oom_count(self) -> int:
        """OOM kills in the container's memory cgroup so far (engine's flag where unseen)."""
        cid = self.container.id
        count = cgroup_value(cid, "memory", "memory.oom_control:oom_kill", default=-1)
        if count < 0:
            count = cgroup_value(cid, "memory", "memory.events:oom_kill", default=-1)
        if count >= 0:
            return count
        self.container.reload()
        return 1 if self.container.attrs["State"].get("OOMKilled") else 0

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        """Run the toolchain's tests, judged, in the workspace and parse the report."""
        chain = toolchain(self.config.toolchain)
        return chain.run_tests(
            self, args, timeout, root=self.config.workdir, suite=suite or Suite()
        )


class _Channel:
    """The report channel's bytes, dropped once over `cap`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.over = False

    def feed(self, chunk: bytes) -> None:
        if not self.over:
            self.data += chunk
            if len(self.data) > self.cap:
                self.over, self.data = True, bytearray()

    def value(self) -> bytes | None:
        return None if self.over else bytes(self.data)


def _capped(stream: Iterator[bytes], cap: int) -> bytes:
    out = bytearray()
    for chunk in stream:
        out += chunk
        if len(out) > cap:
            raise PathRejected(f"refused: archive over the {cap}-byte cap")
    return bytes(out)
