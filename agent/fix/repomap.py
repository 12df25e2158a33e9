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
import functools
import hashlib
import json
import logging
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from tree_sitter import Node, Query, QueryCursor

from agent.syntax import python_language, python_parser

__all__ = [
    "Context",
    "Definition",
    "FileTags",
    "Ranking",
    "TagCache",
    "build_context",
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

_CACHE_VERSION = 2
_SIGNATURE_CHARS = 120
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
_NOT_DEFINITIONS = frozenset({"log", "logger", "_log", "_logger"})


def estimate_tokens(text: str) -> int:
    """Tokens as characters / 4, rounded up (no tokenizer is available here)."""
    return (len(text) + 3) // 4


def is_test_path(path: str) -> bool:
    """pytest's own files: `tests/` folders, `test_*.py`, `*_test.py`, `conftest.py`."""
    pure = PurePosixPath(path)
    name = pure.name
    in_tests = any(part in ("tests", "test") for part in pure.parts[:-1])
    test_file = name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    return in_tests or test_file


# ---------------------------------------------------------------- tags


@dataclass(frozen=True)
class Definition:
    """One definition: a class, a function or method, a module-level name."""

    name: str
    kind: str
    """class, function or constant."""
    line: int
    """1-based."""
    signature: str
    """The header as written (`def total(n: int) -> int:`), whitespace collapsed."""
    scope: str = ""
    """The enclosing class for methods; "" at module level."""


@dataclass(frozen=True)
class FileTags:
    """What one file defines and which names it uses (with repeats: counts matter)."""

    path: str
    defs: tuple[Definition, ...] = ()
    refs: tuple[str, ...] = ()
    """Names used; `.name` for an attribute (`obj.name`), a weaker tie."""


@functools.cache
def _query() -> Query:
    source = resources.files("agent").joinpath("queries/python-tags.scm").read_text("utf-8")
    return Query(python_language(), source)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _scope(node: Node) -> str | None:
    """The class a definition sits in ("" at module level); None inside a function."""
    parent = node.parent
    while parent is not None:
        if parent.type == "function_definition":
            return None
        if parent.type == "class_definition":
            name = parent.child_by_field_name("name")
            return _text(name) if name is not None else ""
        parent = parent.parent
    return ""


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _signature(node: Node) -> str:
    body = node.child_by_field_name("body")
    raw = node.text or b""
    if body is not None:
        raw = raw[: body.start_byte - node.start_byte]
    text = " ".join(raw.decode("utf-8", "replace").split())
    if len(text) > _SIGNATURE_CHARS:
        text = text[: _SIGNATURE_CHARS - 3] + "..."
    return text


def extract_tags(path: str, source: str) -> FileTags:
    """Definitions and references of one Python file (a file that does not parse gives
    what tree-sitter could recover)."""
    tree = python_parser().parse(source.encode("utf-8", "surrogatepass"))
    defs: list[Definition] = []
    refs: list[str] = []
    for _, caps in QueryCursor(_query()).matches(tree.root_node):
        for capture, nodes in caps.items():
            if capture == "name.reference.attribute":
                refs.extend("." + _text(n) for n in nodes)
            elif capture.startswith("name.reference."):
                refs.extend(_text(n) for n in nodes)
            elif capture.startswith("name.definition."):
                kind = capture.rsplit(".", 1)[1]
                whole = caps.get(f"definition.{kind}", nodes)[0]
                scope = _scope(whole)
                name = _text(nodes[0])
                plumbing = name in _NOT_DEFINITIONS or (_dunder(name) and kind == "constant")
                if scope is None or plumbing:
                    continue  # local (not reachable from outside), or plumbing
                defs.append(
                    Definition(name, kind, whole.start_point[0] + 1, _signature(whole),
                               scope)
                )  # fmt: skip
    defs.sort(key=lambda d: d.line)
    return FileTags(path, tuple(defs), tuple(refs))


def _tags_from_json(path: str, data: Mapping[str, object]) -> FileTags:
    """Tags from a cache entry; ValueError when it is not what `put` writes."""
    raw_defs, raw_refs = data.get("defs", []), data.get("refs", [])
    if not isinstance(raw_defs, list) or not isinstance(raw_refs, list):
        raise ValueError("not a cache entry")
    defs = tuple(Definition(**d) for d in raw_defs if isinstance(d, dict))
    if len(defs) != len(raw_defs) or not all(_well_formed(d) for d in defs):
        raise ValueError("not a cache entry")
    if not all(isinstance(r, str) for r in raw_refs):
        raise ValueError("not a cache entry")
    return FileTags(path, defs, tuple(raw_refs))


def _well_formed(d: Definition) -> bool:
    texts = (d.name, d.kind, d.signature, d.scope)
    return all(isinstance(t, str) for t in texts) and type(d.line) is int


class TagCache:
    """Tags per file keyed by a stamp; kept in memory and, when given a path, in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, object]] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        if path is not None and path.is_file() and not path.is_symlink():
            try:
                data = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("ignoring the unreadable tag cache %s: %s", path, exc)
                return
            if isinstance(data, dict) and data.get("version") == _CACHE_VERSION:
                files = data.get("files", {})
                self._entries = dict(files) if isinstance(files, dict) else {}

    def get(self, path: str, stamp: str) -> FileTags | None:
        """The cached tags, or None (a miss) when absent, stale or not well-formed: the
        cache file is data anyone could have written, so an entry is checked as it is read."""
        entry = self._entries.get(path)
        if not isinstance(entry, dict) or entry.get("stamp") != stamp:
            self.misses += 1
            return None
        try:
            tags = _tags_from_json(path, entry)
        except (TypeError, ValueError, AssertionError):
            self.misses += 1
            return None
        self.hits += 1
        return tags

    def put(self, tags: FileTags, stamp: str) -> None:
        self._entries[tags.path] = {
            "stamp": stamp,
            "defs": [asdict(d) for d in tags.defs],
            "refs": list(tags.refs),
        }
        self._dirty = True

    def save(self) -> None:
        """Write the cache file (atomically) when anything changed."""
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _CACHE_VERSION, "files": self._entries}), "utf-8")
        os.replace(tmp, self.path)
        self._dirty = False


def tags_for_files(files: Mapping[str, str], cache: TagCache | None = None) -> dict[str, FileTags]:
    """Tags of in-memory `.py` files, cached by a digest of their content."""
    cache = cache if cache is not None else TagCache()
    out: dict[str, FileTags] = {}
    for path, text in files.items():
        if not path.endswith(".py"):
            continue
        stamp = "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        tags = cache.get(path, stamp)
        if tags is None:
            tags = extract_tags(path, text)
            cache.put(tags, stamp)
        out[path] = tags
    return out


def tags_for_dir(
    root: Path, paths: Iterable[str], cache: TagCache | None = None
) -> dict[str, FileTags]:
    """Tags of `.py` files on disk, cached by mtime and size: unchanged files are not read."""
    cache = cache if cache is not None else TagCache()
    out: dict[str, FileTags] = {}
    for path in paths:
        if not path.endswith(".py"):
            continue
        full = root / path
        info = full.stat()
        stamp = f"{info.st_mtime_ns}:{info.st_size}"
        tags = cache.get(path, stamp)
        if tags is None:
            tags = extract_tags(path, full.read_text("utf-8", errors="replace"))
            cache.put(tags, stamp)
        out[path] = tags
    return out


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
            if name in _COMMON or (name.startswith("_") and not _dunder(name)):
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


# ---------------------------------------------------------------- context


@dataclass(frozen=True)
class Context:
    """What a prompt shows of the repository: some files whole, the map for the rest."""

    full: dict[str, str]
    map_text: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.render())

    def render(self) -> str:
        parts = [f"{path}\n```python\n{text.rstrip()}\n```" for path, text in self.full.items()]
        if self.map_text:
            parts.append(
                "Map of the rest of the repository (signatures of the most relevant "
                "definitions, by file):\n" + self.map_text
            )
        return "\n\n".join(parts)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def build_context(
    files: Mapping[str, str],
    pointed: Iterable[str],
    mentioned_text: str,
    budget: int,
    *,
    cache: TagCache | None = None,
    max_full: int = 4,
    full_share: float = 0.6,
) -> Context:
    """Choose the files to show whole and render the map, in at most `budget` tokens.

    `pointed` are the files the failures point at (failing tests, traceback
    frames), most relevant first: they seed the ranking and are shown whole
    when they fit; then the best-ranked code files. `mentioned_text` (the
    failing tests' code, tracebacks) names the identifiers that weigh ten times.
    """
    tags = tags_for_files(files, cache)
    pointed = [p for p in dict.fromkeys(pointed) if p in files]
    defined = {d.name for t in tags.values() for d in t.defs}
    mentioned = set(_IDENT.findall(mentioned_text)) & defined
    ranking = rank(tags, dict.fromkeys(pointed, 1.0), mentioned)
    # what the focus uses (not what everything uses, like a types module)
    ranked_code = [p for p in ranking.used if not is_test_path(p) and p not in pointed]
    full: dict[str, str] = {}
    used = 0
    for path in [*pointed, *ranked_code[:max_full]]:
        if len(full) >= max_full:
            break
        cost = estimate_tokens(Context({path: files[path]}, "").render()) + 1
        if used + cost <= budget * full_share:
            full[path] = files[path]
            used += cost
    header = estimate_tokens(Context({}, " ").render())
    map_text = render_map(ranking, tags, budget - used - header - 1, exclude=full)
    return Context(full, map_text)
