"""Go files and code that reach into the test run: refused from the model.

    go_runner_reason("vendor/example.com/check/check.go", None, text)   # -> why, or ""

The judge (`sandbox.go_judge`) compiles each package's tests with the module's own
go.mod, and runs each binary in a process whose every line on stdout test2json reads.
So the model may not write:
- the module's files: `go.mod`, `go.sum`, `go.work`, `go.work.sum` changed from what
  they were (a `replace`, a `toolchain`, a `godebug` or a new `require` changes what
  the tests import or how they build); a new go.mod only with `module` and `go` lines;
- anything under `vendor/`: a package there stands in for the one the tests import;
- a `*_test.go` file, or `TestMain` in any file: it runs in the test binary, before
  and around every test;
- code that reaches into the run (`go_judge_moves`, read with tree-sitter-go, so a
  string that says "os.Exit" is data): ending the process in a package that is not
  `main` (`os.Exit`, `syscall.Exit`, `runtime.Goexit`), or in `main`'s `init` or
  package-level variables; assigning `os.Stdout`, `os.Stderr` or `os.Args`; `flag.Set`
  or `flag.CommandLine`; importing `syscall`, `golang.org/x/sys/...`, `unsafe`,
  `runtime/debug`, cgo's `C`, or `testing` outside a test file; `//go:linkname`,
  `//go:debug`, and `//go:embed` of Go files or of a whole folder's `.`; a
  `/proc/<self|pid>/` or `/dev/fd/` path.
What the user's project or task already has stays (only what a write adds is refused).
"""

from __future__ import annotations

import fnmatch
import itertools
from pathlib import PurePosixPath
from typing import Any

from sandbox.toolchains.go_inventory import parser, string_value, walk

__all__ = ["go_judge_moves", "go_runner_reason"]

_MODULE_FILES = frozenset({"go.mod", "go.sum", "go.work", "go.work.sum"})
_NEW_MOD_LINES = ("module ", "go ", "//")
_EXITS = {("os", "Exit"), ("syscall", "Exit"), ("runtime", "Goexit")}
_STREAMS = {("os", "Stdout"), ("os", "Stderr"), ("os", "Args"), ("flag", "CommandLine")}
_IMPORTS = {"syscall": "imports syscall", "unsafe": "imports unsafe", "C": "uses cgo",
            "runtime/debug": "imports runtime/debug"}  # fmt: skip
_PATHS = ("/proc/self", "/proc/thread-self", "/dev/fd/")


def go_runner_reason(path: str, old: str | None, new: str | None) -> str:
    """Why the model may not write `new` over `old` at `path` in a Go project; "" when
    it may."""
    pure = PurePosixPath(path)
    if "vendor" in pure.parts[:-1]:
        return f"`{path}` is in vendor/: a package there would stand in for what the tests import"
    if pure.name in _MODULE_FILES and old != new:
        if old is None and pure.name == "go.mod" and _plain_mod(new or ""):
            return ""
        return (
            f"`{path}` says which modules the tests build with: a replace, toolchain, godebug "
            "or require there is not the model's to write"
        )
    if pure.suffix != ".go" or new is None:
        return ""
    if pure.name.endswith("_test.go") and old is None:
        return f"`{path}` is a new test file: it would run in the tests' binary, before them"
    before = go_judge_moves(old or "", test=pure.name.endswith("_test.go"))
    moves = go_judge_moves(new, test=pure.name.endswith("_test.go"))
    added = [(m, n) for m, n in moves.items() if m not in before]
    if added:
        move, line = added[0]
        return (
            f"`{path}` line {line} {move}: code under test has no need to reach into the test run"
        )
    return ""


def _plain_mod(text: str) -> bool:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return all(ln.startswith(_NEW_MOD_LINES) for ln in lines)


def go_judge_moves(source: str, *, test: bool = False) -> dict[str, int]:
    """Each move into the test run `source` makes, with its first line (1-based)."""
    root = parser().parse(source.encode()).root_node
    main = any(
        c.type == "package_clause" and c.named_children[-1].text.decode() == "main"
        for c in root.named_children
    )
    moves: dict[str, int] = {}

    def add(move: str, node: Any) -> None:
        moves.setdefault(move, node.start_point[0] + 1)

    for node in walk(root):
        kind = node.type
        if kind == "import_spec":
            _import(node, test, add)
        elif kind == "comment":
            _directive(node, add)
        elif (
            kind == "function_declaration" and node.child_by_field_name("name").text == b"TestMain"
        ):
            add("defines TestMain", node)
        elif kind in ("interpreted_string_literal", "raw_string_literal"):
            value = string_value(node) or node.text.decode()
            if any(p in value for p in _PATHS) or _proc_pid(value):
                add("names a process's descriptors or memory (/proc, /dev/fd)", node)
        elif kind == "selector_expression":
            pair = _pair(node)
            if pair in _EXITS and (not main or _at_start(node)):
                add(f"ends the process ({pair[0]}.{pair[1]})", node)
            elif pair == ("flag", "Set"):
                add("sets the test binary's flags (flag.Set)", node)
            elif pair in _STREAMS and _assigned(node):
                add(f"replaces {pair[0]}.{pair[1]}", node)
    return moves


def _import(node: Any, test: bool, add: Any) -> None:
    path = string_value(node.child_by_field_name("path")) or ""
    if path in _IMPORTS:
        add(_IMPORTS[path], node)
    elif path == "golang.org/x/sys" or path.startswith("golang.org/x/sys/"):
        add("imports golang.org/x/sys", node)
    elif path == "testing" and not test:
        add("imports testing outside a test file", node)


def _directive(node: Any, add: Any) -> None:
    text = node.text.decode()
    if text.startswith("//go:linkname"):
        add("links to another package's private names (//go:linkname)", node)
    elif text.startswith("//go:debug"):
        add("sets the runtime's debug settings (//go:debug)", node)
    elif text.startswith("//go:embed"):
        for pattern in text.split()[1:]:
            pattern = pattern.strip('"`').removeprefix("all:")
            if pattern in (".", "..") or fnmatch.fnmatch("x_test.go", PurePosixPath(pattern).name):
                add("embeds Go files, the tests' among them (//go:embed)", node)


def _proc_pid(value: str) -> bool:
    parts = value.split("/")
    return any(a == "proc" and b.isdigit() for a, b in itertools.pairwise(parts))


def _pair(node: Any) -> tuple[str, str] | None:
    operand = node.child_by_field_name("operand")
    field = node.child_by_field_name("field")
    if operand is None or field is None or operand.type != "identifier":
        return None
    return operand.text.decode(), field.text.decode()


def _assigned(node: Any) -> bool:
    """Whether `node` (or an index of it, `os.Args[0]`) is on an assignment's left."""
    while node.parent is not None and node.parent.type == "index_expression":
        node = node.parent
    parent = node.parent
    if parent is not None and parent.type == "expression_list":
        parent = parent.parent
        node = node.parent
    if parent is None or parent.type != "assignment_statement":
        return False
    left = parent.child_by_field_name("left")
    return left is not None and left.start_byte <= node.start_byte < left.end_byte


def _at_start(node: Any) -> bool:
    """Whether `node` runs when the package loads: in `init` or a package-level var."""
    while node.parent is not None:
        node = node.parent
        if node.type == "function_declaration":
            return bool(node.child_by_field_name("name").text == b"init")
        if node.type == "var_declaration" and node.parent.type == "source_file":
            return True
    return False
