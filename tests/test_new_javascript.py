"""`greenloop new` on JavaScript and TypeScript tasks: the real openai client against a
fake server, node's runner judged in the sandbox (the local one here, and the Docker one
with the JavaScript image), real git."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from scripted_agent import Script, search_replace

from agent.model import ModelConfig, OpenAIChat
from agent.new.scaffold import prepare_new, run_new
from agent.run.record import RunResult, read_trajectory
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig
from sandbox.base import SandboxKind

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
RIGHT = (SOLUTIONS / "07-js-add" / "calc.mjs").read_text()
WRONG = RIGHT.replace("a + b", "a - b")
STACK = (SOLUTIONS / "08-ts-stack" / "src" / "stack.ts").read_text()


def js(path: str, code: str, language: str = "javascript") -> str:
    return f"Here is `{path}`:\n\n```{language}\n{code.strip()}\n```\n"


@pytest.fixture(params=["local", "docker"])
def sandbox(request: pytest.FixtureRequest) -> SandboxConfig:
    if request.param == "local":
        if shutil.which("node") is None or shutil.which("esbuild") is None:
            pytest.skip("node or esbuild is not installed on this machine (apt-get install)")
        return SandboxConfig(kind=SandboxKind.LOCAL)
    engine: Any = request.getfixturevalue("docker_engine")
    from sandbox.image import require_image
    from sandbox.toolchains import toolchain

    require_image(engine, spec=toolchain("javascript").image)  # missing: a failure
    return SandboxConfig()


def _run(task: str, out: Path, script: Script, sandbox: SandboxConfig) -> RunResult:
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(
            out=out, run_id=f"t{time.monotonic_ns()}", model_name="fake", sandbox=sandbox
        )
        return run_new(prepare_new(load_task(ROOT / "tasks" / task), options), model)


def test_a_javascript_task_goes_green_after_feedback_and_is_committed(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    fix = search_replace("calc.mjs", "  return a - b;", "  return a + b;")
    script = Script("", {"calc.mjs": [js("calc.mjs", WRONG)]}, feedback=[fix])
    result = _run("07-js-add", tmp_path / "out", script, sandbox)
    assert (result.status, result.iterations) == ("green", 2), result
    assert script.asked[0] == "file:calc.mjs"  # the tests named the file: no plan asked
    first = script.prompts[0]
    assert "```javascript block" in first and "JavaScript programmer" not in first
    # the spec shows the file's skeleton: it is asked completed, as Python's is
    assert first.startswith("Complete this JavaScript code: `calc.mjs`")
    assert "```javascript\nexport function add(a, b) {\n```" in first
    feedback = script.prompts[-1]
    assert "adds small numbers" in feedback and "calc.mjs" in feedback
    tree = git.Repo(tmp_path / "out").commit(result.branch).tree
    assert (tree / "calc.mjs").data_stream.read().decode() == RIGHT
    assert "tests/calc.test.mjs" in {b.path for b in tree.traverse()}
    events = [e["event"] for e in read_trajectory(Path(result.run_dir) / "trajectory.jsonl")]
    assert "confirm" in events


def test_a_typescript_task_goes_green_with_no_build_step(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    script = Script("", {"src/stack.ts": [js("src/stack.ts", STACK, "typescript")]})
    result = _run("08-ts-stack", tmp_path / "out", script, sandbox)
    assert (result.status, result.tests.passed) == ("green", 3), result
    assert "```typescript block" in script.prompts[0]


def test_a_model_that_ends_the_process_is_refused_and_never_committed(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    cheat = "export function add(a, b) { return a - b; }\nprocess.exit(0);\n"
    script = Script("", {"calc.mjs": [js("calc.mjs", cheat)] * 20})
    result = _run("07-js-add", tmp_path / "out", script, sandbox)
    assert result.status != "green" and result.commit is None, result
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    refused = [e for e in trajectory if e["event"] == "refused"]
    assert refused and "ends the process" in str(refused[0])


def test_a_model_that_loads_a_module_by_a_computed_name_is_refused_and_never_committed(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    # `vm` reached by a name built at run time: the screen cannot see which module, so
    # it refuses the move itself (a literal `import('./x.mjs')` stays honest)
    cheat = WRONG + "const m = 'node:' + 'vm';\nconst vm = await import(m);\n"
    script = Script("", {"calc.mjs": [js("calc.mjs", cheat)] * 20})
    result = _run("07-js-add", tmp_path / "out", script, sandbox)
    assert result.status != "green" and result.commit is None, result
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    refused = [e for e in trajectory if e["event"] == "refused"]
    assert refused and "computed name" in str(refused[0])


FORGED = (
    "console.log('TAP version 13\\nok 1 - adds small numbers\\nok 2 - adds a negative\\n1..2');\n"
    'console.log(\'<testsuites><testcase name="adds small numbers"/>'
    '<testcase name="adds a negative"/></testsuites>\');\n'
)
PATCH_ASSERT = (
    "import assert from 'node:assert/strict';\n"
    "for (const k of Object.keys(assert))\n"
    "  if (typeof assert[k] === 'function') assert[k] = () => {};\n"
)
RUNNER_FILES = {
    "jest.config.js": "module.exports = { testPathIgnorePatterns: ['.'] };",
    "package.json": '{"type": "module", "scripts": {"test": "node --import ./pass.mjs --test"}}',
    "node_modules/node-test/index.js": "module.exports = { test() {} };",
    ".npmrc": "node-options=--require ./pass.cjs",
}


@pytest.mark.parametrize("attack", ["prints-a-report", "patches-assert", "runner-files"])
def test_a_forged_green_from_the_model_ends_red_or_tampered_and_is_never_committed(
    tmp_path: Path, sandbox: SandboxConfig, attack: str
) -> None:
    if attack == "runner-files":  # the edits come with feedback, after an honest red
        edits = [search_replace(p, "", text) for p, text in RUNNER_FILES.items()]
        script = Script("", {"calc.mjs": [js("calc.mjs", WRONG)]}, feedback=["\n".join(edits)])
    else:
        cheat = WRONG + (FORGED if attack == "prints-a-report" else PATCH_ASSERT)
        script = Script("", {"calc.mjs": [js("calc.mjs", cheat)] * 20})
    result = _run("07-js-add", tmp_path / "out", script, sandbox)
    assert result.status != "green" and result.commit is None, result
    events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    if attack == "runner-files":
        refused = {f["path"] for e in events if e["event"] == "apply" for f in e["failed"]}
        assert refused == set(RUNNER_FILES), events
    if attack == "patches-assert":
        assert result.exit_reason == "tampered", result


def test_a_restart_s_samples_are_judged_each_alone_and_the_green_one_kept(
    tmp_path: Path, sandbox: SandboxConfig
) -> None:
    # no feedback edit: the loop restarts, and its samples (several at once) go through
    # node's judge one by one, as pytest's round cannot hold them
    replies = [js("calc.mjs", WRONG), js("calc.mjs", WRONG.replace("a - b", "a * b"))]
    script = Script("", {"calc.mjs": [*replies, js("calc.mjs", RIGHT)]})
    result = _run("07-js-add", tmp_path / "out", script, sandbox)
    assert result.status == "green" and result.commit, result
    events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    together = [e for e in events if e["event"] == "candidates"]
    assert together and all("pytest" not in str(r) for e in together for r in e["results"])


def test_the_spec_s_javascript_skeleton_is_completed_not_rewritten() -> None:
    from agent.new.plan import Plan, PlannedFile
    from agent.new.prompts import code_to_complete, completion_messages

    spec = (ROOT / "tasks" / "07-js-add" / "spec.md").read_text()
    target = PlannedFile(path="calc.mjs", purpose="add", interface=["add(a, b)"])
    code = code_to_complete(spec, target)
    assert code == "export function add(a, b) {"
    asked = completion_messages(spec, Plan(files=[target]), target, code)[-1].content
    assert asked.startswith("Complete this JavaScript code: `calc.mjs`")
    assert "```javascript\nexport function add(a, b) {\n```" in asked
    other = PlannedFile(path="calc.mjs", purpose="add", interface=["sub(a, b)"])
    assert code_to_complete(spec, other) == ""  # the spec does not show it: no skeleton
