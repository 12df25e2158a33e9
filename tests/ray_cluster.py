"""A small real Ray cluster on this machine whose worker nodes cannot see the head's disk.

    with RayCluster(hidden=tmp_path / "head") as cluster:   # head: no CPUs
        cluster.add_node()                                    # 1 CPU, own mount namespace
        ... greenloop batch --executor ray --ray-address cluster.address ...
        cluster.kill_node(0)                                  # SIGKILL the node's processes

Each worker node runs under `unshare -m` with a private tmpfs mounted over `hidden`
(the folder holding the head's tasks and run dir): writes there stay on the node,
and the head's files are invisible to it, as on machines that share no disk. The
nodes share the network namespace, so the fake model server on loopback answers
them. Every node is a `ray start --block` in its own process group, stopped by
killing that group (`ray stop` would stop every Ray process on the machine), and
told to stop when the process that started it dies, however it dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).parent / "ray"
_PR_SET_PDEATHSIG = 1
_NODE_MEMORY = 4 * 2**30
_STORE = 100 * 2**20
# Node deaths are noticed within seconds instead of half a minute.
_ENV = {
    "RAY_AUTH_MODE": "disabled",  # a throwaway cluster on loopback
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",
}


def unshare_available() -> str:
    """Why worker nodes cannot get a mount namespace here ("" when they can)."""
    if os.geteuid() != 0:
        return "private mount namespaces need root (unshare -m)"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
    return "" if probe.returncode == 0 else f"unshare -m fails: {probe.stderr.strip()}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RayCluster:
    """A head with no CPUs and worker nodes of one CPU each, every one its own process group."""

    def __init__(self, hidden: Path, env: dict[str, str] | None = None) -> None:
        self.hidden = Path(hidden).resolve()
        self.hidden.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="glray-", dir="/tmp"))  # short: socket paths
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **_ENV, **(env or {})}
        self.env.pop("RAY_ADDRESS", None)
        self.head: subprocess.Popen[bytes] | None = None
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def _spawn(self, argv: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.temp / log, "wb")  # noqa: SIM115 - the child keeps it
        try:
            return subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )
        finally:
            out.close()

    def start(self) -> None:
        """Start the head (no CPUs: it schedules, it runs no task) and wait until it answers."""
        argv = [
            str(RAY), "start", "--head", "--block", f"--port={self.port}",
            "--node-ip-address=127.0.0.1", "--num-cpus=0", f"--memory={_NODE_MEMORY}",
            f"--object-store-memory={_STORE}", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={self.temp / 'head'}",
        ]  # fmt: skip
        self.head = self._spawn(argv, "head.log", self.env)
        self._wait_nodes(1)

    def add_node(self, env: dict[str, str] | None = None) -> int:
        """Start a worker node (1 CPU) in its own mount namespace; its index."""
        scratch = self.hidden / ".node-scratch"
        ray = (
            f"{RAY} start --block --address={self.address} --node-ip-address=127.0.0.1 "
            f"--num-cpus=1 --memory={_NODE_MEMORY} --object-store-memory={_STORE} "
            "--disable-usage-stats"
        )
        script = (
            f"mount -t tmpfs -o size=512m greenloop-node '{self.hidden}' && "
            f"mkdir -p '{scratch}' && TMPDIR='{scratch}' exec {ray}"
        )
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        index = len(self.nodes)
        self.nodes.append(self._spawn(argv, f"node-{index}.log", {**self.env, **(env or {})}))
        self._wait_nodes(1 + len(self.nodes) - len(self.killed))
        return index

    def _alive_nodes(self) -> int:
        code = (
            f"import ray; ray.init(address={self.address!r}, log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, check=False
        )
        lines = proc.stdout.strip().splitlines()
        return int(lines[-1]) if proc.returncode == 0 and lines else 0

    def _wait_nodes(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self._alive_nodes() < count:
            if time.monotonic() > deadline:
                logs = "\n".join(
                    p.read_text(errors="replace")[-2000:] for p in self.temp.glob("*.log")
                )
                raise RuntimeError(f"the Ray cluster did not reach {count} nodes:\n{logs}")
            time.sleep(1)

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of worker node `index` (its raylet and its workers)."""
        _kill_group(self.nodes[index], signal.SIGKILL)
        self.killed.add(index)

    def stop(self) -> None:
        """Stop every node, workers first; nothing of the cluster is left running."""
        for proc in [*self.nodes, *([self.head] if self.head else [])]:
            _kill_group(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(self.temp, ignore_errors=True)  # Ray's logs name the runtime env's key

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _stop_with_parent() -> None:
    """In the child: SIGTERM when the thread that started it ends (a killed test run).

    `ray start --block` then stops its node; so start nodes from the main thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
