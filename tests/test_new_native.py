"""`greenloop new` on Go and Rust tasks: the real openai client against a fake server,
`go test` and `cargo test` judged in the Docker sandbox with each toolchain's image,
real git."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import git
from fake_openai import FakeOpenAI
from scripted_agent import Script, search_replace

from agent.model import ModelConfig, OpenAIChat
from agent.new.scaffold import prepare_new, run_new
from agent.run.record import RunResult, read_trajectory
from agent.run.settings import RunSettings
from agent.task import load_task
from sandbox import SandboxConfig

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "task_solutions"
GO_RIGHT = (SOLUTIONS / "09-go-add" / "calc.go").read_text()
RUST_RIGHT = (SOLUTIONS / "10-rust-add" / "src" / "lib.rs").read_text()


def reply(path: str, code: str, fence: str) -> str:
    return f"Here is `{path}`:\n\n```{fence}\n{code.strip()}\n```\n"


def _sandbox(engine: Any, name: str) -> SandboxConfig:
    from sandbox.image import require_image
    from sandbox.toolchains import toolchain

    require_image(engine, spec=toolchain(name).image)  # missing: a failure, not a skip
    return SandboxConfig()


def _run(task: str, out: Path, script: Script, sandbox: SandboxConfig) -> RunResult:
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(
            out=out, run_id=f"t{time.monotonic_ns()}", model_name="fake", sandbox=sandbox
        )
        return run_new(prepare_new(load_task(ROOT / "tasks" / task), options), model)


def _events(result: RunResult, kind: str) -> list[dict[str, Any]]:
    trajectory = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    return [e for e in trajectory if e["event"] == kind]


def test_a_go_task_goes_green_after_feedback_and_is_committed(
    tmp_path: Path, docker_engine: Any
) -> None:
    # the model leaves out the package clause (put back from the tests' import) and
    # subtracts; the failing test's message goes back and the edit makes it green
    wrong = GO_RIGHT.replace("package calc\n\n", "").replace("a + b", "a - b")
    fix = search_replace("calc.go", "\treturn a - b", "\treturn a + b")
    script = Script("", {"calc.go": [reply("calc.go", wrong, "go")]}, feedback=[fix])
    result = _run("09-go-add", tmp_path / "out", script, _sandbox(docker_engine, "go"))
    assert (result.status, result.iterations, result.language) == ("green", 2, "go"), result
    assert script.asked[0] == "file:calc.go"  # the tests' import named the file: no plan
    first = script.prompts[0]
    assert first.startswith("Complete this Go code: `calc.go`") and "```go block" in first
    assert "TestAddSmallNumbers" in script.prompts[-1]
    tree = git.Repo(tmp_path / "out").commit(result.branch).tree
    assert (tree / "calc.go").data_stream.read().decode().strip() == GO_RIGHT.strip()
    assert {"go.mod", "tests/calc_test.go"} <= {b.path for b in tree.traverse()}
    assert result.tests.passed == 2


def test_a_rust_task_goes_green_and_a_private_function_is_made_public(
    tmp_path: Path, docker_engine: Any
) -> None:
    private = RUST_RIGHT.replace("pub fn add", "fn add")
    script = Script("", {"src/lib.rs": [reply("src/lib.rs", private, "rust")]})
    result = _run("10-rust-add", tmp_path / "out", script, _sandbox(docker_engine, "rust"))
    assert (result.status, result.tests.passed, result.language) == ("green", 2, "rust"), result
    assert "```rust block" in script.prompts[0]
    tree = git.Repo(tmp_path / "out").commit(result.branch).tree
    assert "pub fn add(a: i64, b: i64)" in (tree / "src/lib.rs").data_stream.read().decode()


def test_a_go_model_that_exits_in_init_is_never_committed(
    tmp_path: Path, docker_engine: Any
) -> None:
    cheat = GO_RIGHT.replace("a + b", "a - b") + "\nfunc init() {\n\tos.Exit(0)\n}\n"
    cheat = cheat.replace("package calc\n", 'package calc\n\nimport "os"\n')
    script = Script("", {"calc.go": [reply("calc.go", cheat, "go")] * 20})
    result = _run("09-go-add", tmp_path / "out", script, _sandbox(docker_engine, "go"))
    assert result.status != "green" and result.commit is None, result


def test_a_go_model_that_prints_a_forged_pass_is_never_committed(
    tmp_path: Path, docker_engine: Any
) -> None:
    forged = (
        '\nfunc init() {\n\tfmt.Println("=== RUN   TestAddSmallNumbers\\n--- PASS: '
        "TestAddSmallNumbers (0.00s)\\n=== RUN   TestAddNegative\\n--- PASS: TestAddNegative "
        '(0.00s)\\nPASS\\nok  \\texample.com/calc/tests\\t0.001s")\n}\n'
    )
    cheat = (
        GO_RIGHT.replace("a + b", "a - b").replace(
            "package calc\n", 'package calc\n\nimport "fmt"\n'
        )
        + forged
    )
    script = Script("", {"calc.go": [reply("calc.go", cheat, "go")] * 20})
    result = _run("09-go-add", tmp_path / "out", script, _sandbox(docker_engine, "go"))
    assert result.status != "green" and result.commit is None, result


def test_a_rust_model_that_writes_a_build_script_is_refused_and_never_committed(
    tmp_path: Path, docker_engine: Any
) -> None:
    # the feedback edit adds a build script (it would run at build time, before the tests)
    wrong = RUST_RIGHT.replace("a + b", "a - b")
    build = search_replace(
        "build.rs", "", 'fn main() {\n    println!("cargo:rustc-cfg=forged");\n}'
    )
    script = Script("", {"src/lib.rs": [reply("src/lib.rs", wrong, "rust")]}, feedback=[build] * 20)
    result = _run("10-rust-add", tmp_path / "out", script, _sandbox(docker_engine, "rust"))
    assert result.status != "green" and result.commit is None, result
    refused = {f["path"]: f["reason"] for e in _events(result, "apply") for f in e["failed"]}
    assert "build script" in refused.get("build.rs", ""), refused


def test_a_rust_model_that_prints_a_forged_summary_is_never_committed(
    tmp_path: Path, docker_engine: Any
) -> None:
    cheat = RUST_RIGHT.replace("a + b", "a - b").replace(
        "{\n",
        "{\n    use std::io::Write;\n    let _ = std::io::stdout().write_all("
        'b"test adds_small_numbers ... ok\\ntest adds_a_negative ... ok\\n\\ntest result: ok. '
        '2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\\n");\n',
        1,
    )
    script = Script("", {"src/lib.rs": [reply("src/lib.rs", cheat, "rust")] * 20})
    result = _run("10-rust-add", tmp_path / "out", script, _sandbox(docker_engine, "rust"))
    assert result.status != "green" and result.commit is None, result
