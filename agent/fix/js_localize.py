"""Fault localization for a JavaScript or TypeScript repository: `agent.fix.localize`'s
signals, read from JavaScript.

    suspects, tests = js_localize(files, failing, traces, edited=changed_lines)
    suspects[0]   # Suspect(span=Span(path="lib/range.js", name="clamp", ...), score=1.6, ...)

- **static**: the failing test's call (`test('caps a value', () => ...)`, found by its
  nested literal names: `agent.fix.js_outline`): the names it uses and the
  `object.method` it calls, resolved through its imports (`require`, `import`, the
  package's own name and `..` through package.json's `main`) to definitions in the
  repository's code (1.0), then what those use (0.5); a helper in the test file is
  read as part of the test; a method called on an object of unknown type matches
  the definitions of that name in the modules reached (0.4);
- **traceback**: the stack frames of the failures (`at fn (lib/x.js:12:5)`,
  `file:///.../lib/x.js:12:5`, an absolute sandbox path mapped back to the repository
  by its longest tail that is a file there): the innermost code frame of each trace
  1.0 (node prints it first), the others 0.8;
- **edited**: what the candidate's edits changed (1.0).

There is no coverage signal: node's runner has no spectrum here yet. A frame or an
edit outside any definition stands for the lines around it; a test file that failed
to load, for its first lines.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from agent.fix.js_outline import (
    js_default_export,
    js_imports,
    js_spans,
    js_test_at,
    js_test_span,
    js_uses,
)
from agent.fix.localize import Scores, Suspect
from agent.fix.repomap import is_test_path
from agent.fix.symbols import Span
from sandbox.base import TestReport
from sandbox.toolchains.js_runner_files import JS_SOURCES

__all__ = ["JsIndex", "js_frames", "js_localize", "node_errors", "with_node_errors"]

_LEVEL2 = 0.5
_LOOSE = 0.4
_DEPTH = 5
_HEAD_LINES = 30
_AROUND = 5
_ERROR_LINES = 14
_PATH = re.compile(r"(?:file://)?((?:[\w@.+-]*/)+[\w@.+-]+\.[cm]?[jt]sx?)\b")
_FRAME = re.compile(r"(?:file://)?((?:[\w@.+-]*/)*[\w@.+-]+\.[cm]?[jt]sx?):(\d+)(?::\d+)?")


def _package(text: str | None) -> tuple[str, str]:
    """package.json's name and main module (`index.js` when it names none)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    name, main = data.get("name"), data.get("main")
    return (name if isinstance(name, str) else "", main if isinstance(main, str) else "index.js")


class JsIndex:
    """Definitions and imports of a repository's JavaScript and TypeScript files."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = {
            p: t for p, t in files.items()
            if PurePosixPath(p).suffix in JS_SOURCES and "node_modules" not in p.split("/")
        }  # fmt: skip
        self.name, self.main = _package(files.get("package.json"))
        self._spans: dict[str, list[Span]] = {}
        self._imports: dict[str, dict[str, tuple[str, str]]] = {}

    def spans(self, path: str) -> list[Span]:
        if path not in self._spans:
            self._spans[path] = js_spans(path, self.files[path]) if path in self.files else []
        return self._spans[path]

    def top(self, path: str, name: str) -> Span | None:
        return next((s for s in self.spans(path) if not s.scope and s.name == name), None)

    def span_at(self, path: str, line: int) -> Span | None:
        """The innermost definition holding `line`."""
        best = None
        for span in self.spans(path):
            if span.start <= line <= span.end and (best is None or span.start >= best.start):
                best = span
        return best

    def module(self, importer: str, specifier: str) -> str | None:
        """The repository file an import names, or None for a package or a builtin."""
        if self.name and (specifier == self.name or specifier.startswith(self.name + "/")):
            specifier = "./" + specifier[len(self.name) :].lstrip("/")
            importer = "package.json"
        if not specifier.startswith("."):
            return None
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
        if base == ".":
            base = posixpath.normpath(self.main)
        return self._file(base)

    def _file(self, base: str) -> str | None:
        stem = re.sub(r"\.[cm]?js$", "", base)
        candidates = [
            base,
            *(stem + e for e in JS_SOURCES),
            *(f"{base}/index{e}" for e in JS_SOURCES),
        ]
        return next((c for c in candidates if c in self.files), None)

    def imports(self, path: str) -> dict[str, tuple[str, str]]:
        if path not in self._imports:
            text = self.files.get(path)
            self._imports[path] = js_imports(path, text) if text is not None else {}
        return self._imports[path]

    def lookup(self, path: str, name: str, depth: int = 0) -> Span | str | None:
        """What `name` means at the top of `path`: a definition, a module (its path), or None."""
        if path not in self.files or depth > _DEPTH:
            return None
        own = self.top(path, name)
        if own is not None:
            return own
        if name not in self.imports(path):
            return self._through_stars(path, name, depth)
        specifier, exported = self.imports(path)[name]
        module = self.module(path, specifier)
        if module is None or exported in ("", "default"):
            return module
        return self.exported(module, exported, depth + 1)

    def _through_stars(self, path: str, name: str, depth: int) -> Span | str | None:
        """`name` in a module this one passes on whole (`export * from './x'`)."""
        for specifier, what in self.imports(path).values():
            module = self.module(path, specifier) if what == "*" else None
            found = self.lookup(module, name, depth + 1) if module else None
            if found is not None:
                return found
        return None

    def exported(self, module: str, name: str, depth: int = 0) -> Span | str | None:
        """`module.name`: a definition in it, or one it imports and passes on."""
        return self.lookup(module, name, depth)

    def member(self, cls: Span, name: str) -> Span | None:
        return next((s for s in self.spans(cls.path) if s.scope == cls.name and s.leaf == name),
                    None)  # fmt: skip

    def chain(self, path: str, dotted: str, scope: Span | None = None) -> Span | str | None:
        """A dotted expression (`lib.range`, `Cache`, `this.helper`) seen from `path`."""
        parts = dotted.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        here = scope if parts[0] == "this" else self.lookup(path, parts[0])
        for part in parts[1:]:
            if isinstance(here, str):
                here = self.exported(here, part)
            elif isinstance(here, Span) and here.kind == "class":
                here = self.member(here, part)
            else:
                return None
        return here

    def callable_module(self, module: str) -> Span | None:
        """What calling a whole module runs: `module.exports = function ...`, or the
        definition `module.exports = name` and `export default` name."""
        own = self.top(module, "exports")
        if own is not None or module not in self.files:
            return own
        name = js_default_export(module, self.files[module])
        found = self.lookup(module, name) if name else None
        return found if isinstance(found, Span) else None

    def enclosing_class(self, span: Span) -> Span | None:
        if not span.scope:
            return None
        return next((s for s in self.spans(span.path) if s.name == span.scope), None)


def js_localize(
    files: Mapping[str, str],
    failing: Collection[str],
    traces: Sequence[str] = (),
    edited: Mapping[str, Collection[int]] | None = None,
) -> tuple[list[Suspect], list[Span]]:
    """Definitions in code files, most suspicious first, and the failing tests' calls."""
    index = JsIndex(files)
    scores = Scores()
    tests = failing_js_tests(index, failing, traces)
    _static(index, tests, scores)
    for trace in traces:
        code = [(p, n) for p, n in js_frames(trace, index.files) if not is_test_path(p)]
        for k, (path, line) in enumerate(code):
            scores.add(_region(index, path, line), "traceback", 1.0 if k == 0 else 0.8, [line])
    for path, lines in (edited or {}).items():
        for line in lines if path in index.files else ():
            scores.add(_region(index, path, line), "edited", 1.0, [line])
    return scores.ranked(), tests


def failing_js_tests(
    index: JsIndex, test_ids: Iterable[str], traces: Sequence[str] = ()
) -> list[Span]:
    """The failing tests' calls, each once; for a file that did not load, its head; for a
    test named by an expression, the test call a frame of the failures names."""
    spans: list[Span] = []
    for test_id in test_ids:
        path, _, name = test_id.partition("::")
        text = index.files.get(path)
        if text is None:
            continue
        if not name:
            last = min(_HEAD_LINES, len(text.splitlines()))
            spans.append(Span(path, "imports", "region", 1, max(1, last)))
            continue
        span = js_test_span(path, text, name) or _test_in_frames(path, text, traces, index)
        if span is not None:
            spans.append(span)
    return list(dict.fromkeys(spans))


def _test_in_frames(path: str, text: str, traces: Sequence[str], index: JsIndex) -> Span | None:
    for trace in traces:
        for frame, line in js_frames(trace, index.files):
            found = js_test_at(path, text, line) if frame == path else None
            if found is not None:
                return found
    return None


def js_frames(text: str, files: Collection[str]) -> list[tuple[str, int]]:
    """The (repository path, line) of each stack frame in `text`, in order; a path
    outside the repository (node's own, a package's, a fresh name) is left out."""
    out: list[tuple[str, int]] = []
    for match in _FRAME.finditer(text):
        path = _in_repository(match.group(1), files)
        if path is not None:
            out.append((path, int(match.group(2))))
    return out


def _in_repository(raw: str, files: Collection[str]) -> str | None:
    path = raw.removeprefix("./")
    parts = path.split("/")
    if "node_modules" in parts:
        return None  # a package's file, never the repository's own of the same tail
    if path in files:
        return path
    for k in range(1, len(parts)):
        tail = "/".join(parts[k:])
        if tail in files:
            return tail
    return None


def _region(index: JsIndex, path: str, line: int) -> Span:
    span = index.span_at(path, line)
    if span is not None:
        return span
    last = max(1, len(index.files[path].splitlines()))
    line = min(line, last)
    start, end = max(1, line - _AROUND), min(last, line + _AROUND)
    return Span(path, f"lines {start}-{end}", "region", start, end)


# ---------------------------------------------------------------- static


def _static(index: JsIndex, tests: list[Span], scores: Scores) -> None:
    reached: dict[Span, float] = {}
    loose: set[str] = set()
    bodies = list(tests)
    for body in bodies:
        for span in _resolve(index, body, loose):
            if is_test_path(span.path) and span.kind == "function" and span not in bodies:
                bodies.append(span)  # a helper of the tests': read as part of the test
            else:
                reached[span] = 1.0
    for span, score in list(reached.items()):
        scores.add(span, "static", score)
        if span.kind == "function":
            for deeper in _resolve(index, span, set()):
                scores.add(deeper, "static", score * _LEVEL2)
    homes = {s.path for s in reached} | {
        m for t in tests for spec, _ in index.imports(t.path).values()
        if (m := index.module(t.path, spec)) is not None
    }  # fmt: skip
    for name in loose:
        for home in homes:
            for span in index.spans(home):
                if span.leaf == name and span.kind == "function":
                    scores.add(span, "static", _LOOSE)


def _resolve(index: JsIndex, body: Span, loose: set[str]) -> list[Span]:
    """The definitions a body names or calls (a class brings itself, whole)."""
    if body.path not in index.files:
        return []
    uses = js_uses(body.path, index.files[body.path], body.start, body.end)
    scope = index.enclosing_class(body)
    found: list[Span] = []
    for name in sorted(uses.names):
        target = index.lookup(body.path, name)
        if isinstance(target, str):
            target = index.callable_module(target)
        if isinstance(target, Span) and target != body:
            found.append(target)
    for obj, attribute in uses.attributes:
        base = uses.binds.get(obj, obj)
        target = index.chain(body.path, base, scope)
        if isinstance(target, str):
            target = index.exported(target, attribute)
        elif isinstance(target, Span) and target.kind == "class":
            target = index.member(target, attribute)
        else:
            loose.add(attribute)
            continue
        if isinstance(target, Span) and target != body:
            found.append(target)
    return list(dict.fromkeys(found))


def node_errors(output: str, files: Collection[str]) -> list[str]:
    """node's uncaught errors in a run's output (a test file that fails to load reports
    no test: why is only there), each once: its last lines without node's own frames,
    its paths the repository's."""
    found: list[str] = []
    for chunk in output.split("\nNode.js v")[:-1]:
        lines = [line.rstrip() for line in chunk.strip().splitlines()
                 if "node:internal" not in line and line.strip()]  # fmt: skip
        text = _relative("\n".join(lines[-_ERROR_LINES:]), files)
        if "Error" in text and text not in found:
            found.append(text)
    return found


def _relative(text: str, files: Collection[str]) -> str:
    """`text` with the folder the files ran in taken off every path (as it is off the
    paths of repository files its frames name)."""
    roots = set()
    for match in _PATH.finditer(text):
        raw = match.group(1)
        path = _in_repository(raw, files)
        if path is not None and raw != path and raw.endswith("/" + path):
            roots.add(raw[: -len(path)])
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace("file://" + root, "").replace(root, "")
    return text


def with_node_errors(report: TestReport, files: Collection[str]) -> TestReport:
    """`report` with node's uncaught errors (`node_errors`) as the traceback of the first
    test file that failed to load, so a prompt says why it did."""
    errors = node_errors(report.exec.output, files) if report.exec is not None else []
    if not errors or not report.collection_errors:
        return report
    first, *rest = report.collection_errors
    said = "node said:\n" + "\n\n".join(errors)
    first = dataclasses.replace(first, traceback=f"{first.traceback}\n{said}".strip())
    return dataclasses.replace(report, collection_errors=(first, *rest))
