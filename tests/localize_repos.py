"""A fixture library for fault localization: `almanac`, about 20 modules, one bug at a time.

    files = almanac_files("cache")     # the repository with the cache bug injected
    reply = almanac_fix("cache")       # the search/replace block that undoes it

Four bugs, one per way a test can fail (issue 10):

- `wrap`: a comparison in a helper; the test asserts the public function's return value;
- `cache`: the eviction bound in a method of a class the test builds;
- `means`: an arithmetic step in a generator two calls below what the test calls (and a
  passing test runs the same line);
- `render`: a format call that raises inside the library.

The public names are re-exported from `almanac/__init__.py` (as real libraries do),
and a dozen filler modules of real-looking code make whole files too dear to show.
"""

from __future__ import annotations

from scripted_agent import search_replace

__all__ = ["ALMANAC_BUGS", "almanac_files", "almanac_fix"]

_INIT = '''"""almanac: small helpers."""

from .cache import LRUCache
from .render import render_row, render_table
from .stats import report
from .wrapping import indent, wrap_words

__all__ = ["LRUCache", "indent", "render_row", "render_table", "report", "wrap_words"]
'''

_WRAPPING = '''"""Wrapping words into lines."""


def _fits(line: list[str], word: str, width: int) -> bool:
    used = sum(len(w) for w in line) + len(line)
    return used + len(word) <= width


def wrap_words(text: str, width: int) -> list[str]:
    """Greedy wrap: as many words on a line as fit in `width` characters."""
    lines: list[list[str]] = []
    for word in text.split():
        if lines and _fits(lines[-1], word, width):
            lines[-1].append(word)
        else:
            lines.append([word])
    return [" ".join(line) for line in lines]


def indent(lines: list[str], by: int = 2) -> list[str]:
    return [" " * by + line for line in lines]
'''

_CACHE = '''"""A least-recently-used cache."""

from collections import OrderedDict


class LRUCache:
    """Keeps the `capacity` most recently used keys."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data: OrderedDict[str, object] = OrderedDict()

    def get(self, key: str, default: object = None) -> object:
        if key not in self._data:
            return default
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: str, value: object) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
'''

_STATS = '''"""One-line reports of a series."""

from .summary import summarize


def report(values: list[float]) -> str:
    info = summarize(values)
    if not info:
        return "empty"
    return f"n={info['n']} last_mean={info['last_mean']:.2f}"
'''

_SUMMARY = '''"""Summaries of a series."""

from .numeric import running_means


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    means = list(running_means(values))
    return {"n": len(values), "last_mean": means[-1]}
'''

_NUMERIC = '''"""Numeric helpers."""

from collections.abc import Iterable, Iterator


def running_means(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    count = 0
    for value in values:
        total += value
        count += 1
        yield total / count


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
'''

_RENDER = '''"""Rendering rows of a text table."""


def render_row(cells: list[str], width: int = 6) -> str:
    return "|".join("{:>{w}}".format(cell, w=width) for cell in cells)


def render_table(rows: list[list[str]], width: int = 6) -> str:
    return "\\n".join(render_row(row, width) for row in rows)
'''

_TESTS = {
    "tests/test_wrapping.py": """from almanac import indent, wrap_words


def test_wrap_words_fills_each_line():
    assert wrap_words("aa bb cc dd", 5) == ["aa bb", "cc dd"]


def test_indent():
    assert indent(["x"], 3) == ["   x"]
""",
    "tests/test_cache.py": """import pytest

from almanac import LRUCache


def test_get_after_put():
    cache = LRUCache(2)
    cache.put("a", 1)
    assert cache.get("a") == 1


def test_least_recent_is_evicted():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") is None
    assert len(cache) == 2


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        LRUCache(0)
""",
    "tests/test_stats.py": """from almanac import report
from almanac.numeric import running_means


def test_report_of_an_uneven_series():
    assert report([1, 2]) == "n=2 last_mean=1.50"


def test_report_of_nothing():
    assert report([]) == "empty"


def test_running_means_of_an_even_series():
    assert list(running_means([2, 4])) == [2.0, 3.0]
""",
    "tests/test_render.py": """from almanac import render_row


def test_render_row_pads_cells():
    assert render_row(["a", "bb"], 3) == "  a| bb"
""",
}

ALMANAC_BUGS: dict[str, tuple[str, str, str]] = {
    "wrap": ("almanac/wrapping.py", "used + len(word) <= width", "used + len(word) < width"),
    "cache": ("almanac/cache.py", "> self.capacity:", "> self.capacity + 1:"),
    "means": ("almanac/numeric.py", "yield total / count", "yield total // count"),
    "render": ("almanac/render.py", '"{:>{w}}".format', '"{:>{w}d}".format'),
}


def _filler(name: str, count: int) -> str:
    """A module of `count` small, plausible functions nobody's failing test uses."""
    parts = [f'"""{name}: assorted helpers."""\n\nimport math\n']
    for k in range(count):
        parts.append(
            f"def {name}_step_{k}(values: list[float], factor: float = {k + 1}.0) -> list[float]:\n"
            f'    """Scale, shift and round a series ({name}, variant {k})."""\n'
            f"    shifted = [v * factor + {k} for v in values]\n"
            f"    if not shifted:\n        return []\n"
            f"    peak = max(abs(v) for v in shifted) or 1.0\n"
            f"    return [round(math.copysign(abs(v) / peak, v), {k % 4 + 1}) for v in shifted]\n"
        )
    return "\n\n".join(parts)


_FILLERS = ("calendar", "units", "colors", "geometry", "money", "paths", "words", "grids",
            "timing", "tallies", "ranges", "shapes")  # fmt: skip


def almanac_files(*bugs: str) -> dict[str, str]:
    """The almanac repository with the named bugs injected."""
    files = {
        "pyproject.toml": '[project]\nname = "almanac"\nversion = "0.1"\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
        "almanac/__init__.py": _INIT,
        "almanac/wrapping.py": _WRAPPING,
        "almanac/cache.py": _CACHE,
        "almanac/stats.py": _STATS,
        "almanac/summary.py": _SUMMARY,
        "almanac/numeric.py": _NUMERIC,
        "almanac/render.py": _RENDER,
        **_TESTS,
    }
    for name in _FILLERS:
        files[f"almanac/{name}.py"] = _filler(name, 30)
        files[f"tests/test_{name}.py"] = (
            f"from almanac.{name} import {name}_step_0\n\n\ndef test_{name}_step():\n"
            f"    assert {name}_step_0([]) == []\n"
        )
    for bug in bugs:
        path, good, bad = ALMANAC_BUGS[bug]
        assert files[path].count(good) == 1, bug
        files[path] = files[path].replace(good, bad)
    return files


def buggy_line(bug: str) -> str:
    """The whole line the bug is on, as the repository has it."""
    path, _, bad = ALMANAC_BUGS[bug]
    return next(line for line in almanac_files(bug)[path].splitlines() if bad in line)


def almanac_fix(bug: str) -> str:
    path, good, bad = ALMANAC_BUGS[bug]
    line = buggy_line(bug)
    return search_replace(path, line, line.replace(bad, good))
