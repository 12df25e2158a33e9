"""LocalSandbox against real attacks: runaway processes, floods, leaks, escapes by path."""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import PathRejected, SandboxError
from sandbox.config import SandboxConfig
from sandbox.local import MARKER_VAR, LocalSandbox

MB = 1024 * 1024


@pytest.fixture
def sb() -> Iterator[LocalSandbox]:
    config = SandboxConfig(
        kind="local", fsize_mb=1, memory_mb=512, output_bytes=64 * 1024, read_bytes=256 * 1024
    )
    with LocalSandbox(config) as sandbox:
        yield sandbox


def _marker(sb: LocalSandbox) -> bytes:
    """The environment marker every process of this sandbox carries."""
    value = sb.run(["sh", "-c", f'printf %s "${MARKER_VAR}"'], 5).output
    assert len(value) == 32
    return f"{MARKER_VAR}={value}".encode()


def _survivors(marker: bytes, wait: float = 2.0) -> list[int]:
    """Pids whose environment carries `marker` (a psutil-free /proc scan), once those
    being killed have had `wait` seconds to go (SIGKILL is delivered, not instant)."""
    deadline = time.monotonic() + wait
    found = _carrying(marker)
    while found and time.monotonic() < deadline:
        time.sleep(0.02)
        found = _carrying(marker)
    return found


def _carrying(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


@pytest.mark.parametrize(
    "cmd",
    [
        "sleep 1e6",
        ["python3", "-c", "while True: pass"],
        "sleep 1e6 & sleep 1e6 & while :; do :; done",
        "setsid sleep 1e6 & wait",  # leaves the process group
        "trap '' TERM INT HUP; sleep 1e6",
    ],
    ids=["sleep", "busy-loop", "children", "setsid-escape", "ignores-signals"],
)
def test_timeout_ends_the_command_and_everything_it_started(
    sb: LocalSandbox, cmd: str | list[str]
) -> None:
    marker = _marker(sb)
    start = time.monotonic()
    result = sb.run(cmd, timeout=1.0)
    elapsed = time.monotonic() - start
    assert result.timed_out
    assert result.exit_code == -1
    assert not result.ok
    assert elapsed < 1.0 + 2.0
    assert _survivors(marker) == []


def test_background_process_does_not_outlive_a_finished_run(sb: LocalSandbox) -> None:
    marker = _marker(sb)
    result = sb.run("sleep 1e6 > /dev/null 2>&1 & echo started", timeout=5)
    assert (result.output, result.exit_code, result.timed_out) == ("started\n", 0, False)
    assert result.duration < 2
    assert _survivors(marker) == []


def test_flood_of_output_is_truncated_with_bounded_harness_memory(sb: LocalSandbox) -> None:
    flood = (
        "import sys\nb = b'x' * 1048575 + b'\\n'\nfor _ in range(100): sys.stdout.buffer.write(b)\n"
    )
    rss_before = _rss_kb()
    tracemalloc.start()
    try:
        result = sb.run(["python3", "-c", flood + "print('THE END')"], timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert result.truncated
    assert "dropped by greenloop" in result.output
    assert result.output.rstrip().endswith("THE END")
    assert len(result.output) < 2 * sb.config.output_bytes
    assert peak < 50 * MB
    assert (_rss_kb() - rss_before) * 1024 < 50 * MB


def test_no_host_variable_gets_in(sb: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENLOOP_CANARY", "canary-4f1b9c")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-secret")
    result = sb.run(["sh", "-c", "env; cat /proc/self/environ"], timeout=5)
    assert "canary" not in result.output
    names = {line.split("=", 1)[0] for line in result.output.splitlines() if "=" in line}
    expected = {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED"}
    assert names - {"PWD", "SHLVL", "_"} == expected | {MARKER_VAR}
    assert f"HOME={sb.root}" in result.output


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("Max processes", 256),
        ("Max file size", MB),
        ("Max open files", 1024),
        ("Max core file size", 0),
        ("Max address space", 512 * MB),
        ("Max cpu time", 6),  # the 5 s timeout, rounded up, plus one
    ],
)
def test_rlimits_are_set_inside(sb: LocalSandbox, limit: str, expected: int) -> None:
    limits = sb.run(["cat", "/proc/self/limits"], timeout=5).output
    line = next(x for x in limits.splitlines() if x.startswith(limit))
    soft, hard = line[len(limit) :].split()[:2]
    assert (int(soft), int(hard)) == (expected, expected)


@pytest.mark.parametrize(
    "cmd",
    [
        "head -c 5000000 /dev/zero > big",
        ["python3", "-c", "open('big', 'wb').write(b'x' * 5_000_000)"],
    ],
    ids=["shell", "python"],
)
def test_a_file_over_fsize_is_stopped(sb: LocalSandbox, cmd: str | list[str]) -> None:
    result = sb.run(cmd, timeout=10)
    assert result.exit_code != 0
    assert (sb.root / "big").stat().st_size <= MB


def test_memory_bomb_is_reported_as_oom(sb: LocalSandbox) -> None:
    result = sb.run(["python3", "-c", "x = bytearray(2 * 1024 ** 3)"], timeout=10)
    assert result.oom_killed
    assert "MemoryError" in result.output


@pytest.mark.parametrize(
    ("cmd", "code"),
    [("exit 3", 3), ("kill -TERM $$", 143), ("true", 0), ("no-such-program-xyz", 127)],
)
def test_exit_codes_read_like_a_shell(sb: LocalSandbox, cmd: str, code: int) -> None:
    result = sb.run(cmd, timeout=5)
    assert (result.exit_code, result.timed_out) == (code, False)


def test_missing_program_in_argv_is_127(sb: LocalSandbox) -> None:
    result = sb.run(["no-such-program-xyz"], timeout=5)
    assert result.exit_code == 127


@pytest.mark.parametrize(
    ("setup", "name"),
    [
        ("ln -s /etc/passwd leak", "leak"),
        ("ln -s /etc etc && true", "etc/passwd"),
        ("echo hi > real.txt && ln -s real.txt alias", "alias"),
        ("mkdir d && echo hi > d/f && ln -s d dlink", "dlink/f"),
        ("mkfifo pipe", "pipe"),
        ("mkdir folder", "folder"),
        ("head -c 300000 /dev/zero > huge", "huge"),
    ],
    ids=["link-out", "dir-link-out", "link-in", "dir-link-in", "fifo", "folder", "oversize"],
)
def test_read_refuses_anything_but_a_small_regular_file(
    sb: LocalSandbox, setup: str, name: str
) -> None:
    sb.run(["sh", "-c", f"ulimit -f unlimited 2>/dev/null; {setup}"], timeout=5)
    assert os.path.lexists(sb.root / name.split("/")[0])
    with pytest.raises(PathRejected):
        sb.read([name])


def test_read_harvests_regular_files_and_skips_absent_ones(sb: LocalSandbox) -> None:
    sb.run("mkdir -p pkg && printf 'v = 1\\n' > pkg/mod.py", timeout=5)
    assert sb.read(["pkg/mod.py", "absent.py", "nodir/x.py"]) == {"pkg/mod.py": b"v = 1\n"}
    assert sb.read_optional("absent.py") is None


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", ".git/hooks/x", "a\x00b", "a\\b"])
def test_write_refuses_bad_paths_and_writes_nothing(sb: LocalSandbox, bad: str) -> None:
    before = sorted(p.relative_to(sb.root) for p in sb.root.rglob("*"))
    with pytest.raises(PathRejected):
        sb.write({"good.py": "ok = 1\n", bad: "pwned"})
    assert sorted(p.relative_to(sb.root) for p in sb.root.rglob("*")) == before
    assert not (sb.root.parent / "x").exists()
    assert not Path("/etc/x").exists()


def test_write_through_a_link_to_outside_is_refused(sb: LocalSandbox, tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("original")
    os.symlink(target, sb.root / "inside.txt")
    with pytest.raises(PathRejected):
        sb.write({"inside.txt": "pwned"})
    assert target.read_text() == "original"


def test_write_then_read_round_trip(sb: LocalSandbox) -> None:
    files: dict[str, str | bytes] = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "x = 'é'\n",
        "data.bin": b"\x00\x01",
    }
    sb.write(files)
    got = sb.read(list(files))
    assert got == {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


PROJECT = {
    "tests/test_ok.py": "def test_a():\n    assert 1\n\ndef test_b():\n    assert 1 == 2\n",
    "tests/test_more.py": "import pytest\n\n@pytest.mark.skip\ndef test_s():\n    pass\n",
    "tests/test_broken.py": "import not_a_module_xyz\n",
}


def test_run_tests_counts(sb: LocalSandbox) -> None:
    sb.write(PROJECT)
    report = sb.run_tests(timeout=30)
    assert (report.passed, report.failed, report.skipped, report.errors) == (1, 1, 1, 1)
    assert [c.id for c in report.collection_errors] == ["tests/test_broken.py"]
    assert report.failing_ids == {"tests/test_ok.py::test_b", "tests/test_broken.py"}
    assert report.exec is not None and report.exec.exit_code == 1
    assert report.duration > 0 and not report.timed_out
    assert str(sb.root) not in repr(report.tests)


def test_run_tests_green(sb: LocalSandbox) -> None:
    sb.write({"test_one.py": "def test_one():\n    assert True\n"})
    report = sb.run_tests(timeout=30)
    assert report.green
    assert report.to_dict()["tests"] == [
        {"id": "test_one.py::test_one", "outcome": "passed", "message": ""}
    ]


def test_run_tests_timeout(sb: LocalSandbox) -> None:
    sb.write({"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(1e6)\n"})
    start = time.monotonic()
    report = sb.run_tests(timeout=2)
    assert time.monotonic() - start < 4
    assert report.timed_out and not report.green
    assert "timed out" in report.note


def test_run_tests_conftest_that_does_not_import(sb: LocalSandbox) -> None:
    sb.write({"conftest.py": "import nope_xyz\n", "test_a.py": "def test_a():\n    pass\n"})
    report = sb.run_tests(timeout=30)
    assert [c.id for c in report.collection_errors] == ["conftest.py"]
    assert "nope_xyz" in report.collection_errors[0].message
    assert "no JUnit report" in report.note
    assert not report.green


def test_workspace_is_removed_and_use_after_exit_fails(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sandbox.local"):
        sandbox = LocalSandbox(SandboxConfig(kind="local"))
    assert any("NOT isolated" in r.getMessage() for r in caplog.records)
    with sandbox as sb:
        root = sb.root
        sb.run("mkdir -p locked/inner && touch locked/inner/f && chmod 000 locked", timeout=5)
        assert root.is_dir()
    assert not root.exists()
    with pytest.raises(SandboxError):
        sandbox.run("true", timeout=5)
