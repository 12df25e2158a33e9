"""What names mean in a repository: definitions with their spans, and imports followed.

    index = SymbolIndex(files)
    index.lookup("tests/test_cache.py", "LRU")      # Span of pkg/cache.py's class LRU
    index.member(span, "get")                        # its method, or an inherited one
    index.uses(span)                                 # the names and attributes its body takes

Read with tree-sitter (queries kept as data: `agent/queries/python-outline.scm`
for definitions and imports, `python-uses.scm` for what a body uses). A
module's dotted name is its path, also without leading folders (`src/pkg/a.py`
is `src.pkg.a` and `pkg.a`), so both layouts resolve; relative imports are
resolved from the file's folder. A name is looked up as a file's own
top-level definition, else through its imports (re-exports in `__init__.py`
are followed a few steps), else through its star imports.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import PurePosixPath

from tree_sitter import Node, Query, QueryCursor

from agent.syntax import python_language, python_parser

__all__ = ["Outline", "Span", "SymbolIndex", "Uses"]

_DEPTH = 5
_CONSTRUCTORS = ("__init__", "__post_init__", "__new__")
_OPERATORS = {"len": "__len__", "iter": "__iter__", "repr": "__repr__", "str": "__str__"}
"""Builtins that call a method of their argument."""


@functools.cache
def _query(name: str) -> Query:
    source = resources.files("agent").joinpath(f"queries/{name}").read_text("utf-8")
    return Query(python_language(), source)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


@dataclass(frozen=True)
class Span:
    """One function, method or class: where it is, decorators included."""

    path: str
    name: str
    """Qualified within the file: `helper`, `Cache.get`."""
    kind: str
    """function or class."""
    start: int
    """1-based first line (its first decorator, if any)."""
    end: int
    """1-based last line."""
    scope: str = ""
    """The enclosing class's qualified name; "" at module level, "<local>" inside a function."""

    @property
    def leaf(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Uses:
    """What one body uses."""

    names: frozenset[str] = frozenset()
    attributes: tuple[tuple[str, str], ...] = ()
    """(object as written, attribute): `("c", "get")`, `("pkg.mod", "f")`, `("Cache(2)", "get")`."""
    binds: Mapping[str, str] = field(default_factory=dict)
    """variable -> the callee it was assigned from (`c = Cache(2)` gives c -> Cache)."""
    params: tuple[str, ...] = ()


class Outline:
    """One file's definitions and imports."""

    def __init__(self, path: str, source: str, index: SymbolIndex) -> None:
        self.path = path
        self.tree = python_parser().parse(source.encode("utf-8", "surrogatepass"))
        self.spans: list[Span] = []
        self.nodes: dict[Span, Node] = {}
        self.bindings: dict[str, tuple[str, str]] = {}
        """local name -> (module path, attribute or "" for the module itself)."""
        self.stars: list[str] = []
        for _, caps in QueryCursor(_query("python-outline.scm")).matches(self.tree.root_node):
            self._read(caps, index)
        self.spans.sort(key=lambda s: (s.start, -s.end))
        self.top = {s.name: s for s in self.spans if not s.scope}

    def _read(self, caps: dict[str, list[Node]], index: SymbolIndex) -> None:
        for kind in ("function", "class"):
            if f"def.{kind}" in caps:
                self._define(caps[f"def.{kind}"][0], _text(caps["def.name"][0]), kind)
                return
        if "import.module" in caps:
            dotted = _text(caps["import.module"][0])
            alias = caps.get("import.alias")
            local = _text(alias[0]) if alias else dotted.split(".", 1)[0]
            target = index.module(dotted if alias else local)
            if target is not None:
                self.bindings[local] = (target, "")
        elif "from.module" in caps:
            module = index.module(_text(caps["from.module"][0]), self.path)
            name = _text(caps["from.name"][0])
            alias = caps.get("from.alias")
            if module is not None:
                self.bindings[_text(alias[0]) if alias else name] = (module, name)
        elif "star.module" in caps:
            module = index.module(_text(caps["star.module"][0]), self.path)
            if module is not None:
                self.stars.append(module)

    def _define(self, node: Node, name: str, kind: str) -> None:
        outer = node.parent
        start = outer if outer is not None and outer.type == "decorated_definition" else node
        scope: list[str] = []
        local = False
        parent = node.parent
        while parent is not None:
            if parent.type in ("class_definition", "function_definition"):
                field_name = parent.child_by_field_name("name")
                scope.insert(0, _text(field_name) if field_name is not None else "?")
                local = local or parent.type == "function_definition"
            parent = parent.parent
        qualified = ".".join([*scope, name])
        span = Span(self.path, qualified, kind, start.start_point[0] + 1, node.end_point[0] + 1,
                    "<local>" if local else ".".join(scope))  # fmt: skip
        self.spans.append(span)
        self.nodes[span] = node

    def span_at(self, line: int) -> Span | None:
        """The innermost definition holding `line` (1-based) that is not local to a function."""
        best = None
        for span in self.spans:
            if span.scope == "<local>" or not span.start <= line <= span.end:
                continue
            if best is None or span.start >= best.start:
                best = span
        return best


class SymbolIndex:
    """Definitions and imports of the `.py` files of a repository, read on demand."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = {p: t for p, t in files.items() if p.endswith(".py")}
        self._outlines: dict[str, Outline] = {}
        by_name: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for path in sorted(self.files):
            parts = list(PurePosixPath(path).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            for skip in range(len(parts)):
                by_name[".".join(parts[skip:])].append((skip, path))
        self._modules = {name: min(found)[1] for name, found in by_name.items()}

    def outline(self, path: str) -> Outline:
        if path not in self._outlines:
            self._outlines[path] = Outline(path, self.files.get(path, ""), self)
        return self._outlines[path]

    def module(self, dotted: str, importer: str = "") -> str | None:
        """The file of an absolute module name, or of a relative one seen from `importer`."""
        if not dotted.startswith("."):
            return self._modules.get(dotted)
        level = len(dotted) - len(dotted.lstrip("."))
        folder = PurePosixPath(importer).parent
        for _ in range(level - 1):
            folder = folder.parent
        rest = [p for p in dotted.lstrip(".").split(".") if p]
        base = folder.joinpath(*rest) if rest else folder
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            found = candidate.removeprefix("./")
            if found in self.files:
                return found
        return None

    def lookup(self, path: str, name: str, depth: int = 0) -> Span | str | None:
        """What `name` means at the top of `path`: a definition, a module (its path), or None."""
        if path not in self.files or depth > _DEPTH:
            return None
        outline = self.outline(path)
        if name in outline.top:
            return outline.top[name]
        if name in outline.bindings:
            module, attribute = outline.bindings[name]
            return self.attribute(module, attribute, depth + 1) if attribute else module
        for star in outline.stars:
            found = self.lookup(star, name, depth + 1)
            if found is not None:
                return found
        return None

    def attribute(self, module: str, name: str, depth: int = 0) -> Span | str | None:
        """`module.name`: a definition (or re-export) in it, or its submodule."""
        found = self.lookup(module, name, depth)
        if found is not None:
            return found
        if module.endswith("__init__.py"):
            return self.module("." + name, module)
        return None

    def member(self, cls: Span, name: str, depth: int = 0) -> Span | None:
        """The method (or nested class) `name` of class `cls`, inherited ones included."""
        outline = self.outline(cls.path)
        for span in outline.spans:
            if span.scope == cls.name and span.leaf == name:
                return span
        node = outline.nodes.get(cls)
        bases = node.child_by_field_name("superclasses") if node is not None else None
        if bases is None or depth > _DEPTH:
            return None
        for base in bases.named_children:
            found = self.chain(cls.path, _text(base))
            if isinstance(found, Span) and found.kind == "class" and found != cls:
                inherited = self.member(found, name, depth + 1)
                if inherited is not None:
                    return inherited
        return None

    def constructors(self, cls: Span) -> list[Span]:
        found = [self.member(cls, name) for name in _CONSTRUCTORS]
        return [s for s in found if s is not None and s.path in self.files]

    def chain(self, path: str, dotted: str, scope: Span | None = None) -> Span | str | None:
        """A dotted expression (`pkg.mod.f`, `Cache`, `self.helper`) seen from `path`."""
        parts = dotted.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        if parts[0] in ("self", "cls") and scope is not None:
            here: Span | str | None = scope
            parts = parts[1:]
        else:
            here = self.lookup(path, parts[0])
            parts = parts[1:]
        for part in parts:
            if isinstance(here, str):
                here = self.attribute(here, part)
            elif isinstance(here, Span) and here.kind == "class":
                here = self.member(here, part)
            else:
                return None
        return here

    def uses(self, span: Span) -> Uses:
        """The names, attributes and call-bound variables of a definition's body."""
        node = self.outline(span.path).nodes.get(span)
        if node is None:
            return Uses()
        names: set[str] = set()
        attributes: list[tuple[str, str]] = []
        binds: dict[str, str] = {}
        params: list[str] = []
        parameters = node.child_by_field_name("parameters")
        for _, caps in QueryCursor(_query("python-uses.scm")).matches(node):
            if "use.attribute" in caps:
                obj = caps["use.object"][0]
                callee = obj.child_by_field_name("function") if obj.type == "call" else None
                written = _text(callee if callee is not None else obj)
                attributes.append((written, _text(caps["use.attribute"][0])))
            elif "bind.variable" in caps:
                binds[_text(caps["bind.variable"][0])] = _text(caps["bind.type"][0])
            elif "use.subscripted" in caps:
                held = _text(caps["use.subscripted"][0])
                attributes.extend([(held, "__getitem__"), (held, "__setitem__")])
            elif "use.builtin" in caps:
                method = _OPERATORS.get(_text(caps["use.builtin"][0]))
                if method:
                    attributes.append((_text(caps["use.argument"][0]), method))
            elif "param" in caps:
                param = caps["param"][0]
                if parameters is not None and param.parent in (parameters, *parameters.children):
                    params.append(_text(param))
            elif "use.name" in caps:
                names.add(_text(caps["use.name"][0]))
        return Uses(frozenset(names), tuple(dict.fromkeys(attributes)), binds, tuple(params))
