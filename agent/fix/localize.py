"""Fault localization for `greenloop fix`: which definitions the failing tests run.

    found = localize(files, failing, spectrum=spectrum, edited=changed_lines)
    found[0]   # Suspect(span=Span(path="pkg/cache.py", name="LRU.put", ...),
               #         score=2.1, signals={"dynamic": 1.0, "static": 1.0})

Four signals, each a score in 0..1 per definition (function, method, class):

- **static**: the failing test function's own body (and the fixtures and
  setup methods it uses), read with tree-sitter: the names it calls and the
  attributes it takes, resolved through its imports to their definitions in
  the repository (1.0), then one level further, what those call (0.5);
  attributes of objects of unknown type match methods of the classes reached
  (0.4);
- **dynamic**: spectrum-based fault localization (Ochiai, `sandbox.spectrum`):
  the highest suspiciousness of the lines of the definition;
- **traceback**: the frames of the failures' tracebacks in code files (the
  innermost 1.0, the others 0.8);
- **edited**: the definitions the candidate's edits changed (1.0), so the
  model always sees their current text.

A frame or an edit at module level (an import, a constant) stands for the
lines around it; a test file that failed to collect, for its first lines.

A definition's score is the sum of its signals, weighted (dynamic and
traceback weigh most: they are what ran). Test files are never suspects;
the failing tests themselves are returned apart (`failing_tests`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from agent.fix.repomap import is_test_path
from agent.fix.symbols import Span, SymbolIndex
from sandbox.spectrum import Spectrum

__all__ = ["WEIGHTS", "Scores", "Suspect", "failing_tests", "localize", "test_span"]

WEIGHTS = {"edited": 3.0, "dynamic": 1.0, "traceback": 1.0, "static": 0.6, "named": 0.8}
"""`named`: a definition the failing test reaches whose name shares a word with the
test's (`test_greater_than` and `matches_greater`; `agent.fix.native_localize`)."""
_LEVEL2 = 0.5
_LOOSE = 0.4
_FIXTURE = 0.8
_SETUP = ("setup_method", "setUp", "setup", "setup_class", "setUpClass")
_HEAD_LINES = 30
_AROUND = 5
_FRAME = re.compile(r"(?:^|[\s\"'(])([\w./-]+\.py)(?:\", line |:)(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Suspect:
    """A definition worth showing, and why."""

    span: Span
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    focus: tuple[int, ...] = ()
    """The lines that drew the strongest signal (shown first when the whole is too long)."""


def test_span(index: SymbolIndex, test_id: str) -> Span | None:
    """The function of a pytest node id (`tests/t.py::TestC::test_x[1]`), if found."""
    path, _, rest = test_id.partition("::")
    if path not in index.files or not rest:
        return None
    qualified = ".".join(p.split("[", 1)[0] for p in rest.split("::"))
    for span in index.outline(path).spans:
        if span.name == qualified and span.kind == "function":
            return span
    return None


def failing_tests(index: SymbolIndex, test_ids: Iterable[str]) -> list[Span]:
    """The failing tests' functions, each once; for a file that failed to collect, its head."""
    spans: list[Span | None] = []
    for test_id in test_ids:
        if "::" not in test_id and test_id in index.files:
            lines = len(index.files[test_id].splitlines())
            spans.append(Span(test_id, "imports", "region", 1, min(_HEAD_LINES, lines)))
        else:
            spans.append(test_span(index, test_id))
    return list(dict.fromkeys(s for s in spans if s is not None))


def _region(index: SymbolIndex, path: str, line: int) -> Span:
    """The definition holding `line`, or the lines around it at module level."""
    span = index.outline(path).span_at(line)
    if span is not None:
        return span
    last = len(index.files[path].splitlines())
    line = min(line, last)
    start, end = max(1, line - _AROUND), min(last, line + _AROUND)
    return Span(path, f"lines {start}-{end}", "region", start, end)


class Scores:
    """Each definition's signals (the best of each kind), ranked into suspects."""

    def __init__(self) -> None:
        self.signals: dict[Span, dict[str, float]] = {}
        self.focus: dict[Span, set[int]] = {}

    def add(self, span: Span, signal: str, score: float, lines: Iterable[int] = ()) -> None:
        if is_test_path(span.path) or span.scope == "<local>":
            return
        mine = self.signals.setdefault(span, {})
        if score > mine.get(signal, 0.0):
            mine[signal] = round(score, 3)
        self.focus.setdefault(span, set()).update(lines)

    def ranked(self) -> list[Suspect]:
        out = []
        for span, signals in self.signals.items():
            total = sum(WEIGHTS[name] * value for name, value in signals.items())
            if total > 0:
                focus = tuple(sorted(self.focus.get(span, ())))
                out.append(Suspect(span, round(total, 3), dict(signals), focus))
        out.sort(key=lambda s: (-s.score, s.span.path, s.span.start))
        return out


def localize(
    files: Mapping[str, str],
    failing: Collection[str],
    tracebacks: str = "",
    spectrum: Spectrum | None = None,
    edited: Mapping[str, Collection[int]] | None = None,
    index: SymbolIndex | None = None,
) -> list[Suspect]:
    """Definitions in code files, most suspicious first (see the module docstring)."""
    index = index or SymbolIndex(files)
    scores = Scores()
    _static(index, failing_tests(index, failing), scores)
    _traceback(index, tracebacks, scores)
    if spectrum is not None:
        _dynamic(index, spectrum, scores)
    for path, lines in (edited or {}).items():
        for line in lines if path in index.files else ():
            scores.add(_region(index, path, line), "edited", 1.0, [line])
    return scores.ranked()


# ---------------------------------------------------------------- static


def _static(index: SymbolIndex, tests: list[Span], scores: Scores) -> None:
    bodies: list[tuple[Span, float]] = [(t, 1.0) for t in tests]
    for test in tests:
        bodies.extend((s, 1.0) for s in _setups(index, test))
        bodies.extend(_fixtures(index, test))
    reached: dict[Span, float] = {}
    loose: set[str] = set()
    for body, weight in bodies:
        for span, how in _resolve(index, body, loose):
            reached[span] = max(reached.get(span, 0.0), weight * how)
    for span, score in list(reached.items()):
        scores.add(span, "static", score)
        if span.kind == "function" and not is_test_path(span.path):
            for deeper, how in _resolve(index, span, set()):
                scores.add(deeper, "static", score * _LEVEL2 * how)
    classes = {s for s in reached if s.kind == "class"}
    classes |= {c for c in map(functools.partial(_enclosing_class, index), reached) if c}
    for name in loose:
        for cls in classes:
            method = index.member(cls, name)
            if method is not None:
                scores.add(method, "static", _LOOSE)


def _setups(index: SymbolIndex, test: Span) -> list[Span]:
    if not test.scope:
        return []
    spans = index.outline(test.path).spans
    return [s for s in spans if s.scope == test.scope and s.leaf in _SETUP]


def _fixtures(index: SymbolIndex, test: Span, depth: int = 0) -> list[tuple[Span, float]]:
    """Fixture functions the test takes as parameters (in its file or a conftest.py)."""
    found: list[tuple[Span, float]] = []
    homes = [test.path, *_conftests(index, test.path)]
    for param in index.uses(test).params:
        spans = (index.outline(home).top.get(param) for home in homes)
        fixture = next((s for s in spans if s is not None and _is_fixture(index, s)), None)
        if fixture is None:
            continue
        found.append((fixture, _FIXTURE))
        if depth < 2:
            found.extend((s, w * _FIXTURE) for s, w in _fixtures(index, fixture, depth + 1))
    return found


def _is_fixture(index: SymbolIndex, span: Span) -> bool:
    """Decorated with something named fixture (`@pytest.fixture`, `@fixture(...)`)."""
    header = index.files[span.path].splitlines()[span.start - 1 : span.start + 2]
    return any(line.lstrip().startswith("@") and "fixture" in line for line in header)


def _conftests(index: SymbolIndex, path: str) -> list[str]:
    parts = path.split("/")[:-1]
    homes = ["/".join([*parts[:k], "conftest.py"]) for k in range(len(parts), -1, -1)]
    return [h for h in homes if h in index.files]


def _resolve(index: SymbolIndex, body: Span, loose: set[str]) -> list[tuple[Span, float]]:
    """The definitions a body names, with 1.0 (a class brings its constructors)."""
    uses = index.uses(body)
    scope = _enclosing_class(index, body)
    found: list[Span] = []
    for name in uses.names:
        target = index.lookup(body.path, name)
        if isinstance(target, Span):
            found.append(target)
    for obj, attribute in uses.attributes:
        base = uses.binds.get(obj, obj)
        target = index.chain(body.path, base, scope)
        if isinstance(target, str):
            target = index.attribute(target, attribute)
        elif isinstance(target, Span) and target.kind == "class":
            target = index.member(target, attribute)
        else:
            loose.add(attribute)
            continue
        if isinstance(target, Span):
            found.append(target)
    out: list[tuple[Span, float]] = []
    for span in dict.fromkeys(found):
        made_by = index.constructors(span) if span.kind == "class" else []
        # a class is shown by what builds it; whole only when it has no constructor
        out.extend((s, 1.0) for s in made_by or [span])
    return out


def _enclosing_class(index: SymbolIndex, span: Span) -> Span | None:
    if not span.scope or span.scope == "<local>":
        return None
    for candidate in index.outline(span.path).spans:
        if candidate.name == span.scope and candidate.kind == "class":
            return candidate
    return None


# ---------------------------------------------------------------- traceback, dynamic


def _traceback(index: SymbolIndex, text: str, scores: Scores) -> None:
    frames = [(m.group(1), int(m.group(2))) for m in _FRAME.finditer(text)]
    frames = [(p.removeprefix("./"), n) for p, n in frames]
    code = [(p, n) for p, n in frames if p in index.files and not is_test_path(p)]
    for k, (path, line) in enumerate(code):
        scores.add(_region(index, path, line), "traceback", 1.0 if k == len(code) - 1 else 0.8,
                   [line])  # fmt: skip


def _dynamic(index: SymbolIndex, spectrum: Spectrum, scores: Scores) -> None:
    for path, lines in spectrum.lines.items():
        if path not in index.files or is_test_path(path):
            continue
        outline = index.outline(path)
        best: dict[Span, tuple[float, list[int]]] = {}
        for line in lines:
            span = outline.span_at(line)
            if span is None:
                continue
            value = spectrum.ochiai(path, line)
            top, where = best.get(span, (0.0, []))
            if value > top + 1e-9:
                best[span] = (value, [line])
            elif abs(value - top) <= 1e-9:
                where.append(line)
        for span, (value, where) in best.items():
            scores.add(span, "dynamic", value, where)
