"""A task's outputs packed on a node and landed on the head (agent.batch.shipping), without Ray."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from agent.batch.ledger import TaskRecord, TryRecord
from agent.batch.shipping import INCOMING_DIR, Parcel, land, pack_task
from agent.errors import ShippingError
from agent.run.record import RunResult

RUN = "try-1/.greenloop/runs/r1"


def _task_folder(root: Path, big: int = 0) -> tuple[Path, TaskRecord]:
    """A finished task's folder as run_task leaves it, and its record."""
    folder = root / "scratch" / "t"
    run_dir = folder / RUN
    run_dir.mkdir(parents=True)
    (run_dir / "trajectory.jsonl").write_text('{"event": "start"}\n')
    (run_dir / "cassette.jsonl").write_text('{"reply": "x"}\n')
    (run_dir / "result.json").write_text(json.dumps({"run_dir": str(run_dir)}))
    (folder / "try-1" / "app.py").write_text("def f():\n    return 1\n")
    (folder / "try-1" / "__pycache__").mkdir()
    (folder / "try-1" / "__pycache__" / "app.pyc").write_bytes(b"\0" * 10)
    (folder / "try-1" / "inner").symlink_to("app.py")
    (folder / "try-1" / "leak").symlink_to("/etc/hostname")
    (folder / ".lock").write_text("123")
    (folder / "result.json").write_text("{}")
    if big:
        (folder / "try-1" / "big.bin").write_bytes(os.urandom(big))
    result = RunResult("r1", str(run_dir), "fake", status="green", files=["app.py"])
    return folder, TaskRecord("t", "passed", 1, (TryRecord(1, "try-1", result),))


def test_a_task_lands_on_the_head_as_if_it_had_run_there(tmp_path: Path) -> None:
    folder, record = _task_folder(tmp_path)
    head = tmp_path / "run" / "tasks" / "t"
    parcel = pack_task(folder, record, head, 2**20, "node-a")
    land(parcel, head)
    landed = json.loads((head / "result.json").read_text())
    assert landed["tries"][0]["run_dir"] == str(head / RUN)
    assert (landed["node"], landed["shipped_bytes"]) == ("node-a", len(parcel.archive))
    assert json.loads((head / RUN / "result.json").read_text())["run_dir"] == str(head / RUN)
    assert (head / RUN / "trajectory.jsonl").read_text() == '{"event": "start"}\n'
    assert (head / "try-1" / "app.py").read_text().startswith("def f()")
    assert os.readlink(head / "try-1" / "inner") == "app.py"
    for left in (".lock", "try-1/__pycache__", "try-1/leak"):
        assert not (head / left).exists() and not (head / left).is_symlink(), left
    assert not list((tmp_path / "run" / INCOMING_DIR).iterdir())


def test_outputs_over_the_limit_send_only_the_run_records_and_say_why(tmp_path: Path) -> None:
    folder, record = _task_folder(tmp_path, big=300_000)
    head = tmp_path / "run" / "tasks" / "t"
    parcel = pack_task(folder, record, head, 200_000, "node-a")
    assert parcel.record is not None
    assert parcel.record.status == "error"
    assert "0.190735 MiB" in parcel.record.error and "--ship-limit-mb" in parcel.record.error
    assert "node-a" in parcel.record.error
    land(parcel, head)
    assert (head / RUN / "trajectory.jsonl").is_file() and not (head / "try-1" / "big.bin").exists()


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, b""


@pytest.mark.parametrize(
    "member",
    [
        (tarfile.TarInfo("../escaped.txt"), b"x"),
        _link("try-1/passwd", "/etc/passwd"),
        _link("try-1/up", "../../../../etc"),
    ],
    ids=["dotdot", "abs-link", "dotdot-link"],  # "/x" names land inside, stripped
)
def test_a_parcel_that_reaches_out_of_its_folder_is_refused(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes]
) -> None:
    head = tmp_path / "run" / "tasks" / "t"
    parcel = Parcel("t", TaskRecord("t", "passed"), _tar(member), "node-a")
    with pytest.raises(ShippingError, match="node-a sent were refused"):
        land(parcel, head)
    assert not head.exists(), "nothing of a refused parcel lands"
    assert not (tmp_path / "run" / "escaped.txt").exists()
    assert not list((tmp_path / "run" / INCOMING_DIR).iterdir())


def test_landing_replaces_a_partial_folder_and_a_stale_staging_dir(tmp_path: Path) -> None:
    folder, record = _task_folder(tmp_path)
    head = tmp_path / "run" / "tasks" / "t"
    (head / "try-1").mkdir(parents=True)
    (head / "try-1" / "half.py").write_text("")
    stale = tmp_path / "run" / INCOMING_DIR / "t-killed"
    stale.mkdir(parents=True)
    land(pack_task(folder, record, head, 2**20, "n"), head)
    assert not (head / "try-1" / "half.py").exists() and (head / "try-1" / "app.py").is_file()
    assert not stale.exists()
