"""Localization in Go and Rust repositories: the failing test's calls, the positions in
its failure, the candidate's edits; the repo map's tags for Go and Rust."""

from __future__ import annotations

from agent.fix.native_localize import native_frames, native_localize, split_test_id
from agent.fix.native_outline import native_spans
from agent.fix.tags import native_tags

GO_CODE = """package calc

type Stack struct{ items []int }

func (s *Stack) Push(v int) { s.items = append(s.items, v) }

func Add(a, b int) int {
	return a - b
}

func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	return min(v, hi)
}
"""

GO_TEST = """package calc

import "testing"

func TestAdd(t *testing.T) {
	t.Run("small", func(t *testing.T) {
		if got := Add(1, 2); got != 3 {
			t.Errorf("Add(1, 2) = %d, want 3", got)
		}
	})
}

func TestClamp(t *testing.T) {
	if Clamp(5, 0, 3) != 3 {
		t.Fatal("clamp")
	}
}
"""

RUST_LIB = """pub struct Stack {
    items: Vec<i32>,
}

impl Stack {
    pub fn push(&mut self, v: i32) {
        self.items.push(v);
    }
}

pub fn add(a: i32, b: i32) -> i32 {
    helper(a) - b
}

fn helper(a: i32) -> i32 {
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }
}
"""


def test_go_and_rust_definitions_are_read_with_their_owners() -> None:
    go = [(s.name, s.kind, s.start, s.end) for s in native_spans("calc/calc.go", GO_CODE)]
    assert go == [
        ("Stack", "class", 3, 3),
        ("Stack.Push", "function", 5, 5),
        ("Add", "function", 7, 9),
        ("Clamp", "function", 11, 16),
    ]
    rust = {s.name: s.scope for s in native_spans("src/lib.rs", RUST_LIB)}
    assert rust == {"Stack": "", "Stack.push": "Stack", "add": "", "helper": "", "adds": "<local>"}


def test_test_ids_name_their_file_and_function() -> None:
    assert split_test_id("calc/calc_test.go::TestAdd/small") == ("calc/calc_test.go", "TestAdd")
    assert split_test_id("src/lib.rs::tests::adds") == ("src/lib.rs", "adds")
    assert split_test_id("tests/it.rs::adds") == ("tests/it.rs", "adds")


def test_a_failing_go_test_points_at_what_it_calls_and_its_failure_line() -> None:
    files = {"calc/calc.go": GO_CODE, "calc/calc_test.go": GO_TEST, "go.mod": "module m\n"}
    trace = "calc_test.go:8: Add(1, 2) = -1, want 3"
    suspects, tests = native_localize(files, ["calc/calc_test.go::TestAdd/small"], [trace])
    assert [t.name for t in tests] == ["TestAdd"]
    assert suspects[0].span.name == "Add"
    assert "Clamp" not in [s.span.name for s in suspects]


def test_a_go_panic_trace_points_at_the_code_line() -> None:
    files = {"calc/calc.go": GO_CODE, "calc/calc_test.go": GO_TEST}
    trace = (
        "panic: runtime error [recovered]\n"
        "goroutine 7 [running]:\n"
        "m/calc.Clamp(...)\n\t/workspace/calc/calc.go:15 +0x1d\n"
        "m/calc.TestClamp(0xc000)\n\t/workspace/calc/calc_test.go:14 +0x2a\n"
        "testing.tRunner(...)\n\t/usr/lib/go-1.24/src/testing/testing.go:1792 +0xf4\n"
    )
    assert native_frames(trace, files) == [("calc/calc.go", 15), ("calc/calc_test.go", 14)]
    suspects, _ = native_localize(files, ["calc/calc_test.go::TestClamp"], [trace])
    assert suspects[0].span.name == "Clamp"
    assert suspects[0].focus == (15,)


def test_an_inline_rust_test_is_never_a_suspect_and_leads_to_its_calls() -> None:
    files = {"src/lib.rs": RUST_LIB, "Cargo.toml": "[package]\nname = 'x'\n"}
    trace = "thread 'tests::adds' panicked at src/lib.rs:25:9:\nassertion `left == right` failed"
    suspects, tests = native_localize(files, ["src/lib.rs::tests::adds"], [trace])
    assert [t.name for t in tests] == ["adds"]
    names = [s.span.name for s in suspects]
    assert names[0] == "add" and "helper" in names and "adds" not in names


def test_an_edit_is_a_suspect_of_its_own() -> None:
    files = {"src/lib.rs": RUST_LIB}
    suspects, _ = native_localize(files, [], [], edited={"src/lib.rs": [16]})
    assert [s.span.name for s in suspects] == ["helper"]


def test_the_repo_maps_tags_leave_inline_tests_out() -> None:
    tags = native_tags("src/lib.rs", RUST_LIB)
    assert [d.name for d in tags.defs] == ["Stack", "push", "add", "helper"]
    assert tags.defs[2].signature == "pub fn add(a: i32, b: i32) -> i32"
    assert ".push" in tags.refs and "helper" in tags.refs


GO_TABLE = """package version

var operators map[string]func(a, b int) bool

func init() {
	operators = map[string]func(a, b int) bool{
		">":  greaterThan,
		"~>": pessimistic,
	}
}

func Check(op string, a, b int) bool {
	return operators[op](a, b)
}

func greaterThan(a, b int) bool {
	return a > b
}

func pessimistic(a, b int) bool {
	return a >= b
}
"""

GO_TABLE_TEST = """package version

import "testing"

func TestPessimistic(t *testing.T) {
	if !check(t, "~>", 2, 1) {
		t.Fatal("~>")
	}
}

func check(t *testing.T, op string, a, b int) bool {
	t.Helper()
	return Check(op, a, b)
}
"""


def test_a_function_in_a_table_filled_by_init_is_reached_through_a_test_helper() -> None:
    # the test calls a helper of its own file; the helper calls Check, which looks the
    # operator up in a map that init() fills with function values
    files = {"version/v.go": GO_TABLE, "version/v_test.go": GO_TABLE_TEST}
    suspects, tests = native_localize(files, ["version/v_test.go::TestPessimistic"], [])
    assert [t.name for t in tests] == ["TestPessimistic"]
    by_name = {s.span.name: s for s in suspects}
    assert by_name["Check"].signals == {"static": 1.0}  # the helper is read as the test
    assert {"init", "greaterThan", "pessimistic"} <= set(by_name)
    # the test is named after `pessimistic`: it ranks before the other operator
    names = [s.span.name for s in suspects]
    assert names.index("pessimistic") < names.index("greaterThan")
    assert by_name["pessimistic"].signals["named"] == 1.0
