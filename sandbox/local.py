"""LocalSandbox: a temporary folder and a subprocess with rlimits. This is NOT isolation.

Used only when asked for (`--sandbox local`), e.g. where no Docker engine
exists. What it does:

- a fresh workspace from `tempfile.mkdtemp`, removed on `__exit__`;
- every path validated (`sandbox.paths`); files written and harvested without
  following any symlink; harvest takes regular files only, byte-capped;
- each command in its own session and process group (`start_new_session`),
  killed as a group (SIGKILL) on timeout and after it ends, so nothing of a run
  outlives it; processes that left the group (setsid) are found by a marker in
  their environment and killed too;
- a scrubbed environment: PATH, HOME (the workspace), LANG, TMPDIR (inside the
  workspace), PYTHONDONTWRITEBYTECODE, PYTHONHASHSEED=0 and the marker; no host
  variable, so no API key;
- rlimits set in the child before exec: CPU seconds, address space
  (`memory_mb`), processes (`pids`), file size (`fsize_mb`), open files
  (`nofile`), no core files; output kept as head and tail (`output_bytes`).

What it does not do: the code runs as the harness's own user and sees the
host's filesystem and network. RLIMIT_NPROC counts every process of that uid,
not just the run's, and the kernel ignores it for root, so as root a fork
bomb is not contained. RLIMIT_AS caps virtual memory per process, not the
run's total. OOM is detected best-effort (MemoryError in the output, a SIGKILL
nobody sent). It needs Linux (/proc, waitid). Use the Docker sandbox for
anything that matters.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

from sandbox.base import ExecResult, SandboxKind, Suite, TestReport
from sandbox.config import SandboxConfig
from sandbox.errors import PathRejected, SandboxError
from sandbox.output import HeadTail
from sandbox.paths import check_files, safe_path
from sandbox.testrun import JUNIT_DIR, REPORT_CAP, REPORT_FD
from sandbox.toolchains import toolchain

__all__ = ["MARKER_VAR", "LocalSandbox"]

log = logging.getLogger(__name__)

MARKER_VAR = "GREENLOOP_SANDBOX"
"""Environment variable carrying the sandbox's token: how strays are found."""
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CHUNK = 64 * 1024
_POLL = 0.05
_LINGER = 0.2
"""Seconds to keep reading after the command exits, for what its children still print."""
_OOM = re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|[Oo]ut of memory")
_MB = 1024 * 1024
# Puts the report pipe on fd 3 and execs the command (sh cannot name fds above 9).
_MOVE_FD = f"""\
import os, sys
fd = int(sys.argv[1])
if fd != {REPORT_FD}:
    os.dup2(fd, {REPORT_FD})
    os.close(fd)
os.execvp(sys.argv[2], sys.argv[2:])
"""


class LocalSandbox:
    """A temp folder and rlimited subprocesses: `with LocalSandbox(cfg) as sb: sb.run(...)`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(kind=SandboxKind.LOCAL)
        self._root: Path | None = None
        self._token = uuid.uuid4().hex
        log.warning(
            "local sandbox: generated code runs as this user with rlimits only; "
            "it is NOT isolated from this machine (use the Docker sandbox for that)"
        )

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> Self:
        self._root = Path(tempfile.mkdtemp(prefix="greenloop-local-")).resolve()
        (self._root / JUNIT_DIR / "tmp").mkdir(parents=True)
        log.info("local sandbox workspace %s", self._root)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._root is None:
            return
        self._sweep()
        _remove_tree(self._root)
        self._root = None

    def reset(self) -> None:
        """Empty the workspace (a command of its own, so a link planted there is removed,
        never followed), then make the temp folder again."""
        self.run(["find", ".", "-mindepth", "1", "-delete"], 30)
        (self.root / JUNIT_DIR / "tmp").mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        """The workspace folder on the host."""
        if self._root is None:
            raise SandboxError("the sandbox is not started: use it as `with LocalSandbox(...)`")
        return self._root

    # -- files -------------------------------------------------------------------

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Write files into the workspace: all validated first, then written, links replaced."""
        checked = check_files(self.root, files)
        for path, data in checked.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            fd = os.open(path, flags, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Harvest regular files; absent ones are left out, links and odd files raise."""
        out: dict[str, bytes] = {}
        for rel in paths:
            data = self.read_optional(rel)
            if data is not None:
                out[rel] = data
        return out

    def read_optional(self, rel: str) -> bytes | None:
        """One regular file, or None when absent; PathRejected for links, devices, oversize."""
        safe_path(self.root, rel)
        cap = self.config.read_bytes
        fd = _open_regular(self.root, rel)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(cap + 1)
        if size > cap or len(data) > cap:
            raise PathRejected(f"refused {rel!r}: {max(size, len(data))} bytes is over {cap}")
        return data

    # -- commands ----------------------------------------------------------------

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult:
        """Run `cmd` in the workspace with rlimits and a hard wall-clock timeout."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return self._run(argv, timeout or self.config.default_timeout, None)

    def run_report(self, argv: Sequence[str], timeout: float) -> tuple[ExecResult, bytes | None]:
        """Run `argv` with fd 3 onto a pipe of its own; what came on it (None: over the cap)."""
        read_end, write_end = os.pipe()
        channel = _PipeReader(read_end, REPORT_CAP)
        wrapped = [sys.executable, "-c", _MOVE_FD, str(write_end), *argv]
        try:
            result = self._run(wrapped, timeout, write_end)
        finally:
            os.close(write_end)
            channel.join()
        return result, channel.value()

    def _run(self, argv: list[str], limit: float, keep_fd: int | None) -> ExecResult:
        buf = HeadTail(self.config.output_bytes)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=() if keep_fd is None else (keep_fd,),
                # Python warns that preexec_fn and threads mix badly; the child only
                # calls setrlimit, and 3.11's Popen has no other way to set rlimits.
                preexec_fn=partial(_set_limits, self.config, limit),
            )
        except FileNotFoundError as exc:
            return ExecResult(output=f"{argv[0]}: {exc.strerror}\n", exit_code=127)
        except subprocess.SubprocessError as exc:
            raise SandboxError(f"could not start {argv[0]!r} in the local sandbox: {exc}") from exc
        try:
            finished = _pump(proc, buf, start + limit)
        finally:
            code = self._end(proc)
        return _result(buf, code, finished, time.monotonic() - start)

    def run_tests(
        self, args: Sequence[str] = (), timeout: float = 120.0, suite: Suite | None = None
    ) -> TestReport:
        """Run the toolchain's tests, judged, in the workspace and parse the report."""
        chain = toolchain(self.config.toolchain)
        return chain.run_tests(self, args, timeout, root=str(self.root), suite=suite or Suite())

    # -- internals ---------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        """The whole environment of a command: nothing inherited from the host."""
        return {
            "PATH": f"{Path(sys.executable).parent}:{_SYSTEM_PATH}",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.root / JUNIT_DIR / "tmp"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            MARKER_VAR: self._token,
        }

    def _end(self, proc: subprocess.Popen[bytes]) -> int:
        """Kill what is left of the run (its group, then strays), reap it, return its code."""
        _kill_group(proc.pid)
        if proc.stdout is not None:
            proc.stdout.close()
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            log.warning("local sandbox: process %d did not die after SIGKILL", proc.pid)
            code = -signal.SIGKILL
        self._sweep()
        return code

    def _sweep(self) -> None:
        """SIGKILL every process carrying this sandbox's marker (those that left the group)."""
        needle = f"{MARKER_VAR}={self._token}".encode()
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                found = needle in (entry / "environ").read_bytes().split(b"\0")
                if found:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
            except OSError:
                continue  # gone, or not ours to read
        _await_gone(killed, time.monotonic() + 2.0)


def _await_gone(pids: list[int], deadline: float) -> None:
    """Wait (bounded) until SIGKILLed pids are dead: a kill is delivered, not instant."""
    while pids and time.monotonic() < deadline:
        time.sleep(0.005)
        pids = [p for p in pids if _running(p)]


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]  # a zombie has died


class _PipeReader:
    """Reads a pipe to its end in a thread; keeps at most `cap` bytes (more: None)."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.data = bytearray()
        self.over = False
        self.thread = threading.Thread(target=self._read, name="report-pipe", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self.fd, _CHUNK):
                if not self.over:
                    self.data += chunk
                    self.over = len(self.data) > self.cap
        finally:
            os.close(self.fd)

    def join(self) -> None:
        self.thread.join(5)

    def value(self) -> bytes | None:
        return None if self.over else bytes(self.data)


def _address_space(config: SandboxConfig) -> int:
    """How many times `memory_mb` a process may map: V8 reserves address space it never
    touches (per isolate, and node's loader hooks run a second one), so node under a cap
    sized for what it uses dies at start (SIGTRAP). Python maps what it uses."""
    return 8 if config.toolchain == "javascript" else 1


def _set_limits(config: SandboxConfig, timeout: float) -> None:
    """In the child, before exec: the rlimits (never above the current hard limits)."""
    limits = (
        (resource.RLIMIT_CPU, math.ceil(timeout) + 1),
        (resource.RLIMIT_AS, config.memory_mb * _MB * _address_space(config)),
        (resource.RLIMIT_NPROC, config.pids),
        (resource.RLIMIT_FSIZE, config.fsize_mb * _MB),
        (resource.RLIMIT_NOFILE, config.nofile),
        (resource.RLIMIT_CORE, 0),
    )
    for which, value in limits:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def _pump(proc: subprocess.Popen[bytes], buf: HeadTail, deadline: float) -> bool:
    """Read output in chunks until the command is done; False when the deadline came first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            if exited_at is None and _exited(proc.pid):
                exited_at = now
            if exited_at is not None and now - exited_at > _LINGER:
                return True  # leader gone; children holding the pipe are killed next
            if selector.select(min(_POLL, deadline - now)):
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    return _wait_exit(proc.pid, deadline)
                buf.feed(chunk)


def _exited(pid: int) -> bool:
    """Has `pid` exited? Leaves it a zombie, so its process group id stays reserved."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _wait_exit(pid: int, deadline: float) -> bool:
    while not _exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group already ended
        os.killpg(pgid, signal.SIGKILL)


def _result(buf: HeadTail, code: int, finished: bool, duration: float) -> ExecResult:
    """The ExecResult: -1 on timeout (wall or CPU), 128+N for signal N like a shell."""
    timed_out = not finished or code == -signal.SIGXCPU
    output = buf.text()
    oom = not timed_out and code != 0 and bool(_OOM.search(output[-4096:]))
    return ExecResult(
        output=output,
        exit_code=-1 if timed_out else (128 - code if code < 0 else code),
        timed_out=timed_out,
        oom_killed=oom,
        duration=duration,
        truncated=buf.truncated,
    )


def _open_regular(root: Path, rel: str) -> int | None:
    """A read fd for `root/rel`, walking it with no symlink followed; None when absent."""
    *dirs, name = rel.split("/")
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in dirs:
            try:
                fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise _refuse(rel, exc) from None
            os.close(dir_fd)
            dir_fd = fd
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            raise PathRejected(f"refused {rel!r}: not a regular file (a link, folder or device)")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as exc:
            raise _refuse(rel, exc) from None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between stat and open
        os.close(fd)
        raise PathRejected(f"refused {rel!r}: not a regular file")
    return fd


def _refuse(rel: str, exc: OSError) -> PathRejected:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return PathRejected(f"refused {rel!r}: a symbolic link or non-folder is on the way")
    return PathRejected(f"refused {rel!r}: {exc.strerror}")


def _remove_tree(root: Path) -> None:
    """Remove the workspace, even where the code took permissions away; never follows links."""
    try:
        shutil.rmtree(root)
        return
    except OSError:
        pass
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, 0o700)
                except OSError:
                    continue
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        log.warning("local sandbox: could not remove %s entirely", root)
