"""agent.run.record: the run record survives SIGKILL; result.json is never torn."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agent.run import record as runlog
from agent.run.codec import read_events
from agent.run.events import Apply, Malformed, Repeat, Tampered
from agent.run.record import RunDir, new_run_id, read_result, read_trajectory

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from agent.run.events import Tampered
    from agent.run.record import RunDir

    run = RunDir(Path(sys.argv[1]), "killed")
    payload = "x" * 20000
    i = 0
    while True:
        run.append(Tampered(iteration=i, why=payload))
        run.write_result({"i": i, "payload": payload, "end": "complete"})
        if i == 5:
            Path(sys.argv[2]).touch()
        i += 1
    """
)


def test_sigkill_leaves_a_readable_trajectory_and_a_whole_result(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, "the writer died on its own"
        assert time.monotonic() < deadline, "the writer never got going"
        time.sleep(0.01)
    reads = 0
    until = time.monotonic() + 0.5
    while time.monotonic() < until:  # a reader racing the writer never sees a torn file
        seen = read_result(tmp_path / ".greenloop" / "runs" / "killed")
        assert seen is not None and seen["end"] == "complete"
        reads += 1
    assert reads > 10
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL

    run = RunDir(tmp_path, "killed")
    events = [e.event for e in read_events(run.trajectory_path, strict=True)]
    assert len(events) > 5
    assert all(isinstance(e, Tampered) and len(e.why) == 20000 for e in events)
    assert [e.iteration for e in events if isinstance(e, Tampered)] == list(range(len(events)))
    result = read_result(run.path)
    assert result is not None
    assert result["end"] == "complete" and len(result["payload"]) == 20000
    assert result["i"] in (len(events) - 1, len(events) - 2)


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trajectory.jsonl"
    path.write_bytes(b'{"event": "a"}\n{"event": "b"}\n{"event": "c", "pay')
    assert [e["event"] for e in read_trajectory(path)] == ["a", "b"]
    done = b'{"ts": "t", "event": "result", "status": "red", "exit_reason": "wall"}\n'
    path.write_bytes(done + b'{"ts": "t", "event": "res')
    assert [e.kind for e in read_events(path, strict=True)] == ["result"]


@pytest.mark.parametrize("bad", [b"not json", b'["a list"]'])
def test_damage_before_the_last_line_is_an_error_read_strictly(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "trajectory.jsonl"
    done = b'{"ts": "t", "event": "result", "status": "red", "exit_reason": "wall"}\n'
    path.write_bytes(done + bad + b"\n" + done)
    with pytest.raises(ValueError, match=r"trajectory\.jsonl:2"):
        read_events(path, strict=True)
    lenient = read_trajectory(path)
    assert [e["event"] for e in lenient] == ["result", "unreadable", "result"]
    assert lenient[1] == {"event": "unreadable", "line": 2, "text": bad.decode()}


def test_missing_files_read_as_empty(tmp_path: Path) -> None:
    assert read_trajectory(tmp_path / "none.jsonl") == []
    assert read_events(tmp_path / "none.jsonl", strict=True) == []
    assert read_result(tmp_path) is None


def test_append_writes_the_format_line_then_one_line_per_event(tmp_path: Path) -> None:
    with RunDir(tmp_path, "r1") as run:
        assert not run.path.exists(), "nothing is created before the first write"
        run.append(Malformed(path="x/y.py", reply="ünïcode\nnewline"))
        run.append(Apply(applied=0, failed=(), malformed=True))
    run.append(Apply(applied=1, failed=({"path": "t.py", "reason": "a test"},), changed=()))
    run.close()  # a reopened file gets no second format line
    lines = run.trajectory_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"event": "format", "version": 2}' and len(lines) == 4
    first, second, third = (json.loads(line) for line in lines[1:])
    assert list(first) == ["ts", "event", "path", "reply"] and first["event"] == "malformed"
    assert first["reply"] == "ünïcode\nnewline" and "ünïcode" in lines[1]
    assert second == {"ts": second["ts"], "event": "apply", "applied": 0, "failed": [],
                      "malformed": True}  # fmt: skip
    assert list(third)[2:] == ["applied", "failed", "changed"] and third["changed"] == []
    assert run.path == tmp_path / ".greenloop" / "runs" / "r1"
    assert run.cassette_path == run.path / "cassette.jsonl"


def test_parallel_appends_do_not_interleave(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "threads")

    def worker(n: int) -> None:
        for i in range(50):
            run.append(Repeat(repeats=i, iteration=n))
            run.append(Malformed(path=f"{n}/{i}", reply="y" * 5000))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.close()
    events = read_trajectory(run.trajectory_path, strict=True)
    assert len(events) == 800
    for n in range(8):
        assert [e["repeats"] for e in events if e.get("iteration") == n] == list(range(50))
        assert [e["path"] for e in events if e.get("path", "").startswith(f"{n}/")] == [
            f"{n}/{i}" for i in range(50)
        ]


def test_write_result_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "res")
    run.write_result({"status": "red"})
    run.write_result({"status": "green", "tests": {"passed": 3, "failed": 0}})
    assert read_result(run.result_path) == {"status": "green", "tests": {"passed": 3, "failed": 0}}
    assert sorted(p.name for p in run.path.iterdir()) == ["result.json"]


def test_run_ids_sort_by_time_and_are_unique() -> None:
    first = new_run_id()
    time.sleep(1.01)
    ids = [new_run_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(first < later for later in ids)
    assert runlog._RUN_ID.fullmatch(first)


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "x" * 101])
def test_unsafe_run_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid run id"):
        RunDir(tmp_path, bad)
