"""Definitions and references per Python file, read with tree-sitter, cached by stamp.

    tags = tags_for_files(files, cache)     # in memory: stamped by a digest of the content
    tags = tags_for_dir(root, paths, cache) # on disk: stamped by mtime and size

The query is data (`agent/queries/python-tags.scm`). The cache file is data anyone
could have written (a repository's own `.greenloop/cache/`): each entry is checked
as it is read, and a malformed one is a miss. The repo map (`agent.fix.repomap`)
ranks and renders what this module finds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tree_sitter import Node, Query, QueryCursor

from agent.atomic import write_atomic
from agent.syntax import python_language, python_parser

if TYPE_CHECKING:
    from agent.fix.symbols import Span

__all__ = [
    "Definition",
    "FileTags",
    "TagCache",
    "dunder",
    "extract_tags",
    "js_tags",
    "native_tags",
    "tags_for_dir",
    "tags_for_files",
]

log = logging.getLogger(__name__)

_CACHE_VERSION = 2
_SIGNATURE_CHARS = 120
_NOT_DEFINITIONS = frozenset({"log", "logger", "_log", "_logger"})


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


def dunder(name: str) -> bool:
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
                plumbing = name in _NOT_DEFINITIONS or (dunder(name) and kind == "constant")
                if scope is None or plumbing:
                    continue  # local (not reachable from outside), or plumbing
                defs.append(
                    Definition(name, kind, whole.start_point[0] + 1, _signature(whole),
                               scope)
                )  # fmt: skip
    defs.sort(key=lambda d: d.line)
    return FileTags(path, tuple(defs), tuple(refs))


def js_tags(path: str, source: str) -> FileTags:
    """Definitions (`agent.fix.js_outline`) and references of one JavaScript or
    TypeScript file; a signature is its definition's first line, up to its body."""
    from agent.fix.js_outline import js_references, js_spans

    return _tags_of_spans(path, source, js_spans(path, source), js_references(path, source))


def native_tags(path: str, source: str) -> FileTags:
    """Definitions and references of one Go or Rust file (`agent.fix.native_outline`);
    a Rust file's inline tests are left out of its definitions."""
    from agent.fix.native_outline import native_references, native_spans

    spans = [s for s in native_spans(path, source) if s.scope != "<local>"]
    return _tags_of_spans(path, source, spans, native_references(path, source))


def _tags_of_spans(path: str, source: str, spans: Iterable[Span], refs: list[str]) -> FileTags:
    lines = source.splitlines()
    defs = []
    for span in spans:
        head = lines[span.start - 1] if span.start <= len(lines) else span.name
        head = " ".join(head.split()).removesuffix("{").rstrip()
        if len(head) > _SIGNATURE_CHARS:
            head = head[: _SIGNATURE_CHARS - 3] + "..."
        defs.append(Definition(span.leaf, span.kind, span.start, head, span.scope))
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
        write_atomic(self.path, json.dumps({"version": _CACHE_VERSION, "files": self._entries}))
        self._dirty = False


def tags_for_files(
    files: Mapping[str, str], cache: TagCache | None = None, suffixes: tuple[str, ...] = (".py",)
) -> dict[str, FileTags]:
    """Tags of in-memory files with these `suffixes` (`.py`, or JavaScript's: `js_tags`),
    cached by a digest of their content."""
    cache = cache if cache is not None else TagCache()
    out: dict[str, FileTags] = {}
    for path, text in files.items():
        if not path.endswith(suffixes) or "node_modules" in path.split("/"):
            continue
        stamp = "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        tags = cache.get(path, stamp)
        if tags is None:
            tags = _extract(path, text)
            cache.put(tags, stamp)
        out[path] = tags
    return out


def _extract(path: str, text: str) -> FileTags:
    if path.endswith(".py"):
        return extract_tags(path, text)
    if path.endswith((".go", ".rs")):
        return native_tags(path, text)
    return js_tags(path, text)


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
