"""Fault localization for a Go or Rust repository: `agent.fix.localize`'s signals, read
from Go and Rust.

    suspects, tests = native_localize(files, failing, traces, edited=changed_lines)

- **static**: the failing test's function (a Go `TestX`, its subtest's parent; a Rust
  `#[test]` fn, in `tests/` or inline in a `#[cfg(test)]` module), the names it calls
  matched to definitions of the repository's code by name (1.0) — a method or a
  package's function (`s.Push`, `calc.Add`) to definitions of that leaf — then what
  those call, halved at each step, five steps deep (a semver check is four calls from
  its test). A helper of the tests (a function of a test file, `req(..)`,
  `assert_match_all(..)`) is read as part of the test. A function named as a value
  (`"~>": constraintPessimistic` in a table) counts as called; a Go package's `init`
  runs before any test, so it is reached with the first of its package's functions;
- **traceback**: the `file.go:12` / `src/lib.rs:10:5` positions in the failures (a Go
  panic's goroutine trace, `t.Errorf`'s line, a Rust panic's location), mapped back to
  the repository by their longest tail that is a file there; the first in code 1.0,
  the others 0.8;
- **named**: a definition the test reaches (any step) whose name shares words with the
  test's name (`test_greater_than` and `matches_greater`, `TestComparePreReleases` and
  `comparePart`): the share of the definition's words the test names — deep in a
  dispatch, the function a test is named after is the likeliest place;
- **edited**: what the candidate's edits changed (1.0).

No coverage signal yet: a position outside any definition stands for the lines around it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from agent.fix.localize import Scores, Suspect
from agent.fix.native_outline import NATIVE_SOURCES, native_calls, native_spans
from agent.fix.repomap import is_test_path
from agent.fix.symbols import Span

__all__ = ["native_frames", "native_localize", "split_test_id"]

_POSITION = re.compile(r"([\w./\\-]+\.(?:go|rs)):(\d+)")
_DECAY = 0.5
_DEPTH = 5
_AROUND = 3


class _Index:
    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = {p: t for p, t in files.items() if p.endswith(NATIVE_SOURCES)}
        self._spans: dict[str, list[Span]] = {}

    def spans(self, path: str) -> list[Span]:
        if path not in self._spans:
            self._spans[path] = native_spans(path, self.files[path])
        return self._spans[path]

    def code(self) -> Iterable[Span]:
        """Every definition of the repository's code (not its tests')."""
        for path in self.files:
            if is_test_path(path) or "vendor" in PurePosixPath(path).parts:
                continue
            yield from (s for s in self.spans(path) if s.scope != "<local>")

    def helpers(self) -> Iterable[Span]:
        """The functions of the tests' own files and modules (a test is one of them)."""
        for path in self.files:
            if "vendor" in PurePosixPath(path).parts:
                continue
            tests = is_test_path(path)
            yield from (
                s for s in self.spans(path)
                if s.kind == "function" and (tests or s.scope == "<local>")
            )  # fmt: skip

    def inits(self, span: Span) -> list[Span]:
        """A Go package's `init` functions (run before any test), for a span of it."""
        if not span.path.endswith(".go"):
            return []
        folder = PurePosixPath(span.path).parent
        return [
            s
            for path in self.files
            if PurePosixPath(path).parent == folder and not is_test_path(path)
            for s in self.spans(path)
            if s.name == "init"
        ]

    def span_at(self, path: str, line: int) -> Span:
        inside = [s for s in self.spans(path) if s.start <= line <= s.end]
        if inside:
            return min(inside, key=lambda s: s.end - s.start)
        last = max(1, len(self.files[path].splitlines()))
        line = min(line, last)
        start, end = max(1, line - _AROUND), min(last, line + _AROUND)
        return Span(path, f"lines {start}-{end}", "region", start, end)


def split_test_id(test_id: str) -> tuple[str, str]:
    """A failing test's file and function: `calc/calc_test.go::TestAdd/negative` is
    `TestAdd` of that file; `src/lib.rs::tests::adds` is `adds` of `src/lib.rs`."""
    path, _, name = test_id.partition("::")
    if path.endswith(".go"):
        return path, name.split("/", 1)[0]
    return path, name.rsplit("::", 1)[-1]


def native_localize(
    files: Mapping[str, str],
    failing: Collection[str],
    traces: Sequence[str] = (),
    edited: Mapping[str, Collection[int]] | None = None,
) -> tuple[list[Suspect], list[Span]]:
    """Definitions in code files, most suspicious first, and the failing tests' bodies."""
    index = _Index(files)
    scores = Scores()
    tests = _failing_tests(index, failing)
    reached = _static(index, tests, scores)
    _named(tests, reached, scores)
    for trace in traces:
        code = [(p, n) for p, n in native_frames(trace, index.files) if not is_test_path(p)]
        for k, (path, line) in enumerate(code):
            span = index.span_at(path, line)
            if span.scope != "<local>":
                scores.add(span, "traceback", 1.0 if k == 0 else 0.8, [line])
    for path, lines in (edited or {}).items():
        for line in lines if path in index.files else ():
            scores.add(index.span_at(path, line), "edited", 1.0, [line])
    return scores.ranked(), tests


def _failing_tests(index: _Index, failing: Iterable[str]) -> list[Span]:
    spans: list[Span] = []
    for test_id in failing:
        path, name = split_test_id(test_id)
        if path not in index.files:
            continue
        found = [s for s in index.spans(path) if s.leaf == name and s.kind == "function"]
        spans.extend(found[:1])
    return list(dict.fromkeys(spans))


def _static(index: _Index, tests: list[Span], scores: Scores) -> list[Span]:
    """Score what the tests reach, step by step (`_DEPTH` steps, halved at each); the
    tests' helpers are read as part of the tests. What was reached, in order."""
    code = _by_leaf(index.code())
    helpers = _by_leaf(index.helpers())
    seen: set[Span] = set(tests)
    bodies, level = list(tests), list[Span]()
    for body in bodies:
        for found in _reached(index, body, helpers) + _reached(index, body, code):
            if found not in seen:
                seen.add(found)
                (bodies if found in helpers.get(found.leaf, ()) else level).append(found)
    score = 1.0
    reached: list[Span] = []
    for _ in range(_DEPTH):
        following: list[Span] = []
        for span in level:
            scores.add(span, "static", score)
            reached.append(span)
            for found in _reached(index, span, code) + index.inits(span):
                if found not in seen:
                    seen.add(found)
                    following.append(found)
        level, score = following, score * _DECAY
    return reached


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_NOT_NAMING = frozenset(
    {"test", "tests", "it", "should", "the", "a", "an", "of", "and", "or", "with", "when",
     "is", "ok", "works", "check", "checks", "new", "get", "set", "to", "from", "in", "on",
     "for"}
)  # fmt: skip


def _words(name: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(name)} - _NOT_NAMING


def _named(tests: list[Span], reached: list[Span], scores: Scores) -> None:
    """A reached definition whose name's words the failing tests' names share."""
    named = set().union(*(_words(t.leaf) for t in tests)) if tests else set()
    for span in reached:
        words = _words(span.leaf)
        if words and named & words and span.kind == "function":
            scores.add(span, "named", len(named & words) / len(words))


def _by_leaf(spans: Iterable[Span]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for span in spans:
        out.setdefault(span.leaf, []).append(span)
    return out


def _reached(index: _Index, span: Span, definitions: Mapping[str, list[Span]]) -> list[Span]:
    """The definitions among `definitions` that `span` calls or names as a value."""
    names = native_calls(span.path, index.files[span.path], span)
    return [found for name in sorted(names) for found in definitions.get(name.lstrip("."), ())
            if found != span]  # fmt: skip


def native_frames(text: str, files: Collection[str]) -> list[tuple[str, int]]:
    """The (repository path, line) of each `file:line` position in `text`, in order; one
    outside the repository (Go's or Rust's own library, a dependency's) is left out."""
    out: list[tuple[str, int]] = []
    for match in _POSITION.finditer(text):
        path = _in_repository(match.group(1).replace("\\", "/"), files)
        if path is not None:
            out.append((path, int(match.group(2))))
    return out


def _in_repository(raw: str, files: Collection[str]) -> str | None:
    parts = raw.removeprefix("./").split("/")
    if "vendor" in parts or ".cargo" in parts or "registry" in parts:
        return None
    for k in range(len(parts)):
        tail = "/".join(parts[k:])
        if tail in files:
            return tail
    return None
