"""The native fix benchmark's pure helpers: the edit that undoes a bug, whether a prompt
shows the buggy line where it is, and a Cargo.toml with nothing to fetch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from native_fix import shown_in, undo
from native_sources import offline_manifest

from agent.edits.search_replace import apply_one, parse

EVAL = """fn greater(a: u64, b: u64) -> bool {
    if a != b {
        return a > b;
    }
    false
}

fn less(a: u64, b: u64) -> bool {
    if a != b {
        return a < b;
    }
    false
}
"""


BUGGY_LINE = "        return a < b;"  # line 3 turned around: the same as line 10 now
BUGGY = EVAL.replace("return a > b;", "return a < b;")


def test_undo_takes_the_lines_that_make_its_search_unique_and_puts_the_line_back() -> None:
    reply = undo("src/eval.rs", EVAL, 2, BUGGY_LINE)
    assert reply.startswith("src/eval.rs\n<<<<<<< SEARCH\n")
    edits = parse(reply)
    assert [e.path for e in edits] == ["src/eval.rs"]
    assert apply_one(BUGGY, edits[0]) == EVAL


def _excerpt(path: str, first: int, last: int, whole: bool = False) -> str:
    where = "whole file" if whole else f"lines {first}-{last}"
    body = "\n".join(BUGGY.splitlines()[first - 1 : last])
    return f"{path}, {where} (greater, less):\n```rust\n{body}\n```"


@pytest.mark.parametrize(
    ("prompt", "shown"),
    [
        (_excerpt("src/eval.rs", 1, 13, whole=True), True),
        (_excerpt("src/eval.rs", 1, 5), True),
        (
            "The failing test:\n\n"
            + _excerpt("src/x.rs", 1, 2)
            + "\n\n"
            + _excerpt("src/eval.rs", 2, 4),
            True,
        ),
        # the same text on another line (less's line 10): not the bug
        (_excerpt("src/eval.rs", 8, 12), False),
        (_excerpt("src/other.rs", 1, 13, whole=True), False),
        (f"thread 'x' panicked at src/eval.rs:3:9:\n{BUGGY_LINE}\n", False),
    ],
)
def test_shown_in_counts_the_line_only_inside_an_excerpt_of_its_file_at_its_place(
    prompt: str, shown: bool
) -> None:
    assert shown_in(prompt, "src/eval.rs", 3, BUGGY_LINE) is shown


def test_offline_manifest_drops_optional_and_dev_dependencies_and_benches() -> None:
    manifest = """[package]
name = "hex"
edition = "2018"

[[bench]]
name = "hex"
harness = false
[dependencies.serde]
version = "1.0"
optional = true
[dependencies.memchr]
version = "2"
[dev-dependencies.criterion]
version = "0.3"

[features]
default = ["std"]
"""
    out = offline_manifest(manifest)
    assert '[package]\nname = "hex"' in out and '[features]\ndefault = ["std"]' in out
    assert "[dependencies.memchr]" in out  # required: left for cargo to refuse
    for gone in ("[[bench]]", "serde", "criterion", "harness"):
        assert gone not in out
