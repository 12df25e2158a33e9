"""The pure parts of `benchmarks/humaneval_rust.py`: the held-out filter and refusal, what a
task becomes (a task folder, a fix repository), the naive judge with this host's cargo.

No model and no Docker here; the cargo tests skip where no cargo is installed. The task
used is a development one (codegen position 40, "median"), written out below.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import git
import pytest

from benchmarks import humaneval_rust as he
from benchmarks.humaneval_figures import Figures, trajectory_figures

ROOT = Path(__file__).resolve().parents[1]
CARGO = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
needs_cargo = pytest.mark.skipif(
    not Path(CARGO).is_file(), reason="no cargo on this host: the naive judge runs cargo test"
)

TESTS = """#[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn test_median() {
            assert!(median(vec![3, 1, 2, 4, 5]) == 3.0);
            assert!(median(vec![6, 5]) == 5.5);
        }
    }"""
MEDIAN = {
    "task_id": "CodeGen/dev40",
    "category": "codegen",
    "position": 40,
    "entry_point": "median",
    "edition": "2024",
    "prompt": "// Return median of elements in the Vec l.\nfn median(l: Vec<i32>) -> f64{",
    "canonical_solution": (
        "\n    let mut v = l.clone();\n    v.sort();\n    let n = v.len();\n"
        "    if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 }\n}"
    ),
    "test": TESTS,
}
GOOD = "fn median(l: Vec<i32>) -> f64 {" + str(MEDIAN["canonical_solution"])
WRONG = "fn median(l: Vec<i32>) -> f64 {\n    l[0] as f64\n}\n"
BROKEN = "fn median(l: Vec<i32>) -> f64 {\n    l.len() +\n}\n"
FIX = {
    **MEDIAN,
    "task_id": "Fix/dev9",
    "category": "fix",
    "position": 9,
    "prompt": (
        "// This code returns the wrong middle:\n"
        "// fn median(l: Vec<i32>) -> f64 {\n"
        "//     l[l.len() / 2] as f64\n"
        "// }\n"
        "// Fix it by sorting first.\n"
        "fn median(l: Vec<i32>) -> f64 {"
    ),
}


def _line(category: str, position: int, held: bool) -> bytes:
    """A JSONL line; a held-out one is not JSON at all, so parsing it would fail the test."""
    head = f'{{"task_id": "X/{position}", "category": "{category}", '
    if held:
        return (head + "NOT JSON: a held-out record's text\n").encode()
    return (head + f'"position_seen": {position}}}\n').encode()


def _data() -> list[bytes]:
    lines = []
    for i in range(45):
        lines.append(_line("codegen", i, held=i < he.HELD_OUT["codegen"]))
        if i < 12:
            lines.append(_line("fix", i, held=i < he.HELD_OUT["fix"]))
        if i < 3:
            lines.append(_line("explain", i, held=True))
    return lines


def test_records_are_counted_per_kind_and_held_out_lines_never_parsed() -> None:
    got = list(he.records(_data(), "codegen", [40, 42, 44]))
    assert [r["position"] for r in got] == [40, 42, 44]
    assert [r["position_seen"] for r in got] == [40, 42, 44]
    fixes = list(he.records(_data(), "fix", [8, 11]))
    assert [r["position_seen"] for r in fixes] == [8, 11]


@pytest.mark.parametrize(("kind", "position"), [("codegen", 0), ("codegen", 39), ("fix", 7)])
def test_a_held_out_position_is_refused_with_exit_2(kind: str, position: int) -> None:
    with pytest.raises(SystemExit) as refused:
        list(he.records(_data(), kind, [he.HELD_OUT[kind], position]))
    assert refused.value.code == 2


@pytest.mark.parametrize(
    "args",
    [["--gen-first", "39", "--gen-count", "2"], ["--fix-first", "0"], ["--gen-first", "121"]],
)
def test_the_script_refuses_held_out_positions_before_reading_anything(
    args: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "humaneval_rust.py"), *args,
         "--cache", str(tmp_path / "empty-cache"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refused" in done.stderr
    assert not (tmp_path / "empty-cache").exists()  # nothing downloaded, nothing read


def test_foreign_crates_are_named_and_std_paths_are_not() -> None:
    record = {
        "prompt": "use rand::Rng;\nuse std::collections::HashMap;\nfn f() -> i32 {",
        "canonical_solution": "let v = x.iter().collect::<Vec<_>>(); i32::MAX }",
        "test": 'mod tests { use super::*; fn t() { regex::Regex::new("a"); } }',
    }
    assert he.foreign_crates(record) == ["rand", "regex"]
    assert he.foreign_crates(MEDIAN) == []


def test_the_test_module_becomes_an_integration_test() -> None:
    text = he.integration_tests(TESTS)
    assert text is not None
    assert text.startswith("#[cfg(test)]\nmod tests {\n    use humaneval::*;\n")
    assert "use super::*;" not in text
    assert "        assert!(median(vec![6, 5]) == 5.5);" in text
    assert he.integration_tests("#[cfg(test)]\nmod tests {\n    // BEGIN_TESTS\n") is None


def test_a_task_folder_is_greenloops_format(tmp_path: Path) -> None:
    folder = he.task_folder(MEDIAN, tmp_path)
    assert folder.name == "gen040-median"
    config = tomllib.loads((folder / "task.toml").read_text())
    assert config["language"] == "rust" and config["test_command"] == "cargo test"
    cargo = tomllib.loads((folder / "starter" / "Cargo.toml").read_text())
    assert cargo["package"] == {"name": "humaneval", "version": "0.1.0", "edition": "2024"}
    assert cargo["dependencies"] == {}
    spec = (folder / "spec.md").read_text()
    assert "`src/lib.rs`" in spec and "pub fn median(l: Vec<i32>) -> f64{" in spec
    assert (folder / "tests" / "humaneval.rs").read_text() == he.integration_tests(TESTS)


def test_the_task_folder_loads_once_rust_is_a_toolchain(tmp_path: Path) -> None:
    from sandbox.toolchains import NAMES

    if "rust" not in NAMES:
        pytest.skip("the Rust toolchain is not registered on this branch (merged separately)")
    from agent.task import load_task

    task = load_task(he.task_folder(MEDIAN, tmp_path))
    assert task.language == "rust" and "tests/humaneval.rs" in task.tests


def test_buggy_code_is_the_commented_code_or_a_stub() -> None:
    code, how = he.buggy_code(str(FIX["prompt"]))
    assert how == "commented"
    assert code.splitlines() == [
        "// This code returns the wrong middle:",
        "fn median(l: Vec<i32>) -> f64 {",
        "    l[l.len() / 2] as f64",
        "}",
        "// Fix it by sorting first.",
    ]
    stub, how = he.buggy_code(str(MEDIAN["prompt"]))
    assert how == "stub" and stub.endswith("f64{\n    todo!()\n}\n")


def test_a_fix_repository_is_one_commit_of_a_crate(tmp_path: Path) -> None:
    repo_dir = he.fix_repo(FIX, tmp_path)
    repo = git.Repo(repo_dir)
    assert repo.active_branch.name == "main" and len(list(repo.iter_commits())) == 1
    assert not repo.is_dirty(untracked_files=True)
    lib = (repo_dir / "src" / "lib.rs").read_text()
    assert lib.endswith("\n#[cfg(test)]\nmod tests;\n") and "l[l.len() / 2]" in lib
    tests = (repo_dir / "src" / "tests.rs").read_text()
    assert tests.startswith("use super::*;\n") and "mod tests" not in tests


def test_naive_code_is_the_first_rust_block() -> None:
    reply = "Here:\n```text\nno\n```\n```rust\nfn a() {}\n```\nbye"
    assert he.naive_code(reply) == "fn a() {}\n"
    assert he.naive_code("```rust\nfn a() {\n") == "fn a() {\n"  # stopped at the fence
    assert he.naive_code("fn a() {}") == "fn a() {}"


@needs_cargo
def test_the_judge_passes_good_code_and_fails_wrong_and_broken_code(tmp_path: Path) -> None:
    judge = he.Judge(tmp_path, timeout=120)
    good = judge(f"{GOOD}\n\n{TESTS}\n")
    assert good.builds and good.passed
    wrong = judge(f"{WRONG}\n\n{TESTS}\n")
    assert wrong.builds and not wrong.passed and "test_median" in wrong.output
    broken = judge(f"{BROKEN}\n\n{TESTS}\n")
    assert not broken.builds and not broken.passed and "error" in broken.output
    again = judge(f"{GOOD}\n\n{TESTS}\n")  # the same crate, rebuilt: no stale verdict
    assert again.passed
    assert he.reference_passes(MEDIAN, judge)


@needs_cargo
def test_the_judge_kills_a_test_that_never_ends(tmp_path: Path) -> None:
    judge = he.Judge(tmp_path, timeout=20)
    spin = "fn median(l: Vec<i32>) -> f64 {\n    loop {}\n}\n"
    verdict = judge(f"{spin}\n\n{TESTS}\n")
    assert verdict.builds and not verdict.passed and "timed out" in verdict.output


@needs_cargo
def test_the_folder_and_the_repository_build_with_cargo(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(CARGO).parent}{os.pathsep}{os.environ['PATH']}",
           "CARGO_TARGET_DIR": str(tmp_path / "target")}  # fmt: skip
    folder = he.task_folder(MEDIAN, tmp_path / "tasks")
    project = tmp_path / "project"
    shutil.copytree(folder / "starter", project)
    shutil.copytree(folder / "tests", project / "tests")
    (project / "src").mkdir()
    (project / "src" / "lib.rs").write_text(he.public(GOOD))
    cargo = [CARGO, "test", "--offline", "--quiet"]
    done = subprocess.run(cargo, cwd=project, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    repo = he.fix_repo(FIX, tmp_path / "fix")
    red = subprocess.run(cargo, cwd=repo, env=env, capture_output=True, timeout=300)
    assert red.returncode != 0
    (repo / "src" / "lib.rs").write_text(f"{GOOD}\n#[cfg(test)]\nmod tests;\n")
    green = subprocess.run(cargo, cwd=repo, env=env, capture_output=True, timeout=300)
    assert green.returncode == 0, green.stderr


def test_naive_figures_count_code_that_does_not_compile() -> None:
    sample = {"prompt_tokens": 50, "completion_tokens": 20, "latency": 1.0, "finish": "stop"}
    record = {
        "tasks": {
            "gen040-median": {"kind": "codegen", "wall": 3.0, "samples": [
                {**sample, "code": False, "compiles": False, "passed": False},
                {**sample, "code": True, "compiles": False, "passed": False, "finish": "length"},
                {**sample, "code": True, "compiles": True, "passed": True},
            ]},
        }
    }  # fmt: skip
    fig = he.naive_figures(record)["gen040-median"]
    assert (fig.solved, fig.greedy_solved, fig.calls, fig.capped) == (1, 0, 3, 1)
    assert he.uncompiled(fig, naive_side=True) == 2
    assert (fig.prompt_tokens, fig.completion_tokens) == (150, 60)


def test_greenloop_figures_count_test_runs_where_nothing_ran(tmp_path: Path) -> None:
    events = [
        {"event": "model", "purpose": "file: src/lib.rs", "prompt_tokens": 9,
         "completion_tokens": 5, "latency": 1, "finish_reason": "stop"},
        {"event": "test", "green": False, "passed": 0, "failed": 0, "timed_out": False},
        {"event": "candidates", "results": [
            {"green": False, "passed": 0, "failed": 0, "timed_out": True},
            {"green": True, "passed": 1, "failed": 0, "timed_out": False},
        ]},
    ]  # fmt: skip
    path = tmp_path / "trajectory.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    fig = Figures(problems=1)
    trajectory_figures(fig, path, first=True)
    assert (fig.unbuilt, fig.tested, fig.passed, fig.greedy_solved) == (1, 3, 1, 0)
    assert he.uncompiled(fig, naive_side=False) == 1


def test_the_tables_print_both_sides_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    fig = Figures(problems=1, solved=1, greedy_solved=1, wall=2.0, calls=1, code_replies=1)
    he.print_tables({"naive": {"gen040-median": fig, "fix009-x": fig},
                     "greenloop": {"gen040-median": fig}}, {"greenloop": 7.0})  # fmt: skip
    out = capsys.readouterr().out
    assert "| gen040-median | naive | 1 | 2 | 1 |" in out
    assert "| codegen: greenloop (1) | 1 (1 greedy) | 7 |" in out
    assert "| fix: naive (1) |" in out and "fix: greenloop" not in out
