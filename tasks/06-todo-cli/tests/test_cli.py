import json
import subprocess
import sys
from pathlib import Path

import pytest
from todo.cli import main

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path):
    return tmp_path / "todo.json"


def run(db, capsys, *args):
    code = main(["--file", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_empty_when_file_missing(db, capsys):
    assert run(db, capsys, "list") == (0, "no items\n", "")


def test_add_prints_and_stores(db, capsys):
    assert run(db, capsys, "add", "buy", "milk") == (0, "added 1: buy milk\n", "")
    assert run(db, capsys, "add", "walk the dog") == (0, "added 2: walk the dog\n", "")
    assert json.loads(db.read_text()) == {
        "items": [
            {"id": 1, "text": "buy milk", "done": False},
            {"id": 2, "text": "walk the dog", "done": False},
        ]
    }


def test_list_and_done(db, capsys):
    run(db, capsys, "add", "buy", "milk")
    run(db, capsys, "add", "call", "mum")
    assert run(db, capsys, "done", "2") == (0, "done 2: call mum\n", "")
    assert run(db, capsys, "list") == (0, "1 [ ] buy milk\n2 [x] call mum\n", "")
    assert run(db, capsys, "list", "--pending") == (0, "1 [ ] buy milk\n", "")
    assert run(db, capsys, "done", "2") == (0, "done 2: call mum\n", "")


def test_list_pending_when_all_done(db, capsys):
    run(db, capsys, "add", "x")
    run(db, capsys, "done", "1")
    assert run(db, capsys, "list", "--pending") == (0, "no items\n", "")


def test_done_unknown_id(db, capsys):
    run(db, capsys, "add", "x")
    before = db.read_text()
    code, out, err = run(db, capsys, "done", "7")
    assert (code, out, err) == (1, "", "error: no item 7\n")
    assert db.read_text() == before


def test_clear_removes_done_and_ids_keep_growing(db, capsys):
    for text in ("a", "b", "c"):
        run(db, capsys, "add", text)
    run(db, capsys, "done", "1")
    run(db, capsys, "done", "3")
    assert run(db, capsys, "clear") == (0, "removed 2\n", "")
    assert run(db, capsys, "list") == (0, "2 [ ] b\n", "")
    assert run(db, capsys, "add", "d") == (0, "added 3: d\n", "")
    assert run(db, capsys, "clear") == (0, "removed 0\n", "")


def test_ids_follow_largest_existing(db, capsys):
    db.write_text(json.dumps({"items": [{"id": 41, "text": "old", "done": True}]}))
    assert run(db, capsys, "add", "new") == (0, "added 42: new\n", "")


@pytest.mark.parametrize("content", ["{not json", '{"items": 3}', "[]"])
def test_corrupt_file(db, capsys, content):
    db.write_text(content)
    code, out, err = run(db, capsys, "list")
    assert code == 1
    assert out == ""
    assert err.startswith("error:")
    assert db.read_text() == content


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["add"], ["done"], ["done", "one"]])
def test_bad_usage_exits_2(db, capsys, args):
    with pytest.raises(SystemExit) as info:
        main(["--file", str(db), *args])
    assert info.value.code == 2
    assert not db.exists()


def test_default_file_is_in_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["add", "here"]) == 0
    capsys.readouterr()
    assert (tmp_path / "todo.json").exists()


def test_python_dash_m(db):
    command = [sys.executable, "-m", "todo", "--file", str(db)]
    added = subprocess.run(
        [*command, "add", "from", "a", "shell"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (added.returncode, added.stdout) == (0, "added 1: from a shell\n")
    listed = subprocess.run(
        [*command, "list"], cwd=PROJECT, capture_output=True, text=True, timeout=30
    )
    assert (listed.returncode, listed.stdout) == (0, "1 [ ] from a shell\n")
