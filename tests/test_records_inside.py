"""Nothing a repository or a record holds writes outside its folder (issue 23, item 5).

Real repositories, real folders and links, the real CLI where the user would meet it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fixture_repos import make_repo, shop_files

import agent.batch.shipping as shipping
from agent.batch.inside import inside, try_folder
from agent.batch.ledger import TaskRecord, TryRecord
from agent.batch.report import write_missing_pages
from agent.batch.scheduler import MANIFEST_FILE, read_records
from agent.batch.shipping import Parcel, land
from agent.errors import PathRejected, ShippingError
from agent.fix.repomap import FileTags, TagCache
from agent.run.record import RunDir, RunResult

GREENLOOP = Path(sys.executable).with_name("greenloop")


def _fix_cli(repo: Path) -> subprocess.CompletedProcess[str]:
    """`greenloop fix` on `repo` with an endpoint that is never reached."""
    return subprocess.run(
        [str(GREENLOOP), "fix", str(repo), "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(repo.parent), "OPENAI_API_KEY": "k"},
    )  # fmt: skip


@pytest.mark.parametrize("link", [".greenloop", ".greenloop/runs"])
def test_fix_refuses_a_records_folder_that_is_a_link(tmp_path: Path, link: str) -> None:
    repo = make_repo(tmp_path / "shop", shop_files())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(elsewhere)
    run = _fix_cli(repo)
    assert run.returncode == 2, run.stderr
    assert "is a link" in run.stderr and "Traceback" not in run.stderr
    assert list(elsewhere.iterdir()) == []


def test_fix_refuses_a_repository_that_tracks_its_records_folder(tmp_path: Path) -> None:
    planted = {".greenloop/cache/repomap-tags.json": '{"version": 1, "files": {}}'}
    repo = make_repo(tmp_path / "shop", shop_files(extra=planted))
    before = (repo / ".greenloop/cache/repomap-tags.json").read_text()
    run = _fix_cli(repo)
    assert run.returncode == 2, run.stderr
    assert "tracks .greenloop/cache/repomap-tags.json" in " ".join(run.stderr.split())
    assert (repo / ".greenloop/cache/repomap-tags.json").read_text() == before
    assert not (repo / ".greenloop/runs").exists()


def test_a_run_folder_is_never_made_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".greenloop").symlink_to(tmp_path / "target")
    with pytest.raises(PathRejected, match="is a link"):
        RunDir(tmp_path / "out", "r1").ensure()
    assert list((tmp_path / "target").iterdir()) == []


@pytest.mark.parametrize(
    "cache",
    [
        '{"version": 1, "files": {"a.py": {"stamp": "s", "defs": [{"evil": 1}], "refs": []}}}',
        '{"version": 1, "files": {"a.py": {"stamp": "s", "defs": "x", "refs": []}}}',
        '{"version": 1, "files": ["a.py"]}',
        '{"version": 1, "files": {"a.py": {"stamp": "s", "defs": [{"name": 1, "kind": "f", '
        '"line": "2", "signature": "", "scope": ""}], "refs": []}}}',
    ],
)
def test_a_hostile_repo_map_cache_is_a_miss_not_a_crash(tmp_path: Path, cache: str) -> None:
    path = tmp_path / "cache.json"
    path.write_text(cache)
    tags = TagCache(path)
    assert tags.get("a.py", "s") is None
    tags.put(FileTags("a.py", (), ()), "s")
    assert tags.get("a.py", "s") is not None


def test_a_linked_repo_map_cache_is_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"version": 1, "files": {"a.py": {"stamp": "s", "defs": [], "refs": []}}}')
    link = tmp_path / "cache.json"
    link.symlink_to(real)
    assert TagCache(link).get("a.py", "s") is None


# ---------------------------------------------------------------- batch records


def _batch(tmp_path: Path, out: str = "try-1", run_id: str = "r1") -> Path:
    run_dir = tmp_path / "run"
    task = run_dir / "tasks" / "t"
    (task / "try-1" / ".greenloop" / "runs" / "r1").mkdir(parents=True)
    (task / "try-1" / ".greenloop" / "runs" / "r1" / "trajectory.jsonl").write_text(
        '{"ts": "2026-01-01T00:00:00+00:00", "event": "start"}\n'
    )
    record = {"name": "t", "status": "failed", "tries": [{"try": 1, "out": out, "run_id": run_id}]}
    (task / "result.json").write_text(json.dumps(record))
    return run_dir


@pytest.mark.parametrize(
    ("out", "run_id"), [("../../../elsewhere", "r1"), ("try-1", "../../../../elsewhere"),
                        ("/tmp", "r1")],
)  # fmt: skip
def test_report_refuses_a_record_that_names_a_folder_outside(
    tmp_path: Path, out: str, run_id: str
) -> None:
    run_dir = _batch(tmp_path, out, run_id)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(PathRejected):
        write_missing_pages(run_dir)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_report_writes_the_page_of_a_good_record_inside(tmp_path: Path) -> None:
    run_dir = _batch(tmp_path)
    assert write_missing_pages(run_dir) == 1
    attempt = TryRecord(1, "try-1", RunResult("r1", "", "fake"))
    folder = try_folder(run_dir, "t", attempt)
    assert (folder / "trajectory.html").is_file()


@pytest.mark.parametrize("linked", ["tasks", "tasks/t"])
def test_records_under_a_linked_folder_are_refused(tmp_path: Path, linked: str) -> None:
    run_dir = _batch(tmp_path)
    moved = tmp_path / "moved"
    shutil.move(run_dir / linked, moved)
    (run_dir / linked).symlink_to(moved)
    with pytest.raises(PathRejected, match="is a link"):
        read_records(run_dir)
    with pytest.raises(PathRejected):
        inside(run_dir, "tasks", "t", "result.json")


def test_resume_never_removes_a_task_folder_through_a_link(tmp_path: Path) -> None:
    """A half-finished task's folder is removed on --resume: not when `tasks/` is a link."""
    tasks = tmp_path / "tasks"
    shutil.copytree(Path(__file__).resolve().parents[1] / "tasks" / "00-add", tasks / "00-add")
    run_dir = tmp_path / "run"
    (run_dir).mkdir()
    (run_dir / MANIFEST_FILE).write_text(json.dumps({"version": 1, "tries": 1}))
    victim = tmp_path / "victim"
    (victim / "00-add").mkdir(parents=True)
    (victim / "00-add" / "precious.txt").write_text("keep me")
    (run_dir / "tasks").symlink_to(victim)
    run = subprocess.run(
        [str(GREENLOOP), "batch", str(tasks), "--out", str(run_dir), "--resume", "--model", "m",
         "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPENAI_API_KEY": "k"},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "is a link" in run.stdout + run.stderr
    assert (victim / "00-add" / "precious.txt").read_text() == "keep me"


def test_a_parcel_that_unpacks_too_big_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(5):
            info = tarfile.TarInfo(f"try-1/f{i}.txt")
            data = b"x" * 1000
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    parcel = Parcel("t", TaskRecord("t", "passed"), buf.getvalue(), "node-a")
    head = tmp_path / "run" / "tasks" / "t"
    monkeypatch.setattr(shipping, "MAX_MEMBERS", 4)
    with pytest.raises(ShippingError, match="more than 4 entries"):
        land(parcel, head)
    monkeypatch.setattr(shipping, "MAX_MEMBERS", 100)
    monkeypatch.setattr(shipping, "MAX_UNPACKED", 4000)
    with pytest.raises(ShippingError, match="unpack to more than"):
        land(parcel, head)
    assert not head.exists()
    monkeypatch.setattr(shipping, "MAX_UNPACKED", 10_000)
    land(parcel, head)
    assert (head / "try-1" / "f4.txt").read_bytes() == b"x" * 1000


def test_a_jsonl_spec_has_the_cap_of_a_spec_file(tmp_path: Path) -> None:
    from agent.errors import ConfigError
    from agent.task import MAX_SPEC_BYTES, load_tasks_jsonl

    line = {"name": "big", "spec": "x" * (MAX_SPEC_BYTES + 1),
            "tests": {"tests/test_a.py": "def test_a():\n    assert True\n"}}  # fmt: skip
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match=r"over the .*-byte cap a spec\.md has"):
        load_tasks_jsonl(path)
