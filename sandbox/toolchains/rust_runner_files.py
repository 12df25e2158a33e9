"""Rust files and code that reach into the test run: refused from the model.

    rust_runner_reason("build.rs", None, text)   # -> why, or ""

The judge (`sandbox.cargo_judge`) builds with cargo and runs each test binary itself, so
what cargo reads decides how the tests are built. The model may not write:
- `build.rs` (any), `.cargo/config*`, `rust-toolchain*`, Rust sources and manifests
  under `target/` or `vendor/`, `Cargo.lock` (cargo writes it);
- `Cargo.toml` over one the task or repository has (its profiles, patches, harness,
  build script and dependencies are theirs to say); a new one only with `[package]`
  (no `build`) and no dependency, target section or workspace;
- code that reaches into the run (`rust_judge_moves`, read with tree-sitter-rust, so a
  string that says "exit" is data): ending the process (`process::exit`/`abort`
  outside `fn main`), code run before main or by the linker (`#[link_section]`,
  `#[used]`, `#[no_mangle]`, `#[export_name]`, `#[ctor]`), foreign or unsafe code
  (`extern` blocks and ABIs, `unsafe`, `libc`, `asm!`), descriptors (`std::os::fd`,
  `FromRawFd`, `/proc/`, `/dev/fd`), its own binary (`current_exe`), the environment
  (`env::set_var`), the panic hook, crate attributes other than lints (`#![feature]`,
  `#![no_main]`, `#![test_runner]`), `include!`-like macros, proc macros;
- a change to a source file's tests: a `#[cfg(test)]` item or a `#[test]` fn changed,
  removed or added (`rust_inventory.inline_tests`, old against new).
What the user's project or task already has stays (only what a write adds is refused).
"""

from __future__ import annotations

import tomllib
from pathlib import PurePosixPath
from typing import Any

from sandbox.toolchains.rust_inventory import inline_tests, parser
from sandbox.toolchains.trees import text, walk

__all__ = ["rust_judge_moves", "rust_runner_reason"]

_LINKER = frozenset({"link_section", "used", "no_mangle", "export_name", "ctor", "dtor"})
_LINTS = frozenset({"allow", "warn", "deny", "forbid", "expect", "doc"})
_INCLUDES = frozenset({"include", "include_str", "include_bytes", "asm", "global_asm"})
_FDS = frozenset({"FromRawFd", "from_raw_fd", "RawFd", "OwnedFd", "BorrowedFd", "AsRawFd"})
_NAMES = {
    "current_exe": "re-runs its own test binary",
    "set_var": "changes the environment",
    "remove_var": "changes the environment",
    "set_hook": "replaces the panic hook",
    "take_hook": "replaces the panic hook",
    "libc": "calls into libc",
    "proc_macro": "is a proc macro",
}
_FOLDERS = frozenset({"target", "vendor", ".cargo"})


def rust_judge_moves(source: str) -> dict[str, int]:
    """Each move into the test run `source` makes, with its first line."""
    moves: dict[str, int] = {}
    root = parser().parse(source.encode()).root_node
    mains = [n for n in root.named_children if n.type == "function_item" and _name(n) == "main"]
    for node in walk(root):
        move = _move(node, mains)
        if move and move not in moves:
            moves[move] = node.start_point[0] + 1
    return moves


def _move(node: Any, mains: list[Any]) -> str:
    kind = node.type
    if kind in ("unsafe_block", "foreign_mod_item", "extern_modifier") or (
        kind == "unsafe" and node.parent is not None and node.parent.type != "unsafe_block"
    ):
        return "is unsafe or foreign code"
    if kind == "inner_attribute_item" and _attribute(node) not in _LINTS:
        return "sets a crate attribute"
    if (
        kind == "attribute_item"
        and {text(n) for n in walk(node) if n.type == "identifier"} & _LINKER
    ):
        return "runs code before main or places it for the linker"
    if kind == "macro_invocation" and text(node.child_by_field_name("macro")) in _INCLUDES:
        return "includes a file or assembly"
    if kind in ("string_content", "string_literal", "raw_string_literal"):
        literal = text(node)
        if "/proc/" in literal or "/dev/fd" in literal:
            return "reaches for descriptors"
    if kind == "identifier":
        word = text(node)
        if word in _FDS or (word == "fd" and _in_path(node, "os")):
            return "reaches for descriptors"
        if word in ("exit", "abort") and _in_path(node, "process") and not _inside(node, mains):
            return "ends the process"
        if word in _NAMES:
            return _NAMES[word]
    return ""


def _name(node: Any) -> str:
    return text(node.child_by_field_name("name"))


def _attribute(node: Any) -> str:
    attribute = next((c for c in node.named_children if c.type == "attribute"), None)
    return text(attribute.named_children[0]) if attribute and attribute.named_children else ""


def _in_path(node: Any, owner: str) -> bool:
    """Whether `node` ends a path through `owner` (`std::process::exit`, a `use` of it)."""
    up = node.parent
    while up is not None and up.type in ("scoped_identifier", "scoped_use_list", "use_list",
                                         "use_as_clause"):  # fmt: skip
        if any(c.type == "identifier" and text(c) == owner for c in walk(up)):
            return True
        up = up.parent
    return False


def _inside(node: Any, mains: list[Any]) -> bool:
    return any(m.start_byte <= node.start_byte < m.end_byte for m in mains)


def rust_runner_reason(path: str, old: str | None, new: str | None) -> str:
    """Why the model may not write `new` over `old` at `path` in a Rust project; "" when
    it may."""
    pure = PurePosixPath(path)
    cargo_files = pure.suffix in (".rs", ".toml", ".lock") or ".cargo" in pure.parts
    if cargo_files and _FOLDERS & set(pure.parts[:-1]):
        return f"`{path}` is in {'/'.join(_FOLDERS & set(pure.parts[:-1]))}/: cargo's own"
    if pure.name == "build.rs":
        return f"`{path}` is a build script: it runs when the tests are built"
    if pure.name.startswith("rust-toolchain") or pure.name == "Cargo.lock":
        return f"`{path}` says which toolchain or dependencies build the tests"
    if pure.name == "Cargo.toml" and new != old:
        why = _manifest(old, new)
        if why:
            return f"`{path}` {why}"
    if pure.suffix != ".rs" or new is None:
        return ""
    if inline_tests(new) != inline_tests(old or ""):
        return f"`{path}` changes its #[cfg(test)] items or #[test] fns: tests may not be edited"
    before = rust_judge_moves(old or "")
    added = [(m, n) for m, n in rust_judge_moves(new).items() if m not in before]
    if added:
        move, line = added[0]
        return (
            f"`{path}` line {line} {move}: code under test has no need to reach into the test run"
        )
    return ""


def _manifest(old: str | None, new: str | None) -> str:
    """Why a Cargo.toml write is refused, or ""."""
    if old is not None or new is None:
        return "is the task's or repository's: its profiles, targets and dependencies are theirs"
    try:
        data = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return "is not TOML"
    extra = set(data) - {"package", "dependencies", "dev-dependencies"}
    package = data.get("package")
    if extra or not isinstance(package, dict) or "build" in package:
        return "may hold [package] (no build script) and nothing else a runner reads"
    if data.get("dependencies") or data.get("dev-dependencies"):
        return "adds dependencies: the sandbox has no registry"
    return ""
