"""The repo map: what a model needs to see of a repository it cannot read whole.

    tags = tags_for_files(files, cache)                 # defs and refs per file (tree-sitter)
    ranking = rank(tags, focus={"tests/test_x.py": 1.0}, mentioned={"total"})
    text = render_map(ranking, tags, budget=2000)       # signatures, most relevant first

Definitions and references come from a tree-sitter query kept as data
(`agent/queries/python-tags.scm`). Files are the nodes of a graph; a file that
references a name another file defines gets an edge to it, weighted by how
often it uses the name (square root, so one chatty file does not dominate),
by ten when the name is one the failing tests mention, and by a tenth when the
name is private or defined in many files. A personalized PageRank (power
iteration, below) starting from the failing tests ranks the files; each file's
rank flows along its edges to the definitions it uses, which ranks the
definitions. The map lists the best-ranked signatures that fit the token
budget (tokens are estimated as characters / 4), found by binary search.

Tags are cached per file under a stamp: mtime and size for files read from
disk (a warm build reads nothing that has not changed), a content digest for
files held in memory (a run's candidate files change without touching disk).
"""

from __future__ import annotations

import builtins
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from agent.fix.tags import (
    Definition,
    FileTags,
    TagCache,
    dunder,
    extract_tags,
    tags_for_dir,
    tags_for_files,
)
from sandbox.toolchains import toolchains

__all__ = [
    "Definition",
    "FileTags",
    "Ranking",
    "TagCache",
    "estimate_tokens",
    "extract_tags",
    "is_test_path",
    "pagerank",
    "rank",
    "render_map",
    "tags_for_dir",
    "tags_for_files",
]

log = logging.getLogger(__name__)

_MENTIONED = 10.0
_DISCOUNT = 0.1
_MANY_DEFINERS = 5
_ATTRIBUTE = 0.2
"""`x.name` may be any object's `name`: a weaker tie than a name used bare or imported."""
_COMMON = (
    frozenset(name for kind in (dict, list, str, set, bytes, int, object) for name in dir(kind))
    | frozenset(dir(builtins))
    | {"path", "name", "run", "data", "value", "text", "log"}
)
"""Names so common that a use says little about which definition is meant."""


def estimate_tokens(text: str) -> int:
    """Tokens as characters / 4, rounded up (no tokenizer is available here)."""
    return (len(text) + 3) // 4


def is_test_path(path: str) -> bool:
    """pytest's own files: `tests/` folders, `test_*.py`, `*_test.py`, `conftest.py`; and
    every toolchain's test files (`*.test.js`, `*.spec.ts`, `test-*.mjs`, ...)."""
    pure = PurePosixPath(path)
    name = pure.name
    in_tests = any(part in ("tests", "test") for part in pure.parts[:-1])
    test_file = name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    return in_tests or test_file or any(chain.is_test_file(path) for chain in toolchains())


# ---------------------------------------------------------------- ranking


def pagerank(
    nodes: Collection[str],
    edges: Mapping[tuple[str, str], float],
    personalization: Mapping[str, float] | None = None,
    *,
    damping: float = 0.85,
    tolerance: float = 1e-9,
    max_iterations: int = 100,
) -> dict[str, float]:
    """Personalized PageRank by power iteration; ranks sum to 1.

    A random walker follows an edge with probability `damping` (in proportion to
    its weight) and otherwise jumps to a node chosen by `personalization`
    (uniform when none is given); a node without out-edges always jumps.
    """
    if not nodes:
        return {}
    weights = {n: max(0.0, (personalization or {}).get(n, 0.0)) for n in nodes}
    total = sum(weights.values())
    jump = (
        {n: w / total for n, w in weights.items()}
        if total > 0
        else dict.fromkeys(nodes, 1.0 / len(nodes))
    )
    out_weight: dict[str, float] = defaultdict(float)
    for (src, _), weight in edges.items():
        out_weight[src] += weight
    rank_now = dict(jump)
    for _ in range(max_iterations):
        dangling = sum(r for n, r in rank_now.items() if out_weight.get(n, 0.0) <= 0)
        nxt = {n: (1 - damping + damping * dangling) * jump[n] for n in nodes}
        for (src, dst), weight in edges.items():
            nxt[dst] += damping * rank_now[src] * weight / out_weight[src]
        change = sum(abs(nxt[n] - rank_now[n]) for n in nodes)
        rank_now = nxt
        if change < tolerance * len(nodes):
            break
    return rank_now


@dataclass(frozen=True)
class Ranking:
    """Files and definitions, most relevant first."""

    files: dict[str, float]
    definitions: list[tuple[str, Definition]] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    """Files whose definitions the focus reaches through references, the best-used first."""


def _edges(
    tags: Mapping[str, FileTags], mentioned: Collection[str]
) -> dict[tuple[str, str], dict[str, float]]:
    """(referencing file, defining file) -> {name: weight}."""
    definers: dict[str, set[str]] = defaultdict(set)
    for path, file_tags in tags.items():
        for definition in file_tags.defs:
            definers[definition.name].add(path)
    edges: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for path, file_tags in tags.items():
        for ref, count in Counter(file_tags.refs).items():
            name = ref.lstrip(".")
            where = definers.get(name)
            if not where:
                continue
            mul = _MENTIONED if name in mentioned else 1.0
            if ref.startswith("."):
                mul *= _ATTRIBUTE
            if name in _COMMON or (name.startswith("_") and not dunder(name)):
                mul *= _DISCOUNT
            if len(where) > _MANY_DEFINERS:
                mul *= _DISCOUNT
            for definer in where - {path}:
                edges[(path, definer)][name] = mul * math.sqrt(count)
    return edges


def _is_test_def(path: str, definition: Definition) -> bool:
    return is_test_path(path) and definition.name.startswith(("test", "Test"))


def rank(
    tags: Mapping[str, FileTags],
    focus: Mapping[str, float] | None = None,
    mentioned: Collection[str] = (),
) -> Ranking:
    """Rank files (PageRank from `focus`) and their definitions (the rank that reaches them)."""
    edges = _edges(tags, frozenset(mentioned))
    flat = {pair: sum(names.values()) for pair, names in edges.items()}
    file_rank = pagerank(list(tags), flat, focus)
    out_weight: dict[str, float] = defaultdict(float)
    for (src, _), weight in flat.items():
        out_weight[src] += weight
    score: dict[tuple[str, str], float] = defaultdict(float)
    for (src, dst), names in edges.items():
        for name, weight in names.items():
            score[(dst, name)] += file_rank[src] * weight / out_weight[src]
    ranked: list[tuple[float, str, int, Definition]] = []
    for path, file_tags in tags.items():
        for definition in file_tags.defs:
            if _is_test_def(path, definition):
                continue
            # a small share of the file's own rank orders definitions nobody references
            value = score.get((path, definition.name), 0.0) + 1e-3 * file_rank.get(path, 0.0)
            ranked.append((-value, path, definition.line, definition))
    ranked.sort(key=lambda item: (item[0], item[1], item[2]))
    files = dict(sorted(file_rank.items(), key=lambda kv: -kv[1]))
    used = sorted(score.items(), key=lambda kv: -kv[1])
    reached = list(dict.fromkeys(path for (path, _), value in used if value > 0))
    return Ranking(files, [(path, d) for _, path, _, d in ranked], reached)


# ---------------------------------------------------------------- rendering


def _render(selected: list[tuple[str, Definition]], classes: Mapping[tuple[str, str], str]) -> str:
    by_file: dict[str, list[Definition]] = {}
    for path, definition in selected:
        by_file.setdefault(path, []).append(definition)
    blocks = []
    for path, defs in by_file.items():
        lines = [f"{path}:"]
        shown_classes = {d.name for d in defs if d.kind == "class" and not d.scope}
        for definition in sorted(defs, key=lambda d: d.line):
            if definition.scope and definition.scope not in shown_classes:
                header = classes.get((path, definition.scope), f"class {definition.scope}:")
                lines.append("  " + header)
                shown_classes.add(definition.scope)
            indent = "    " if definition.scope else "  "
            lines.append(indent + definition.signature)
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def render_map(
    ranking: Ranking,
    tags: Mapping[str, FileTags],
    budget: int,
    exclude: Collection[str] = (),
) -> str:
    """The best-ranked signatures, grouped by file, in at most `budget` tokens."""
    candidates = [(p, d) for p, d in ranking.definitions if p not in exclude]
    classes = {
        (path, d.name): d.signature
        for path, file_tags in tags.items()
        for d in file_tags.defs
        if d.kind == "class"
    }
    low, high, best = 0, len(candidates), ""
    while low <= high:
        middle = (low + high) // 2
        text = _render(candidates[:middle], classes)
        if estimate_tokens(text) <= budget:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best
