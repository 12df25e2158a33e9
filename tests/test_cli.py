"""The `greenloop` command line, driven the way a user drives it.

Most tests run the real console script (the `greenloop` next to this
interpreter) in a subprocess, so `main()`'s error-to-exit-code mapping and
the console-script wiring are exercised too. Tests that need Docker use the
`docker_engine`/`sandbox_image` fixtures and skip only when no engine answers;
everything that does not need an engine (usage errors, `--sandbox local`,
a dead DOCKER_HOST) runs everywhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GREENLOOP = Path(sys.executable).with_name("greenloop")
DEAD_SOCKET = "unix:///nonexistent.sock"


@dataclass(frozen=True)
class Run:
    """What one `greenloop` process did."""

    code: int
    stdout: str
    stderr: str
    pid: int


def greenloop(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run the real console script; wide, colourless output so tables do not wrap."""
    full_env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    full_env.update(env or {})
    with subprocess.Popen(
        [str(GREENLOOP), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=full_env,
        encoding="utf-8",
    ) as proc:
        stdout, stderr = proc.communicate(timeout=timeout)
    return Run(proc.returncode, stdout, stderr, proc.pid)


def table_rows(text: str) -> dict[str, list[str]]:
    """A rich table's rows by their first cell, wrapped cells joined back up."""
    rows: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0]:
            current = rows.setdefault(cells[0], cells)
        elif current is not None and len(cells) == len(current):
            current[:] = [f"{a} {b}".strip() for a, b in zip(current, cells, strict=True)]
    return rows


# -- fixture projects: one small project per scenario -------------------------------------

CALC = "def add(a: int, b: int) -> int:\n    return a + b\n"

PROJECTS: dict[str, dict[str, str]] = {
    "green": {
        "calc.py": CALC,
        "tests/test_calc.py": (
            "import pytest\n\nfrom calc import add\n\n\n"
            "@pytest.mark.parametrize(('a', 'b', 'total'), [(1, 2, 3), (0, 0, 0)])\n"
            "def test_add(a: int, b: int, total: int) -> None:\n"
            "    assert add(a, b) == total\n\n\n"
            "def test_add_negative() -> None:\n"
            "    assert add(-1, 1) == 0\n"
        ),
    },
    "red": {
        "calc.py": CALC,
        "tests/test_calc.py": (
            "from calc import add\n\n\n"
            "def test_add() -> None:\n"
            "    assert add(1, 2) == 3\n\n\n"
            "def test_add_wrong() -> None:\n"
            "    assert add(2, 2) == 5\n"
        ),
    },
    "broken": {
        "calc.py": CALC,
        "tests/test_ok.py": "from calc import add\n\n\ndef test_add() -> None:\n"
        "    assert add(1, 2) == 3\n",
        "tests/test_broken.py": "import module_that_does_not_exist\n\n\n"
        "def test_never_runs() -> None:\n    assert module_that_does_not_exist\n",
    },
}


def make_project(root: Path, name: str) -> Path:
    project = root / name
    for rel, text in PROJECTS[name].items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


@dataclass(frozen=True)
class Scenario:
    project: str
    exit_code: int
    passed: int
    failed: int
    errors: int
    bad: dict[str, tuple[str, str]]
    """Failing test id -> (outcome, a piece of its message)."""


SCENARIOS = [
    Scenario("green", 0, passed=3, failed=0, errors=0, bad={}),
    Scenario(
        "red",
        1,
        passed=1,
        failed=1,
        errors=0,
        bad={"tests/test_calc.py::test_add_wrong": ("failed", "assert 4 == 5")},
    ),
    Scenario(
        "broken",
        1,
        passed=1,
        failed=0,
        errors=1,
        bad={"tests/test_broken.py": ("error", "module_that_does_not_exist")},
    ),
]


@pytest.fixture(params=["docker", "local"])
def sandbox_kind(request: pytest.FixtureRequest) -> str:
    """Each sandbox the CLI offers; the docker one skips only where no engine answers."""
    kind: str = request.param
    if kind == "docker":
        request.getfixturevalue("sandbox_image")
    return kind


# -- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "listed"),
    [(["--help"], ["doctor", "sandbox"]), (["sandbox", "--help"], ["build", "test", "prune"])],
)
def test_help_lists_the_commands(args: list[str], listed: list[str]) -> None:
    run = greenloop(*args)
    assert run.code == 0, run.stderr
    for command in listed:
        assert re.search(rf"^\W*{command}\b", run.stdout, re.MULTILINE), run.stdout


# -- sandbox test -----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.project for s in SCENARIOS])
def test_sandbox_test_json_report(
    tmp_path: Path, sandbox_kind: str, scenario: Scenario, request: pytest.FixtureRequest
) -> None:
    project = make_project(tmp_path, scenario.project)
    run = greenloop("sandbox", "test", str(project), "--json", "--sandbox", sandbox_kind)

    assert run.code == scenario.exit_code, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    assert report["passed"] == scenario.passed
    assert report["failed"] == scenario.failed
    assert report["errors"] == scenario.errors
    assert report["timed_out"] is False
    assert isinstance(report["duration"], float) and report["duration"] > 0
    assert all({"id", "outcome", "message"} <= set(t) for t in report["tests"])
    outcomes = {t["id"]: (t["outcome"], t["message"]) for t in report["tests"]}
    for test_id, (outcome, fragment) in scenario.bad.items():
        assert outcomes[test_id][0] == outcome, outcomes
        assert fragment in outcomes[test_id][1]
    good = [o for i, (o, _) in outcomes.items() if i not in scenario.bad]
    assert good == ["passed"] * scenario.passed

    warned = "not isolated" in run.stderr.lower()
    assert warned == (sandbox_kind == "local"), run.stderr
    if sandbox_kind == "docker":
        engine = request.getfixturevalue("docker_engine")
        left = engine.containers.list(all=True, filters={"label": f"greenloop.pid={run.pid}"})
        assert left == [], "the CLI left its sandbox container behind"


def test_sandbox_test_prints_a_summary_without_json(tmp_path: Path) -> None:
    run = greenloop("sandbox", "test", str(make_project(tmp_path, "red")), "--sandbox", "local")
    assert run.code == 1
    assert run.stdout == ""
    assert "tests/test_calc.py::test_add_wrong" in run.stderr
    assert "1 passed, 1 failed, 0 errors" in run.stderr


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("missing", [], "name the project folder to test"),
        ("a_file.py", [], "name the project folder to test"),
        ("green", ["--sandbox", "vm"], "'vm' is not one of 'docker', 'local'"),
    ],
)
def test_sandbox_test_usage_errors_exit_2(
    tmp_path: Path, target: str, extra: list[str], message: str
) -> None:
    if target in PROJECTS:
        make_project(tmp_path, target)
    (tmp_path / "a_file.py").write_text("x = 1\n")
    run = greenloop("sandbox", "test", str(tmp_path / target), *extra)
    assert run.code == 2
    assert "error" in run.stderr.lower()
    assert message in " ".join(run.stderr.split())
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "spec.md", "--sandbox", "vm"], "'vm' is not one of 'docker', 'local'"),
        (["new", "spec.md", "--edit-format", "diff"], "'diff' is not one of 'search-replace'"),
        (["fix", ".", "--edit-format", "diff"], "'diff' is not one of 'search-replace'"),
        (["fix", ".", "--sandbox", "vm"], "'vm' is not one of 'docker', 'local'"),
        (["batch", "tasks", "--executor", "slurm"], "'slurm' is not one of 'local', 'ray'"),
        (["batch", "tasks", "--edit-format", "udiff"], "'udiff' is not one of 'search-replace'"),
    ],
)
def test_option_choices_are_checked_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = greenloop(*args, env={"DOCKER_HOST": DEAD_SOCKET, "HOME": str(tmp_path)})
    assert run.code == 2, run.stderr
    assert message in " ".join(run.stderr.split())
    assert "Traceback" not in run.stderr


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_reports_engine_and_image_ok(sandbox_image: str) -> None:
    run = greenloop("doctor")
    rows = table_rows(run.stdout)
    assert rows["docker engine"][1] == "ok", rows
    assert re.search(r"version \d+\.\d+", rows["docker engine"][2])
    assert rows["sandbox image"][1] == "ok", rows
    assert sandbox_image in rows["sandbox image"][2]
    # Exit 0 exactly when every row (a model row too, once there is one) is fine.
    assert (run.code == 0) == all(row[1] == "ok" for row in rows.values()), run.stdout


def test_doctor_with_a_dead_engine_names_the_fix() -> None:
    run = greenloop("doctor", env={"DOCKER_HOST": DEAD_SOCKET})
    rows = table_rows(run.stdout)
    assert run.code != 0
    engine, image = rows["docker engine"], rows["sandbox image"]
    assert engine[1] == "missing" and image[1] == "missing", rows
    assert "DOCKER_HOST" in engine[3]
    assert "dockerd" in engine[3]
    assert "engine" in image[3]


@pytest.mark.parametrize("args", [["sandbox", "prune"], ["sandbox", "test", "{project}"]])
def test_commands_needing_a_dead_engine_fail_with_the_fix(tmp_path: Path, args: list[str]) -> None:
    project = make_project(tmp_path, "green")
    run = greenloop(*(a.format(project=project) for a in args), env={"DOCKER_HOST": DEAD_SOCKET})
    text = " ".join(run.stderr.split())
    assert run.code == 1
    assert "no Docker engine answers" in text
    assert "DOCKER_HOST" in text
    assert "--sandbox local" in text
    assert "Traceback" not in run.stderr
    lines = [line.strip() for line in run.stderr.splitlines()]
    error = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    fix = next(i for i, line in enumerate(lines) if line.startswith("fix:"))
    assert error < fix, run.stderr  # the advice on its own line, after the error
    assert "Fix:" not in run.stderr


# -- prune ------------------------------------------------------------------------------------


def test_sandbox_prune_exits_0(docker_engine: Any) -> None:
    run = greenloop("sandbox", "prune")
    assert run.code == 0, run.stderr
    assert re.search(r"removed \d+ containers, \d+ volumes", run.stderr)


def test_doctor_names_the_model_a_run_would_use_and_asks_it() -> None:
    from fake_openai import FakeOpenAI, Reply

    with FakeOpenAI([Reply(text="OK")]) as srv:
        run = greenloop(
            "doctor",
            env={"GREENLOOP_MODEL": "fake-model", "GREENLOOP_BASE_URL": srv.base_url,
                 "OPENAI_API_KEY": "k"},
        )  # fmt: skip
        asked = len(srv.chat_requests)
    model = table_rows(run.stdout)["model"]
    assert model[1] == "ok", model
    assert "fake-model" in model[2] and srv.base_url in model[2] and "OK" in model[2]
    assert asked == 1


def test_doctor_with_an_unreachable_endpoint_names_the_fix() -> None:
    run = greenloop(
        "doctor", "--model", "fake-model", "--base-url", "http://127.0.0.1:9/v1",
        env={"OPENAI_API_KEY": "k"},
    )  # fmt: skip
    model = table_rows(run.stdout)["model"]
    assert run.code != 0
    assert model[1] == "missing"
    assert "127.0.0.1:9" in model[3]
