"""`greenloop new` end to end: the real openai client against a fake server, the real
Docker sandbox, real git. Each scenario is one small task folder made in tmp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from fizzbuzz_case import BUGGY, FIX, GOOD, PLAN, fizzbuzz_task, user_repo
from scripted_agent import Script, fenced, search_replace

from agent.model import ModelConfig, OpenAIChat
from agent.new.scaffold import prepare_new, run_new
from agent.run.codec import read_events
from agent.run.record import RunResult, read_result, read_trajectory, unusable
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def task_dir(tmp_path: Path) -> Path:
    return fizzbuzz_task(tmp_path / "task")


@pytest.fixture()
def out_repo(tmp_path: Path) -> Path:
    return user_repo(tmp_path / "out")


def _run(task_dir: Path, out: Path, script: Script, sandbox_image: str, **kw: Any) -> RunResult:
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(
            out=out,
            run_id=f"t{time.monotonic_ns()}",
            model_name="fake",
            sandbox=SandboxConfig(image=sandbox_image),
            **kw,
        )
        return run_new(prepare_new(load_task(task_dir), options), model)


def _tip(out: Path, ref: str) -> str:
    return git.Repo(out).commit(ref).hexsha


def test_green_first_try_commits_on_the_run_branch(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    main_before = _tip(out_repo, "main")
    result = _run(
        task_dir,
        out_repo,
        Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)]}),
        sandbox_image,
    )
    assert (result.status, result.exit_reason, result.iterations) == ("green", "green", 1)
    assert result.branch and result.branch.startswith("greenloop/")
    assert _tip(out_repo, "main") == main_before
    message = git.Repo(out_repo).commit(result.branch).message
    for trailer in ("Greenloop-Run: ", "Model: fake", "Tokens: ", "Tests: 4 passed"):
        assert trailer in message
    tree = {b.path for b in git.Repo(out_repo).commit(result.branch).tree.traverse()}
    assert {"fizzbuzz.py", "tests/test_fizzbuzz.py", "README.md"} <= tree
    saved = read_result(Path(result.run_dir))
    assert saved is not None and saved["status"] == "green"


def test_red_then_search_replace_fix_is_green_on_iteration_two(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [FIX])
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert (result.status, result.iterations) == ("green", 2)
    assert result.history == [3, 4]
    assert "test_fizzbuzz" in next(p for p in script.prompts if "Test results" in p)
    assert (out_repo / "fizzbuzz.py").read_text().count("FizzBuzz") == 1


def test_edit_to_a_test_file_is_refused_and_fed_back(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    pristine = (task_dir / "tests" / "test_fizzbuzz.py").read_bytes()
    cheat = search_replace(
        "tests/test_fizzbuzz.py",
        '    assert fizzbuzz(15) == "FizzBuzz"',
        '    assert fizzbuzz(15) == "Fizz"',
    )
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [cheat, FIX])
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert result.status == "green"
    feedback = [p for p in script.prompts if "Test results" in p]
    assert len(feedback) == 2
    assert "NOT applied" in feedback[1] and "tests/test_fizzbuzz.py" in feedback[1]
    committed = git.Repo(out_repo).commit(result.branch).tree / "tests/test_fizzbuzz.py"
    assert committed.data_stream.read() == pristine
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    refusals = [e for e in trajectory if e["event"] == "apply" and e["failed"]]
    assert refusals and "test" in refusals[0]["failed"][0]["reason"]


def test_malformed_replies_until_the_budget(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    prose = "Sure! I would write a function that checks divisibility."
    script = Script(PLAN, {"fizzbuzz.py": [prose]}, [prose])
    toml = task_dir / "task.toml"
    toml.write_text(toml.read_text() + "candidates = 4\n")
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert (result.status, result.exit_reason) == ("red", "malformed")
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    assert [len(e["seeds"]) for e in trajectory if e["event"] == "restart"] == [4]
    # The budget (3) ends the run: the first file, the feedback, then a restart none of
    # whose samples held code (one charge, however many samples it drew). The result
    # counts every unusable reply the trajectory holds, and names the charge apart.
    assert result.malformed_charged == 3
    typed = read_events(Path(result.run_dir) / "trajectory.jsonl", strict=True)
    assert result.malformed == sum(unusable(e.event) for e in typed) == 6
    assert result.commit is None and result.branch is None
    assert [h.name for h in git.Repo(out_repo).heads] == ["main"]


def test_edits_that_change_nothing_count_as_malformed_in_the_result(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    """Regression: a run ending `malformed` on edits that do not apply reports the true count."""
    toml = task_dir / "task.toml"
    toml.write_text(toml.read_text().replace("max_malformed = 3", "max_malformed = 2"))
    miss = search_replace("fizzbuzz.py", "    return 'no such line'", "    return 'x'")
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [miss])
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert (result.status, result.exit_reason) == ("red", "malformed")
    on_disk = read_result(Path(result.run_dir))
    assert on_disk is not None and on_disk["malformed"] == result.malformed == 2
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    calls = [e for e in trajectory if e["event"] == "model"]
    assert on_disk["model_calls"] == len(calls)
    assert on_disk["tokens"]["prompt"] == sum(e["prompt_tokens"] for e in calls)


def test_the_same_failure_repeated_is_stuck(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    other = search_replace("fizzbuzz.py", "    return str(n)", "    return f'{n}'")
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [other])
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert (result.status, result.exit_reason) == ("red", "stuck")
    assert result.iterations == 2
    assert result.commit is None


def test_a_path_outside_the_out_dir_is_rejected(
    task_dir: Path, out_repo: Path, sandbox_image: str, tmp_path: Path
) -> None:
    evil = search_replace("../../evil.py", "", "import os\nos.system('touch /tmp/pwned')")
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [evil, FIX])
    before = set(tmp_path.parent.rglob("evil.py"))
    result = _run(task_dir, out_repo, script, sandbox_image)
    assert result.status == "green"
    assert set(tmp_path.parent.rglob("evil.py")) == before
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    failed = [f for e in trajectory if e["event"] == "apply" for f in e["failed"]]
    assert failed and failed[0]["path"] == "../../evil.py"


def test_a_dotenv_in_the_output_is_not_committed(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    plan = json.dumps(
        {
            "files": [
                {"path": "fizzbuzz.py", "purpose": "fizzbuzz", "interface": ["fizzbuzz(n)"]},
                {"path": ".env", "purpose": "settings", "interface": []},
            ]
        }
    )
    files = {
        "fizzbuzz.py": [fenced("fizzbuzz.py", GOOD)],
        ".env": ["```\nAPI_TOKEN=not-for-git\n```"],
    }
    with (task_dir / "spec.md").open("a") as spec:  # so the plan is asked, not implied
        spec.write("\nThe API token lives in `.env`.\n")
    result = _run(task_dir, out_repo, Script(plan, files), sandbox_image)
    assert result.status == "green" and result.commit
    tree = {b.path for b in git.Repo(out_repo).commit(result.commit).tree.traverse()}
    assert "fizzbuzz.py" in tree and ".env" not in tree
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    assert any(e["event"] == "not_committed" and ".env" in e["files"] for e in trajectory)


_KILLED_RUN = """
import sys, time
from pathlib import Path
from fake_openai import FakeOpenAI, Reply
from agent.model import ModelConfig, OpenAIChat
from agent.new.scaffold import prepare_new, run_new
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig
plan = sys.argv[3]
def slow(request):
    if "JSON plan" in request.prompt:
        return Reply(text=plan)
    if "Write the file" in request.prompt or "Complete this Python code" in request.prompt:
        return Reply(text="```python\\ndef fizzbuzz(n):\\n    return str(n)\\n```")
    print("feedback asked", flush=True)
    return Reply(text="thinking", latency=60)
with FakeOpenAI(slow) as srv:
    model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
    opts = RunSettings(out=Path(sys.argv[2]), run_id="killed", model_name="fake",
                       sandbox=SandboxConfig(image=sys.argv[4]))
    run_new(prepare_new(load_task(Path(sys.argv[1])), opts), model)
"""


def test_killing_the_process_mid_run_leaves_a_readable_record(
    task_dir: Path, out_repo: Path, sandbox_image: str
) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(task_dir), str(out_repo), PLAN, sandbox_image],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "feedback asked"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = out_repo / ".greenloop" / "runs" / "killed"
    events = [e["event"] for e in read_trajectory(run_dir / "trajectory.jsonl")]
    # no plan is asked for fizzbuzz (its tests imply it): the run starts with the plan
    assert events[:2] == ["plan_skipped", "plan"] and "test" in events
    result = read_result(run_dir)
    assert result is not None
    assert (result["status"], result["exit_reason"]) == ("error", "interrupted")
    assert result["tests"] == {"passed": 1, "failed": 3, "errors": 0}
    assert [h.name for h in git.Repo(out_repo).heads] == ["main"]


@pytest.fixture(autouse=True)
def _no_leftover_containers(docker_engine: Any) -> Iterator[None]:
    yield
    from sandbox.prune import prune

    prune(docker_engine)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "greenloop"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=300
    )


def test_cli_run_records_a_cassette_that_replays_without_a_model(
    task_dir: Path, tmp_path: Path, sandbox_image: str
) -> None:
    script = Script(PLAN, {"fizzbuzz.py": [fenced("fizzbuzz.py", BUGGY)]}, [FIX])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GREENLOOP"))}
    with FakeOpenAI(script) as srv:
        first = _cli(
            "new", str(task_dir), "--out", str(tmp_path / "a"), "--json",
            "--model", "fake", "--base-url", srv.base_url, env={**env, "OPENAI_API_KEY": "k"},
        )  # fmt: skip
    assert first.returncode == 0, first.stderr
    recorded = json.loads(first.stdout)
    cassette = Path(recorded["run_dir"]) / "cassette.jsonl"
    assert cassette.is_file()
    again = _cli("new", str(task_dir), "--out", str(tmp_path / "b"), "--json",
                 "--replay", str(cassette), env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    replayed = json.loads(again.stdout)
    for key in ("status", "iterations", "tokens", "tests", "history"):
        assert replayed[key] == recorded[key]
    changed = task_dir / "spec.md"
    changed.write_text(changed.read_text() + "\nAlso handle negative numbers.\n")
    miss = _cli("new", str(task_dir), "--out", str(tmp_path / "c"), "--replay", str(cassette),
                env=env)  # fmt: skip
    assert miss.returncode == 1
    assert "cassette" in miss.stderr.lower()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t, o: t / "nope", "no task at"),
        (lambda t, o: (t / "spec.md").write_text("  \n") and t, "empty"),
        (lambda t, o: t, "inside the task folder"),
    ],
    ids=["missing-spec", "empty-spec", "out-inside-task"],
)
def test_bad_input_is_refused_with_nothing_touched(
    task_dir: Path, tmp_path: Path, make: Any, message: str
) -> None:
    target = make(task_dir, tmp_path)
    out = task_dir / "out" if message == "inside the task folder" else tmp_path / "o"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = _cli("new", str(target), "--out", str(out), "--model", "local")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_out_dir_with_unrelated_uncommitted_work_is_refused(task_dir: Path, out_repo: Path) -> None:
    (out_repo / "notes.txt").write_text("my unsaved notes\n")
    proc = _cli("new", str(task_dir), "--out", str(out_repo), "--model", "local")
    assert proc.returncode == 2
    assert "uncommitted" in proc.stderr and "--allow-dirty" not in proc.stderr
    assert (out_repo / "notes.txt").read_text() == "my unsaved notes\n"
    assert [h.name for h in git.Repo(out_repo).heads] == ["main"]


def test_spec_without_tests_gets_generated_tests_and_says_so(
    tmp_path: Path, out_repo: Path, sandbox_image: str
) -> None:
    spec = tmp_path / "adder.md"
    spec.write_text("# Adder\n\nWrite `adder.py` with `add(a, b)` returning the sum.\n")
    plan = json.dumps(
        {
            "files": [{"path": "adder.py", "purpose": "add", "interface": ["add(a, b)"]}],
            "test_files": [{"path": "tests/test_adder.py", "purpose": "tests of add"}],
        }
    )
    files = {
        "adder.py": [fenced("adder.py", "def add(a, b):\n    return a + b")],
        "tests/test_adder.py": [
            fenced("tests/test_adder.py", "from adder import add\n\ndef test_add():\n"
                   "    assert add(2, 3) == 5")
        ],
    }  # fmt: skip
    script = Script(plan, files)
    result = _run(spec, out_repo, script, sandbox_image)
    assert (result.status, result.tests_generated) == ("green", True)
    assert result.tests.passed == 1
    tree = {b.path for b in git.Repo(out_repo).commit(result.branch).tree.traverse()}
    assert {"adder.py", "tests/test_adder.py"} <= tree
    assert "JSON plan" in script.prompts[0] and "test_files" in script.prompts[0]
