"""What Go and Rust tests demand of the code, read with tree-sitter; the syntax gate on
Go and Rust files."""

from __future__ import annotations

from agent.new.native_requirements import extract_go_requirements, extract_rust_requirements
from agent.syntax import check_source

GO_INTERNAL = """package calc

import "testing"

func helper(t *testing.T) {}

func TestAdd(t *testing.T) {
	if got := Add(1, 2); got != 3 {
		t.Errorf("Add(1, 2) = %d", got)
	}
	s := NewStack()
	s.Push(1)
	if len(s.items) != 1 {
		t.Fatal("one item")
	}
	helper(t)
}
"""

GO_EXTERNAL = """package calc_test

import (
	"testing"

	c "example.com/m/calc"
)

func TestSub(t *testing.T) {
	var s c.Stack
	if c.Sub(3, 1) != 2 {
		t.Fail()
	}
	_ = s
}
"""

RUST_INTEGRATION = """use humaneval::*;

#[test]
fn works() {
    assert_eq!(add(1, 2), 3);
    let s = Stack::new();
    assert!(is_prime(7));
    assert_eq!(sort_by(vec![1, 2], |a, b| a.cmp(b)), vec![1, 2]);
    assert_eq!(local(), 0);
}

fn local() -> i32 {
    0
}
"""

RUST_UNIT = """use super::*;

#[test]
fn largest() {
    assert_eq!(max_of(vec![1, 2]), 2);
}
"""


def _signatures(reqs: object) -> dict[str, list[str]]:
    return {m.path: [n.signature() for n in m.names] for m in reqs.modules}  # type: ignore[attr-defined]


def test_go_tests_in_the_package_and_beside_it_name_the_package_file() -> None:
    reqs = extract_go_requirements(
        {"calc/calc_test.go": GO_INTERNAL, "calc/ext_test.go": GO_EXTERNAL}
    )
    assert _signatures(reqs) == {
        "calc/calc.go": ["Add(arg1, arg2)", "NewStack()", "class Stack", "Sub(arg1, arg2)"]
    }
    assert reqs.modules[0].used_by == ("calc/calc_test.go", "calc/ext_test.go")


def test_go_code_goes_in_the_starters_file_of_the_folder() -> None:
    reqs = extract_go_requirements(
        {"calc/calc_test.go": GO_INTERNAL}, known_files=["go.mod", "calc/ops.go"]
    )
    assert [m.path for m in reqs.modules] == ["calc/ops.go"]


def test_rust_calls_inside_assert_macros_are_required_with_their_arity() -> None:
    reqs = extract_rust_requirements(
        {"tests/humaneval.rs": RUST_INTEGRATION, "src/tests.rs": RUST_UNIT}
    )
    assert _signatures(reqs) == {
        "src/lib.rs": [
            "class Stack",
            "add(arg1, arg2)",
            "is_prime(arg1)",
            "max_of(arg1)",
            "sort_by(arg1, arg2)",  # the closure's `|a, b|` is one argument
        ]
    }


def test_a_nested_unit_test_module_names_its_parent_module_file() -> None:
    reqs = extract_rust_requirements({"src/shapes/tests.rs": RUST_UNIT})
    assert [m.path for m in reqs.modules] == ["src/shapes.rs"]
    reqs = extract_rust_requirements(
        {"src/shapes/tests.rs": RUST_UNIT}, known_files=["src/shapes/mod.rs"]
    )
    assert [m.path for m in reqs.modules] == ["src/shapes/mod.rs"]


def test_an_integration_test_takes_only_the_names_it_uses_from_the_crate() -> None:
    source = (
        "use mycrate::{add, Stack};\n\n#[test]\nfn t() {\n    assert_eq!(add(1, 2), other(3));\n}\n"
    )
    reqs = extract_rust_requirements({"tests/t.rs": source})
    assert _signatures(reqs) == {"src/lib.rs": ["add(arg1, arg2)"]}


def test_the_syntax_gate_reads_go_and_rust() -> None:
    assert (
        check_source("calc/calc.go", "package calc\n\nfunc Add(a, b int) int { return a + b }\n")
        == []
    )
    broken = check_source("calc/calc.go", "package calc\n\nfunc Add(a, b int) int { return a + }\n")
    assert broken and broken[0].line == 3
    assert check_source("src/lib.rs", "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n") == []
    assert check_source("src/lib.rs", "pub fn add(a: i32, b: i32) -> i32 {\n    a +\n}\n")


def test_a_go_test_only_package_names_the_module_package_it_imports() -> None:
    tests = {
        "tests/calc_test.go": 'package tests\n\nimport (\n\t"testing"\n\n\t"example.com/calc"\n'
        '\t"example.com/calc/shapes"\n)\n\nfunc TestAdd(t *testing.T) {\n'
        "\tif calc.Add(2, 3) != 5 || shapes.Area(2) != 4 {\n\t\tt.Fail()\n\t}\n}\n"
    }
    starter = {"go.mod": "module example.com/calc\n\ngo 1.24\n"}
    reqs = extract_go_requirements(tests, known_files=starter)
    assert _signatures(reqs) == {"calc.go": ["Add(arg1, arg2)"], "shapes/shapes.go": ["Area(arg1)"]}


def test_a_go_file_without_its_package_clause_gets_the_one_its_tests_name() -> None:
    from agent.new.native_requirements import restore_go_package

    body = "func Add(a, b int) int {\n\treturn a + b\n}\n"
    assert restore_go_package(body, "calc") == "package calc\n\n" + body
    assert restore_go_package("package other\n\n" + body, "calc") == "package other\n\n" + body
    reqs = extract_go_requirements({"calc/calc_test.go": GO_INTERNAL})
    assert reqs.modules[0].module == "calc"


def test_a_rust_item_the_tests_call_is_made_public_and_nothing_else() -> None:
    from agent.new.native_requirements import restore_rust_pub

    source = (
        "fn add(a: i64, b: i64) -> i64 {\n    helper(a) + b\n}\n\nfn helper(a: i64) -> i64 {\n"
        "    a\n}\n\nstruct Stack;\n\nimpl Stack {\n    fn add(&self) {}\n}\n"
    )
    out = restore_rust_pub(source, ["add", "Stack"])
    assert out.startswith("pub fn add(") and "\nfn helper(" in out
    assert "\npub struct Stack;" in out and "    fn add(&self)" in out
    assert restore_rust_pub("pub fn add() {}\n", ["add"]) == "pub fn add() {}\n"


def test_a_go_program_written_for_an_imported_package_becomes_that_package() -> None:
    from agent.new.native_requirements import restore_go_package

    program = (
        'package main\n\nimport (\n\t"fmt"\n)\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n'
    )
    assert restore_go_package(program, "calc") == (
        "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    )
    used = (
        'package calc\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\n'
        "func S() string { return fmt.Sprint(1) }\n"
    )
    assert restore_go_package(used, "calc") == (
        'package calc\n\nimport (\n\t"fmt"\n)\n\nfunc S() string { return fmt.Sprint(1) }\n'
    )
    single = 'package calc\n\nimport "os"\n\nfunc A() int { return 1 }\n'
    assert restore_go_package(single, "calc") == "package calc\n\nfunc A() int { return 1 }\n"
    # a main package stays one when the tests are its own
    assert restore_go_package("package main\n\nfunc main() {}\n", "main").startswith("package main")
