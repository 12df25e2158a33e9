"""Bad input, each refused with a clear error naming the fix, and nothing touched (issue 23).

Every case drives the real `greenloop` console script in a subprocess, with real
files in tmp (a FIFO, a sparse oversize file, /dev/zero, a git repository), so
`main()`'s error-to-exit-code mapping is exercised too: bad input is exit 2, with
the error and its fix on lines of their own. The tree under tmp is compared
byte for byte before and after. The model server's endpoint is asked over real
HTTP (in tests/test_model_endpoint.py, beside its other bad requests).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import git
import pytest
from fake_openai import FakeOpenAI
from fixture_repos import fix_reply, make_repo, shop_files
from scripted_agent import Script, search_replace
from task_script import TaskScript

from agent.model.cassette import MAX_CASSETTE_BYTES
from agent.task import CAPS
from sandbox.docker import LABEL

ROOT = Path(__file__).resolve().parents[1]
GREENLOOP = Path(sys.executable).with_name("greenloop")
DEAD_SOCKET = "unix:///nonexistent.sock"
BASE_URL = "http://127.0.0.1:9/v1"
"""Nothing listens there: a test that got as far as asking the model would fail."""
MODEL = ["--model", "m", "--base-url", BASE_URL]
RLO = "\u202e"
"""RIGHT-TO-LEFT OVERRIDE: `evil\u202eyp.py` shows as `evilyp.py` reversed at the mark."""
SPEC = "# Adder\n\nWrite `adder.py` with `add(a, b)` returning the sum.\n"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """stderr with its line wrapping undone."""
        return " ".join(self.err.split())


def greenloop(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> Run:
    """The real console script, with no model settings, config or git config of the host's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    clean.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "xdg"),
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        COLUMNS="250",
        NO_COLOR="1",
        PYTHONIOENCODING="utf-8",
        **(env or {}),
    )
    # a timeout, so a FIFO that blocks the open fails the test instead of hanging it
    proc = subprocess.run(
        [str(GREENLOOP), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def disk(root: Path) -> dict[str, bytes | str]:
    """Every path under `root`: a file's bytes, else its kind; git's index is left out
    (a read-only `git status` may refresh the stat data it caches)."""
    seen: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.endswith(".git/index"):
            continue
        if path.is_symlink():
            seen[rel] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            seen[rel] = "folder"
        elif path.is_file():
            seen[rel] = path.read_bytes()
        else:
            seen[rel] = "special"
    return seen


def assert_refused(run: Run, *fragments: str, fix: bool = True) -> None:
    """Exit 2, no traceback, each fragment said; with `fix`, the advice on its own line."""
    assert run.code == 2, run.err
    assert "Traceback" not in run.err, run.err
    for fragment in fragments:
        assert fragment in run.said, run.err
    if fix:
        lines = [line.strip() for line in run.err.splitlines()]
        error = next(i for i, line in enumerate(lines) if line.startswith("error:"))
        assert any(line.startswith("fix:") for line in lines[error + 1 :]), run.err


@pytest.fixture()
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME of its own, outside `tmp_path` (whose tree the tests compare)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "adder.md"
    path.write_text(SPEC)
    return path


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """A user's repository with one failing test (the discount bug)."""
    return make_repo(tmp_path / "shop", shop_files({"discount"}))


@pytest.fixture()
def task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks" / "00-add"
    shutil.copytree(ROOT / "tasks" / "00-add", folder)
    return folder


# ---------------------------------------------------------------- 1. --replay PATH


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "cassette.fifo"
    os.mkfifo(path)
    return path


def _oversize(tmp_path: Path) -> Path:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.truncate(MAX_CASSETTE_BYTES + 1)  # sparse: no disk used
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "cassettes"
    path.mkdir()
    return path


RECORD = "record one by running without --replay"
CASSETTES = {
    "dev-zero": (lambda tmp: Path("/dev/zero"), "is a device, not a regular file", RECORD),
    "fifo": (_fifo, "is a named pipe (FIFO), not a regular file", RECORD),
    "folder": (_folder, "is a folder, not a regular file", RECORD),
    "oversize": (
        _oversize,
        f"is {MAX_CASSETTE_BYTES + 1} bytes, over the {MAX_CASSETTE_BYTES}-byte cap",
        "replay a shorter run",
    ),
    "missing": (lambda tmp: tmp / "nope.jsonl", "not found", RECORD),
}


@pytest.mark.parametrize("command", ["new", "fix"])
@pytest.mark.parametrize("kind", CASSETTES)
def test_replay_takes_only_a_regular_file_under_the_cap(
    tmp_path: Path, home: Path, spec: Path, shop: Path, command: str, kind: str
) -> None:
    make, message, fix = CASSETTES[kind]
    cassette = make(tmp_path)
    if command == "new":
        args = ["new", str(spec), "--out", str(tmp_path / "out"), "--sandbox", "local"]
    else:
        args = ["fix", str(shop), "--sandbox", "local"]
    before = disk(tmp_path)
    run = greenloop(*args, "--replay", str(cassette), cwd=tmp_path, home=home)
    assert_refused(run, f"replay cassette {cassette} {message}", fix)
    assert disk(tmp_path) == before
    assert [h.name for h in git.Repo(shop).heads] == ["main"]


# ---------------------------------------------------------------- 2. sandbox prune


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_prune_older_than_must_be_positive_and_finite(
    tmp_path: Path, home: Path, value: str
) -> None:
    # a dead engine: the value is refused before anything is asked of Docker
    run = greenloop("sandbox", "prune", "--older-than", value, cwd=tmp_path, home=home,
                    env={"DOCKER_HOST": DEAD_SOCKET})  # fmt: skip
    assert_refused(run, f"--older-than {float(value)}", "not a number of seconds above 0")


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture()
def labelled(docker_engine: Any, sandbox_image: str) -> Iterator[dict[str, Any]]:
    """Containers as runs leave them (created, never started), by whose they are."""
    now = int(time.time())
    here = socket.gethostname()
    made = {
        "live-owner-here-old": {"greenloop.pid": os.getpid(), "greenloop.host": here,
                                "greenloop.created": now - 7200},
        "dead-owner-here-new": {"greenloop.pid": _dead_pid(), "greenloop.host": here,
                                "greenloop.created": now},
        "other-host-old": {"greenloop.pid": os.getpid(), "greenloop.host": "elsewhere.invalid",
                           "greenloop.created": now - 7200},
        "other-host-new": {"greenloop.pid": os.getpid(), "greenloop.host": "elsewhere.invalid",
                           "greenloop.created": now},
    }  # fmt: skip
    containers: dict[str, Any] = {}
    try:
        for name, labels in made.items():
            containers[name] = docker_engine.containers.create(
                sandbox_image,
                command=["sleep", "1"],
                labels={LABEL: "1", "greenloop.run": f"pytest-prune-{name}",
                        **{k: str(v) for k, v in labels.items()}},
            )  # fmt: skip
        yield containers
    finally:
        for container in containers.values():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)


def _exists(engine: Any, container: Any) -> bool:
    try:
        engine.containers.get(container.id)
    except docker.errors.NotFound:
        return False
    return True


def test_prune_never_removes_a_sandbox_whose_owner_lives_on_this_host(
    tmp_path: Path, home: Path, docker_engine: Any, labelled: dict[str, Any]
) -> None:
    run = greenloop("sandbox", "prune", "--older-than", "60", cwd=tmp_path, home=home)
    assert run.code == 0, run.err
    left = {name: _exists(docker_engine, c) for name, c in labelled.items()}
    assert left == {
        "live-owner-here-old": True,  # old, but its run (this test) is alive
        "dead-owner-here-new": False,  # its run is gone
        "other-host-old": False,  # another host's: only age retires it
        "other-host-new": True,
    }


# ---------------------------------------------------------------- 3, 6. batch options


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--grace", "-1"], "--grace -1.0: not a finite number of at least 0"),
        (["--grace", "nan"], "--grace nan: not a finite number of at least 0"),
        (["--grace", "inf"], "--grace inf: not a finite number of at least 0"),
        (["--budget-cost", "inf"], "--budget-cost inf: not a finite number"),
        (["--ship-limit-mb", "inf"], "--ship-limit-mb inf: not a finite number of at least 1"),
        (["--ray-address", "ray://head:10001"], "add --executor ray, or drop --ray-address"),
        (["--executor", "local", "--ray-address", "auto"], "is for the ray executor, not local"),
        (["--out", f"runs/b{RLO}a"], "holds the bidirectional control U+202E"),
    ],
    ids=["grace-negative", "grace-nan", "grace-inf", "budget-cost-inf", "ship-limit-inf",
         "ray-address-local", "ray-address-explicit-local", "out-bidi"],
)  # fmt: skip
def test_batch_options_are_checked_before_anything_runs(
    tmp_path: Path, home: Path, task_folder: Path, args: list[str], said: str
) -> None:
    before = disk(tmp_path)
    run = greenloop("batch", str(task_folder.parent), "--out", str(tmp_path / "run"), *args,
                    "--model", "m", "--base-url", BASE_URL, cwd=tmp_path, home=home,
                    env={"DOCKER_HOST": DEAD_SOCKET})  # fmt: skip
    assert_refused(run, said)
    assert disk(tmp_path) == before


# ---------------------------------------------------------------- 4, 5. fix options


@pytest.mark.parametrize(
    ("args", "said", "fix"),
    [
        (["--context-tokens", "0"], "Invalid value for '--context-tokens'", False),
        (["--context-tokens", "-100"], "Invalid value for '--context-tokens'", False),
        (["--setup-cmd", "pip install 'shop"], "--setup-cmd \"pip install 'shop\" cannot be "
         "split into words (No closing quotation): close the quote", False),
        (["--setup-cmd", " "], "--setup-cmd is empty", True),
        (["--test-cmd", ""], "--test-cmd is empty", True),
        (["--test-cmd", "python -m pytest 'tests"], "cannot be split into words", False),
    ],
    ids=["context-zero", "context-negative", "setup-unbalanced", "setup-blank", "test-empty",
         "test-unbalanced"],
)  # fmt: skip
def test_fix_options_are_checked_before_anything_runs(
    tmp_path: Path, home: Path, shop: Path, args: list[str], said: str, fix: bool
) -> None:
    before = disk(tmp_path)
    run = greenloop("fix", str(shop), *args, *MODEL, cwd=tmp_path, home=home,
                    env={"DOCKER_HOST": DEAD_SOCKET})  # fmt: skip
    assert_refused(run, said, fix=fix)
    assert disk(tmp_path) == before
    assert [h.name for h in git.Repo(shop).heads] == ["main"]


# ---------------------------------------------------------------- 7. report --out FILE


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, finished batch of one task (the scripted model, the local sandbox)."""
    from agent.batch.scheduler import BatchOptions, load_batch_tasks, run_batch
    from agent.batch.task_run import TaskSettings
    from agent.model import ModelConfig, price_of
    from sandbox import SandboxConfig

    base = tmp_path_factory.mktemp("batch")
    shutil.copytree(ROOT / "tasks" / "00-add", base / "tasks" / "00-add")
    script = TaskScript.from_folders(base / "tasks", ROOT / "tests" / "fixtures" / "task_solutions")
    with FakeOpenAI(script) as srv:
        config = ModelConfig(model="fake", base_url=srv.base_url, api_key="k")
        settings = TaskSettings(model=config, model_name="fake", price=price_of(config),
                               sandbox=SandboxConfig(kind="local"))  # fmt: skip
        options = BatchOptions(out=base / "run", settings=settings, workers=1)
        summary = run_batch(load_batch_tasks(base / "tasks"), options)
    assert summary.done == 1, summary
    return base / "run"


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("notes.txt", "is not a folder: the comparison is written into a folder"),
        ("notes.txt/deeper", "is under notes.txt, not a folder"),
        (f"cmp{RLO}txt.md", "holds the bidirectional control U+202E"),
    ],
    ids=["a-file", "under-a-file", "bidi"],
)
def test_report_out_must_be_a_folder(
    tmp_path: Path, home: Path, batch_run: Path, out: str, said: str
) -> None:
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(batch_run, runs / name)
        # compare() writes a missing trajectory page: one missing shows it was never reached
        for page in (runs / name).rglob("trajectory.html"):
            page.unlink()
    (tmp_path / "notes.txt").write_text("my notes\n")
    before = disk(tmp_path)
    run = greenloop("report", str(runs / "a"), str(runs / "b"), "--out", out, cwd=tmp_path,
                    home=home)  # fmt: skip
    assert_refused(run, said, "fix: give --out a")  # a folder, a name without the control
    assert disk(tmp_path) == before


def test_report_out_a_folder_is_written(tmp_path: Path, home: Path, batch_run: Path) -> None:
    """The refusal above is of the file, not of comparing: a folder works."""
    run = greenloop("report", str(batch_run), str(batch_run), "--out", "cmp", cwd=tmp_path,
                    home=home)  # fmt: skip
    assert run.code == 0, run.err
    assert (tmp_path / "cmp" / "compare.md").is_file()


# ---------------------------------------------------------------- 8. new's dirty-out hint


def test_new_into_a_dirty_repository_names_what_new_offers(
    tmp_path: Path, home: Path, spec: Path
) -> None:
    out = make_repo(tmp_path / "project", {"README.md": "mine\n"})
    (out / "notes.txt").write_text("my unsaved notes\n")
    before = disk(tmp_path)
    run = greenloop("new", str(spec), "--out", str(out), *MODEL, cwd=tmp_path, home=home)
    assert_refused(run, "has uncommitted changes (notes.txt)", "give --out a new folder")
    assert "--allow-dirty" not in run.err  # new has no such option
    assert disk(tmp_path) == before


# ---------------------------------------------------------------- 9. bidirectional controls


def _bidi_task_folder(tmp_path: Path) -> tuple[list[str], Path]:
    folder = tmp_path / f"add{RLO}dda"
    shutil.copytree(ROOT / "tasks" / "00-add", folder)
    return ["new", "."], folder  # only the resolved name shows the character


def _bidi_task_path(tmp_path: Path) -> tuple[list[str], Path]:
    folder = tmp_path / "add\u2066er"
    shutil.copytree(ROOT / "tasks" / "00-add", folder)
    return ["new", str(folder)], tmp_path


def _bidi_spec(tmp_path: Path) -> tuple[list[str], Path]:
    path = tmp_path / f"adder{RLO}dm.md"
    path.write_text(SPEC)
    return ["new", str(path)], tmp_path


def _bidi_out(tmp_path: Path) -> tuple[list[str], Path]:
    path = tmp_path / "adder.md"
    path.write_text(SPEC)
    return ["new", str(path), "--out", str(tmp_path / "out\u2067x")], tmp_path


def _bidi_batch_task(tmp_path: Path) -> tuple[list[str], Path]:
    shutil.copytree(ROOT / "tasks" / "00-add", tmp_path / "tasks" / f"00-add{RLO}")
    return ["batch", str(tmp_path / "tasks"), "--out", str(tmp_path / "run")], tmp_path


def _jsonl_line(name: str) -> str:
    tests = {"tests/test_adder.py": "from adder import add\n\n\ndef test_add():\n"
             "    assert add(1, 2) == 3\n"}  # fmt: skip
    return json.dumps({"name": name, "spec": SPEC, "tests": tests}) + "\n"


def _bidi_jsonl_path(tmp_path: Path) -> tuple[list[str], Path]:
    path = tmp_path / f"tasks{RLO}lsonj.jsonl"
    path.write_text(_jsonl_line("adder"))
    return ["batch", str(path), "--out", str(tmp_path / "run")], tmp_path


def _bidi_jsonl_name(tmp_path: Path) -> tuple[list[str], Path]:
    path = tmp_path / "tasks.jsonl"
    path.write_text(_jsonl_line(f"add{RLO}er"))
    return ["batch", str(path), "--out", str(tmp_path / "run")], tmp_path


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_bidi_task_folder, "task folder name 'add\\u202edda' holds the bidirectional control"),
        (_bidi_task_path, "task path"),
        (_bidi_spec, "task path"),
        (_bidi_out, "--out folder"),
        (_bidi_batch_task, "task path"),
        (_bidi_jsonl_path, "tasks file path"),
        (_bidi_jsonl_name, "refused path 'add\\u202eer'"),  # also what the model is told
    ],
    ids=["task-folder-name", "task-path", "spec-path", "new-out", "batch-task-folder",
         "batch-jsonl-path", "batch-jsonl-task-name"],
)  # fmt: skip
def test_names_with_bidirectional_controls_are_refused(
    tmp_path: Path, home: Path, make: Any, said: str
) -> None:
    args, cwd = make(tmp_path)
    before = disk(tmp_path)
    run = greenloop(*args, *MODEL, "--sandbox", "local", cwd=cwd, home=home,
                    env={"DOCKER_HOST": DEAD_SOCKET})  # fmt: skip
    # the one-line checks of every path (sandbox.paths.check_name) say their fix inline
    assert_refused(run, said, "bidirectional control", fix="refused path" not in said)
    assert disk(tmp_path) == before


def test_a_file_the_model_names_with_a_bidi_control_is_refused_and_said_so(
    tmp_path: Path, home: Path, shop: Path
) -> None:
    evil = f"shop/util/nice{RLO}yp.py"
    script = Script("{}", {}, [search_replace(evil, "", "x = 1\n"), fix_reply("discount")])
    with FakeOpenAI(script) as srv:
        run = greenloop("fix", "--sandbox", "local", "--model", "fake", "--base-url",
                        srv.base_url, "--json", cwd=shop, home=home,
                        env={"OPENAI_API_KEY": "k"})  # fmt: skip
        prompts = [r.prompt for r in srv.chat_requests]
    assert run.code == 0, run.err
    told = [p for p in prompts if "bidirectional control" in p]
    assert told, "the refusal never reached the model"
    repo = git.Repo(shop)
    branch = json.loads(run.out)["branch"]
    committed = repo.git.ls_tree("-r", "--name-only", branch).splitlines()
    assert not [p for p in committed if RLO in p]
    assert not [p for p in shop.rglob("*") if RLO in p.name]


# ---------------------------------------------------------------- 11. task.toml bounds


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("timeout = 100000\n", "timeout"),
        ("wall_seconds = 1e9\n", "wall_seconds"),
        ("max_iterations = 1000\n", "max_iterations"),
        ("max_tokens = 99999999999\n", "max_tokens"),
        ("max_calls = 100000\n", "max_calls"),
        ("max_malformed = 5000\n", "max_malformed"),
        ("stuck_after = 1000\n", "stuck_after"),
        ("max_cost = 1e6\n", "max_cost"),
        ("max_cost = inf\n", "max_cost"),
        ("[limits]\nmemory_mb = 10000000\n", "limits.memory_mb"),
        ("[limits]\npids = 1000000\n", "limits.pids"),
    ],
)
def test_task_toml_values_above_their_bound_are_refused(
    tmp_path: Path, home: Path, task_folder: Path, toml: str, key: str
) -> None:
    (task_folder / "task.toml").write_text(toml)
    before = disk(tmp_path)
    run = greenloop("new", str(task_folder), "--out", str(tmp_path / "out"), *MODEL,
                    cwd=tmp_path, home=home)  # fmt: skip
    name = key.rpartition(".")[2]
    if toml != "max_cost = inf\n":
        said = f"{key}: Input should be less than or equal to {int(CAPS[name])}"
    else:
        said = f"{key}: Input should be a finite number"
    # task.toml's errors carry their fix in the one line (tests/test_trust.py)
    assert_refused(run, said, "fix or remove the keys named", fix=False)
    assert disk(tmp_path) == before


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [("--max-tokens", "99999999999", "max_tokens"), ("--max-iterations", "5000", "max_iterations")],
)
def test_new_budget_flags_above_their_bound_are_refused(
    tmp_path: Path, home: Path, task_folder: Path, flag: str, value: str, key: str
) -> None:
    before = disk(tmp_path)
    run = greenloop("new", str(task_folder), "--out", str(tmp_path / "out"), flag, value,
                    *MODEL, cwd=tmp_path, home=home)  # fmt: skip
    assert_refused(run, f"{key}: Input should be less than or equal to {int(CAPS[key])}")
    assert disk(tmp_path) == before
