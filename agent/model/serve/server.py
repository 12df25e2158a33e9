"""One model process for a whole batch: the embedded GGUF behind a small OpenAI-compatible
endpoint (`agent.model.serve.endpoint`), on loopback, for every worker to share.

    with ModelServer(embedded_config) as server:
        client_config = server.client_config()      # an OpenAI-compatible ModelConfig
        ...                                         # workers talk to it through OpenAIChat

Why: two workers that each load the model with one thread per core fight over
the cores and run several times slower than one (see DESIGN.md). One process
with threads = cores serves them all, and the requests in flight (a restart's
candidates, both workers' calls) are decoded together, one step for all of them
(`agent.model.batched.Engine`).

The parent binds the listening socket itself (127.0.0.1, a free port) and hands
the server its file descriptor, so there is no race for the port. The server
runs in its own session (a Ctrl-C at the terminal is the batch's to handle, not
the server's) and exits by itself when its parent dies: it reads its stdin, a
pipe from the parent, and EOF means the parent is gone (even after SIGKILL).
`ModelServer.__exit__` stops it on every path: SIGTERM, then SIGKILL.

`python -m agent.model.serve.server --fd N --model PATH ...` is the server side.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from agent.errors import ConfigError, ModelUnavailable
from agent.model.config import ModelConfig
from agent.model.embedded import EmbeddedChat, default_gguf

__all__ = ["ModelServer", "served_name"]

log = logging.getLogger(__name__)

_READY_TIMEOUT = 120.0
_STOP_TIMEOUT = 10.0
_CLIENT_TIMEOUT = 1800.0
"""Seconds a worker waits for one answer: queued behind every other worker's calls."""
_KEY_VAR = "GREENLOOP_SERVER_KEY"
"""The server's API key goes to it here (argv is readable by every local user)."""
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


def served_name(path: Path) -> str:
    """The model name the server answers to (the GGUF's stem)."""
    return path.stem


class ModelServer:
    """The embedded model in one server process on loopback; a context manager."""

    def __init__(self, config: ModelConfig, *, ready_timeout: float = _READY_TIMEOUT) -> None:
        if config.backend() != "embedded":
            raise ConfigError("ModelServer serves the embedded model only (--model local[:PATH])")
        self.config = config
        self.path = config.gguf_path or default_gguf()
        self.threads = config.threads or os.cpu_count() or 1
        self.ready_timeout = ready_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._key = secrets.token_urlsafe(24)
        """Only this batch's workers may use the port (others on this machine could reach it)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client_config(self) -> ModelConfig:
        """How a worker reaches this server: the embedded config's sampling settings,
        an endpoint on loopback, a long timeout (calls queue) and no concurrency
        beyond what the server queues anyway."""
        return self.config.model_copy(
            update={
                "model": served_name(self.path),
                "base_url": self.base_url,
                "api_key": self._key,
                "timeout": max(self.config.timeout, _CLIENT_TIMEOUT),
                "max_retries": 1,
                "guided_code": True,
                "record": None,
                "replay": None,
            }
        )

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self._spawn(listener.fileno())
        finally:
            listener.close()  # the child holds its own copy
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("model server for %s on %s (%d threads)", self.path.name, self.port, self.threads)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, fd: int) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        argv = [
            sys.executable,
            "-m",
            "agent.model.serve.server",
            "--fd",
            str(fd),
            "--model",
            str(self.path),
            "--alias",
            served_name(self.path),
            "--threads",
            str(self.threads),
            "--n-ctx",
            str(self.config.n_ctx),
        ]
        # Only what Python needs: the server's settings also read the environment
        # (API_KEY, CONFIG_FILE, PORT...), which must not change what runs here.
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env |= {"OMP_WAIT_POLICY": "PASSIVE", _KEY_VAR: self._key}
        # The same `agent` package as this process, wherever it was imported from.
        here = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            pass_fds=(fd,),
            start_new_session=True,
            env=env,
        )

    def _wait_ready(self) -> None:
        import urllib.error
        import urllib.request

        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ModelUnavailable(
                    f"the model server for {self.path.name} exited with code "
                    f"{self._proc.returncode}: {self._stderr_tail()}",
                    fix="check `pip install 'greenloop[local]'` (llama-cpp-python) and the GGUF",
                )
            try:
                request = urllib.request.Request(
                    f"{self.base_url}/models", headers={"Authorization": f"Bearer {self._key}"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ModelUnavailable(
            f"the model server for {self.path.name} did not answer within "
            f"{self.ready_timeout:g} s: {self._stderr_tail()}"
        )

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a while; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the server exits by itself
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("the model server did not stop on SIGTERM: killing it")
                proc.kill()
                proc.wait(_STOP_TIMEOUT)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


# -- the server side ---------------------------------------------------------------------


def _exit_when_orphaned() -> None:
    """Read stdin (a pipe from the parent) to EOF, then exit: the parent is gone."""
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(4096):
            pass
    os._exit(0)


def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.model.serve.server")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the batch
    threading.Thread(target=_exit_when_orphaned, name="orphan-watch", daemon=True).start()

    from agent.model.serve.endpoint import serve

    model = EmbeddedChat(
        ModelConfig(model=f"local:{args.model}", n_ctx=args.n_ctx, threads=args.threads)
    )
    model.load()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve(model, alias=args.alias, fd=args.fd, key=os.environ.get(_KEY_VAR) or "")


if __name__ == "__main__":
    _serve()
