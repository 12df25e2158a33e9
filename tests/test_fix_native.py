"""`greenloop fix` on Go and Rust repositories: the real openai client against a fake
server, `go test ./...` and `cargo test` judged in the Docker sandbox with each
toolchain's image, real git repositories."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import git
import pytest
from fake_openai import FakeOpenAI
from fixture_repos import make_repo, tree_bytes
from scripted_agent import Script, search_replace

from agent.errors import UsageError
from agent.fix.repair import detect_tests, prepare_fix, run_fix
from agent.model import ModelConfig, OpenAIChat
from agent.run.record import FixResult
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox import SandboxConfig

LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=100_000, wall_seconds=300,
                    timeout=120)  # fmt: skip

GO_MOD = "module example.com/shapes\n\ngo 1.21\n"
GO_AREA = """package shapes

// Rect is a rectangle.
type Rect struct{ W, H int }

// Area is the rectangle's area.
func (r Rect) Area() int {
	return r.W + r.H
}

// Total sums the areas.
func Total(rs []Rect) int {
	sum := 0
	for _, r := range rs {
		sum += r.Area()
	}
	return sum
}
"""
GO_TEST = """package shapes

import "testing"

func TestTotal(t *testing.T) {
	rs := []Rect{{W: 2, H: 3}, {W: 3, H: 3}}
	if got := Total(rs); got != 15 {
		t.Errorf("Total = %d, want 15", got)
	}
}

func TestEmpty(t *testing.T) {
	if Total(nil) != 0 {
		t.Error("empty")
	}
}
"""

CARGO = '[package]\nname = "shapes"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
RUST_LIB = """/// The area of a `w` by `h` rectangle.
pub fn area(w: u32, h: u32) -> u32 {
    w + h
}

/// The areas summed.
pub fn total(rects: &[(u32, u32)]) -> u32 {
    rects.iter().map(|&(w, h)| area(w, h)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_two() {
        assert_eq!(total(&[(2, 3), (3, 3)]), 15);
    }
}
"""
RUST_IT = "use shapes::area;\n\n#[test]\nfn squares() {\n    assert_eq!(area(3, 3), 9);\n}\n"


def _sandbox(engine: Any, name: str) -> SandboxConfig:
    from sandbox.image import require_image
    from sandbox.toolchains import toolchain

    require_image(engine, spec=toolchain(name).image)  # missing: a failure, not a skip
    return SandboxConfig()


def _fix(root: Path, replies: list[str], sandbox: SandboxConfig) -> tuple[FixResult, Script]:
    script = Script("{}", {}, replies)
    with FakeOpenAI(script) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        options = RunSettings(run_id=f"t{time.monotonic_ns()}", model_name="fake",
                              sandbox=sandbox, config=LIMITS)  # fmt: skip
        return run_fix(prepare_fix(root, options), model), script


def _state(root: Path) -> tuple[str, str, dict[str, bytes]]:
    repo = git.Repo(root)
    return repo.active_branch.name, repo.head.commit.hexsha, tree_bytes(root)


def test_go_and_rust_repositories_are_told_by_their_manifests(tmp_path: Path) -> None:
    go = make_repo(tmp_path / "go", {"go.mod": GO_MOD, "area.go": GO_AREA, "area_test.go": GO_TEST})
    found = detect_tests(go)
    assert (found.command, found.language) == ("go test ./...", "go")
    assert "go.mod" in found.why
    rust = make_repo(tmp_path / "rust", {"Cargo.toml": CARGO, "src/lib.rs": RUST_LIB})
    assert (detect_tests(rust).command, detect_tests(rust).language) == ("cargo test", "rust")
    assert detect_tests(rust, "cargo test --lib").command == "cargo test --lib"
    with pytest.raises(UsageError, match="cargo test"):
        detect_tests(rust, "cargo test -- --skip totals")


@pytest.mark.docker
def test_a_go_bug_is_fixed_on_the_fix_branch(tmp_path: Path, docker_engine: Any) -> None:
    root = make_repo(
        tmp_path / "go", {"go.mod": GO_MOD, "area.go": GO_AREA, "area_test.go": GO_TEST}
    )
    before = _state(root)
    edit = search_replace("area.go", "\treturn r.W + r.H", "\treturn r.W * r.H")
    result, script = _fix(root, [edit], _sandbox(docker_engine, "go"))
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert result.fixed == ["area_test.go::TestTotal"]
    assert _state(root) == before  # the user's branch, HEAD and tree
    fixed = git.Repo(root).commit(result.branch).tree / "area.go"
    assert "return r.W * r.H" in fixed.data_stream.read().decode()
    first = script.prompts[0]  # the buggy line, reached from the test through Total
    assert "return r.W + r.H" in first and "```go" in first


@pytest.mark.docker
def test_a_rust_bug_is_fixed_and_its_inline_tests_may_not_be_edited(
    tmp_path: Path, docker_engine: Any
) -> None:
    files = {"Cargo.toml": CARGO, "src/lib.rs": RUST_LIB, "tests/it.rs": RUST_IT}
    root = make_repo(tmp_path / "rust", files)
    before = _state(root)
    cheat = search_replace("src/lib.rs", "(3, 3)]), 15);", "(3, 3)]), 11);")
    edit = search_replace("src/lib.rs", "    w + h", "    w * h")
    result, script = _fix(root, [cheat, edit], _sandbox(docker_engine, "rust"))
    assert (result.status, result.exit_reason) == ("green", "green"), result.error
    assert sorted(result.fixed) == ["src/lib.rs::tests::totals_two", "tests/it.rs::squares"]
    assert _state(root) == before
    assert any("NOT applied" in p and "test" in p for p in script.prompts[1:])
    lib = (git.Repo(root).commit(result.branch).tree / "src/lib.rs").data_stream.read().decode()
    assert "w * h" in lib and "(3, 3)]), 15);" in lib  # the fix, and the test as it was
    assert "    w + h" in script.prompts[0] and "```rust" in script.prompts[0]


def test_a_crate_with_a_build_script_is_refused_naming_what_to_do(tmp_path: Path) -> None:
    files = {"Cargo.toml": CARGO, "src/lib.rs": RUST_LIB, "build.rs": "fn main() {}\n"}
    root = make_repo(tmp_path / "rust", files)
    options = RunSettings(run_id="t1", model_name="fake", config=LIMITS)
    with pytest.raises(UsageError) as caught:
        prepare_fix(root, options)
    assert caught.value.exit_code == 2 and "build script (build.rs)" in str(caught.value)
    assert "remove it" in str(caught.value.fix)
