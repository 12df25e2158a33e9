"""What a fix prompt shows of the code: the suspects' text, exactly, then the map.

    context = fix_context(files, suspects, tests, budget=4000, cache=cache)
    context.text     # "pkg/cache.py, lines 10-31 (LRU.put):\\n```python\\n...```" + the map
    context.shown    # what was shown, by which signal and score (for the trajectory)

The best-ranked definitions are shown in full with their path and line
numbers and a few lines around them, verbatim (a model answering in
SEARCH/REPLACE must quote them exactly); a small file is shown whole. The
failing tests' own functions come first, within a fifth of the budget.
Windows in one file that touch are merged. A definition too long for what is
left is cut to the lines around its strongest signal. The repo map
(`agent.fix.repomap`) lists the signatures of the rest in what remains, of the
files with the given `suffixes` (a JavaScript repository's map is of its JavaScript).
Each excerpt is fenced in its file's language (`agent.languages`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.fix.localize import Suspect
from agent.fix.repomap import TagCache, estimate_tokens, rank, render_map, tags_for_files
from agent.fix.symbols import Span
from agent.languages import language_of

__all__ = ["FixContext", "fix_context"]

CONTEXT_LINES = 3
SMALL_FILE_LINES = 60
_FOCUS_LINES = 15
_MOST_SUSPECTS = 200
_TEST_SHARE = 0.2
_EXCERPT_SHARE = 0.8
_MAP_HEADER = "Map of the rest of the repository (signatures, most relevant first):\n"


@dataclass(frozen=True)
class FixContext:
    """The rendered context and a record of what it holds."""

    text: str
    shown: list[dict[str, Any]] = field(default_factory=list)
    whole: list[str] = field(default_factory=list)
    map_tokens: int = 0

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass
class _Window:
    start: int
    end: int
    labels: list[str]


class _Layout:
    """Windows per file, in the order files were first chosen."""

    def __init__(self, files: Mapping[str, str], lines: dict[str, list[str]] | None = None) -> None:
        self.files = files
        self.windows: dict[str, list[_Window]] = {}
        self.whole: set[str] = set()
        self._lines = lines if lines is not None else {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            self._lines[path] = self.files[path].splitlines()
        return self._lines[path]

    def add(self, path: str, start: int, end: int, label: str) -> None:
        windows = self.windows.setdefault(path, [])
        windows.append(_Window(start, end, [label]))
        windows.sort(key=lambda w: w.start)
        merged: list[_Window] = []
        for window in windows:
            if merged and window.start <= merged[-1].end + 1:
                merged[-1].end = max(merged[-1].end, window.end)
                merged[-1].labels.extend(x for x in window.labels if x not in merged[-1].labels)
            else:
                merged.append(window)
        self.windows[path] = merged

    def copy(self) -> _Layout:
        other = _Layout(self.files, self._lines)
        other.windows = {p: [_Window(w.start, w.end, list(w.labels)) for w in ws]
                         for p, ws in self.windows.items()}  # fmt: skip
        other.whole = set(self.whole)
        return other

    def render(self) -> str:
        blocks = []
        for path, windows in self.windows.items():
            lines = self.lines(path)
            for window in windows:
                body = "\n".join(lines[window.start - 1 : window.end])
                whole = window.start == 1 and window.end >= len(lines)
                where = "whole file" if whole else f"lines {window.start}-{window.end}"
                names = f" ({', '.join(window.labels)})" if window.labels else ""
                language = language_of(path)
                fence = language.fence if language else ""
                blocks.append(f"{path}, {where}{names}:\n```{fence}\n{body}\n```")
        return "\n\n".join(blocks)


def _windows(span: Span, lines: int, focus: Sequence[int]) -> list[tuple[int, int]]:
    """Ways to show `span`, best first: its small file whole, the span with a few lines
    around, the lines around its strongest signal."""
    out = [(1, lines)] if lines <= SMALL_FILE_LINES else []
    start, end = max(1, span.start - CONTEXT_LINES), min(lines, span.end + CONTEXT_LINES)
    out.append((start, end))
    if focus:
        first, last = focus[0], min(focus[-1], focus[0] + 2 * _FOCUS_LINES)
        out.append((max(start, first - _FOCUS_LINES), min(end, last + _FOCUS_LINES)))
    return out


def _place(layout: _Layout, span: Span, focus: Sequence[int], budget: int) -> _Layout | None:
    """The layout with `span` added, or None when no way of showing it fits `budget` tokens."""
    lines = len(layout.lines(span.path))
    for start, end in _windows(span, lines, focus):
        trial = layout.copy()
        trial.add(span.path, start, end, span.name)
        if start == 1 and end >= lines:
            trial.whole.add(span.path)
        if estimate_tokens(trial.render()) <= budget:
            return trial
    return None


def fix_context(
    files: Mapping[str, str],
    suspects: Sequence[Suspect],
    tests: Sequence[Span],
    budget: int,
    *,
    cache: TagCache | None = None,
    suffixes: tuple[str, ...] = (".py",),
) -> FixContext:
    """The failing tests, the best suspects and the map, in at most `budget` tokens."""
    layout = _Layout(files)
    test_budget = int(budget * _TEST_SHARE)
    for test in tests:
        placed = _place(layout, test, (), test_budget)
        layout = placed or layout
    shown: list[dict[str, Any]] = []
    excerpt_budget = int(budget * _EXCERPT_SHARE)
    for suspect in suspects[:_MOST_SUSPECTS]:
        placed = _place(layout, suspect.span, suspect.focus, excerpt_budget)
        if placed is None:
            continue
        layout = placed
        shown.append({"path": suspect.span.path, "name": suspect.span.name,
                      "lines": [suspect.span.start, suspect.span.end],
                      "score": suspect.score, "signals": suspect.signals})  # fmt: skip
    text = layout.render()
    used = estimate_tokens(text) + estimate_tokens(_MAP_HEADER) + 2
    map_text = _map(files, tests, suspects, budget - used, layout.whole, cache, suffixes)
    if map_text:
        text = f"{text}\n\n{_MAP_HEADER}{map_text}" if text else _MAP_HEADER + map_text
    return FixContext(text, shown, sorted(layout.whole), estimate_tokens(map_text))


def _map(
    files: Mapping[str, str],
    tests: Sequence[Span],
    suspects: Sequence[Suspect],
    budget: int,
    whole: set[str],
    cache: TagCache | None,
    suffixes: tuple[str, ...],
) -> str:
    if budget <= 0:
        return ""
    tags = tags_for_files(files, cache, suffixes)
    focus = dict.fromkeys((t.path for t in tests), 1.0)
    for suspect in suspects[:10]:
        focus.setdefault(suspect.span.path, 0.5)
    mentioned = {s.span.leaf for s in suspects[:20]}
    return render_map(rank(tags, focus, mentioned), tags, budget, exclude=whole)
