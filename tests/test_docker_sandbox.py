"""The Docker sandbox against real attacks, on the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from agent.errors import PathRejected
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def shared(docker_engine: Any, sandbox_image: str) -> Iterator[DockerSandbox]:
    """One warm sandbox for the attacks that leave it usable."""
    cfg = SandboxConfig(run_id="pytest-shared", memory_mb=256, workspace_mb=256, tmp_mb=64)
    with DockerSandbox(cfg, client=docker_engine) as sb:
        yield sb


def _survivors(sb: DockerSandbox) -> list[list[str]]:
    procs = sb.container.top(ps_args="-eo pid,comm")["Processes"] or []
    return [p for p in procs if p[-1] not in ("sleep", "docker-init", "tini")]


def test_runs_as_non_root_with_no_capabilities(shared: DockerSandbox) -> None:
    result = shared.run("id -u; grep CapEff /proc/self/status")
    uid, capeff = result.output.split("\n", 1)
    assert result.exit_code == 0
    assert uid.strip() != "0"
    assert capeff.split()[-1] == "0000000000000000"


def test_fork_bomb_is_contained_and_host_still_forks(shared: DockerSandbox) -> None:
    bomb = threading.Thread(target=shared.run, args=("b() { b | b & }; b", 6))
    bomb.start()
    time.sleep(2)
    host = [subprocess.run(["true"], check=False).returncode for _ in range(20)]
    bomb.join(15)
    assert not bomb.is_alive()
    assert host == [0] * 20
    assert shared.run("echo alive", 10).output.strip() == "alive"


def test_memory_bomb_is_oom_killed(shared: DockerSandbox) -> None:
    result = shared.run(["python3", "-c", "b = b'x' * (1024 ** 3)"], 30)
    assert result.oom_killed
    assert not result.timed_out
    assert result.exit_code != 0


@pytest.mark.parametrize(
    "cmd",
    [
        ["python3", "-c", "while True: pass"],
        ["sleep", "1e6"],
        ["sh", "-c", "sleep 1e6 & setsid sleep 1e6 & sleep 1e6"],
    ],
    ids=["busy-loop", "sleep", "escaping-children"],
)
def test_timeout_really_ends_the_process(shared: DockerSandbox, cmd: list[str]) -> None:
    start = time.monotonic()
    result = shared.run(cmd, 2)
    assert result.timed_out
    assert time.monotonic() - start < 2 + 2
    assert _survivors(shared) == []
    assert shared.run("echo warm", 10).output.strip() == "warm"


def test_no_network_tcp_or_dns(shared: DockerSandbox) -> None:
    # 192.0.2.1 is TEST-NET-1 (documentation only): with no interface, nothing leaves anyway.
    probe = textwrap.dedent(
        """
        import socket
        for what, call in [
            ("tcp", lambda: socket.create_connection(("192.0.2.1", 80), timeout=3)),
            ("dns", lambda: socket.getaddrinfo("example.com", 80)),
        ]:
            try:
                call()
                print(what, "REACHED")
            except OSError as exc:
                print(what, "blocked", type(exc).__name__)
        print(open("/proc/net/dev").read())
        """
    )
    result = shared.run(["python3", "-c", probe], 20)
    assert "tcp blocked" in result.output
    assert "dns blocked" in result.output
    assert "REACHED" not in result.output
    assert "eth0" not in result.output


def test_host_environment_does_not_enter(docker_engine: Any, sandbox_image: str) -> None:
    os.environ["GREENLOOP_CANARY"] = "canary-8d1f"
    os.environ["OPENAI_API_KEY"] = "sk-canary-8d1f"
    try:
        with DockerSandbox(SandboxConfig(run_id="pytest-env"), client=docker_engine) as sb:
            result = sb.run("env; cat /proc/1/environ | tr '\\0' '\\n'")
    finally:
        del os.environ["GREENLOOP_CANARY"], os.environ["OPENAI_API_KEY"]
    assert result.exit_code == 0
    assert "canary-8d1f" not in result.output


@pytest.mark.parametrize(
    "target", ["/x", "/etc/x", "/usr/x", "/root/x", "/home/sandbox/x", "/var/x", "/opt/x"]
)
def test_nothing_outside_the_workspace_is_writable(shared: DockerSandbox, target: str) -> None:
    result = shared.run(f"echo pwned > {target}")
    assert result.exit_code != 0
    assert shared.run(f"test -e {target}").exit_code != 0


def test_workspace_is_writable(shared: DockerSandbox) -> None:
    assert shared.run("echo ok > here.txt && cat here.txt").output.strip() == "ok"


@pytest.mark.parametrize(
    "cmd",
    [
        "head -c 400M /dev/zero > big.bin",
        "head -c 100M /dev/zero > /tmp/big.bin",
    ],
    ids=["workspace", "tmp"],
)
def test_disk_filling_write_is_stopped(shared: DockerSandbox, cmd: str) -> None:
    result = shared.run(cmd, 60)
    shared.run("rm -f big.bin /tmp/big.bin")
    assert result.exit_code != 0


def test_huge_output_is_truncated_and_memory_stays_bounded(shared: DockerSandbox) -> None:
    tracemalloc.start()
    try:
        result = shared.run("head -c 100000000 /dev/zero | tr '\\0' x", 60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert result.truncated
    assert len(result.output) < shared.config.output_bytes + 200
    assert peak < 30 * 1024 * 1024


def test_symlink_made_inside_is_refused_at_harvest(shared: DockerSandbox) -> None:
    shared.run("ln -sf /etc/passwd leak && echo hi > plain.txt && ln -sfn /etc dirlink")
    with pytest.raises(PathRejected):
        shared.read(["leak"])
    with pytest.raises(PathRejected):
        shared.read(["dirlink"])
    assert shared.read(["plain.txt"]) == {"plain.txt": b"hi\n"}


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", ".git/hooks/x"])
def test_validator_refuses_with_nothing_written(shared: DockerSandbox, bad: str) -> None:
    with pytest.raises(PathRejected):
        shared.write({"fine.txt": "fine", bad: "evil"})
    listing = shared.run("ls -A /workspace /workspace/.. /etc | grep -c '^x$' || true")
    assert listing.output.strip() == "0"
    assert shared.run("test -e fine.txt").exit_code != 0


def test_write_and_read_round_trip(shared: DockerSandbox) -> None:
    shared.write({"pkg/mod.py": "X = 1\n", "data.bin": b"\x00\x01"})
    assert shared.read(["pkg/mod.py", "data.bin", "missing.txt"]) == {
        "pkg/mod.py": b"X = 1\n",
        "data.bin": b"\x00\x01",
    }
    assert shared.run("stat -c %u pkg/mod.py").output.strip() == str(shared.config.uid)


_HARNESS = """
import sys
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox
sb = DockerSandbox(SandboxConfig(run_id=sys.argv[1])).__enter__()
print(sb.container.id, flush=True)
sb.run("sleep 1e6", 600)
"""


def test_prune_cleans_up_after_a_killed_harness(docker_engine: Any, sandbox_image: str) -> None:
    from sandbox.prune import prune

    run_id = f"pytest-killed-{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HARNESS, run_id], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    cid = proc.stdout.readline().strip()
    assert cid, "the harness did not start its sandbox"
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    label = {"label": f"greenloop.run={run_id}"}
    assert docker_engine.containers.list(all=True, filters=label)
    prune(docker_engine)
    assert docker_engine.containers.list(all=True, filters=label) == []
    assert docker_engine.volumes.list(filters=label) == []


def test_run_tests_reports_pytest_results(shared: DockerSandbox) -> None:
    shared.write(
        {
            "calc.py": "def add(a, b):\n    return a + b\n",
            "tests/test_calc.py": (
                "from calc import add\n\n"
                "def test_ok():\n    assert add(1, 2) == 3\n\n"
                "def test_bad():\n    assert add(1, 2) == 4\n"
            ),
        }
    )
    report = shared.run_tests(["tests"], timeout=60)
    assert (report.passed, report.failed, report.errors) == (1, 1, 0)
    failing = [t for t in report.tests if t.outcome == "failed"]
    assert failing[0].id == "tests/test_calc.py::test_bad"
    assert "assert 3 == 4" in failing[0].message + failing[0].traceback
