"""What the acceptance tests demand of the code: modules, names, call shapes.

The tests are read with tree-sitter (the query is data:
`agent/queries/python-imports.scm`). Every imported module that is not in the
standard library, not a known third-party package and not one of the tests'
own helpers is local: a file the plan must contain. From each, the tests take
names (`from fizzbuzz import fizzbuzz`) or attributes (`m.f`), call them with
some arity and keywords, instantiate classes and call methods on the
instances. All of that becomes a hard requirement of the plan, so even a weak
model gets the names right.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import PurePosixPath
from typing import Literal

from tree_sitter import Node, Query, QueryCursor

from agent.syntax import python_language, python_parser
from sandbox.packages import THIRD_PARTY

__all__ = [
    "CallShape",
    "ModuleRequirement",
    "RequiredName",
    "Requirements",
    "extract_requirements",
    "requirements_text",
]

log = logging.getLogger(__name__)

_MAX_EXAMPLES = 3
_EXAMPLE_CHARS = 60

Kind = Literal["function", "class", "value"]


@dataclass(frozen=True)
class CallShape:
    """How the tests call something: the arity and keywords of one call."""

    positional: int
    keywords: tuple[str, ...] = ()
    star: bool = False
    """True when the call unpacks `*args` or `**kwargs` (the arity is then unknown)."""
    example: str = ""
    """The call as written in the test, shortened."""


@dataclass(frozen=True)
class RequiredName:
    """A name the tests take from a module, and how they use it."""

    name: str
    kind: Kind
    calls: tuple[CallShape, ...] = ()
    members: tuple[RequiredName, ...] = ()
    """Methods and attributes the tests use on it (or on its instances)."""

    def signature(self) -> str:
        """An interface line for the plan, e.g. `fizzbuzz(arg1)` or `class Stack: push(arg1)`."""
        if self.kind == "class":
            parts = [_call_signature(self.name, self.calls)] if self.calls else []
            parts += [member.signature() for member in self.members]
            return f"class {self.name}" + (": " + ", ".join(parts) if parts else "")
        if self.calls:
            return _call_signature(self.name, self.calls)
        return self.name


@dataclass(frozen=True)
class ModuleRequirement:
    """One local module the tests import: the file that must exist and what it must define."""

    module: str
    """Dotted name, e.g. `pkg.mod`."""
    path: str
    """The file: `pkg/mod.py`, or `pkg/__init__.py` for a package."""
    names: tuple[RequiredName, ...] = ()
    used_by: tuple[str, ...] = ()
    """The test files that import it."""


@dataclass(frozen=True)
class Requirements:
    """Everything the acceptance tests require of the code."""

    modules: tuple[ModuleRequirement, ...] = ()
    packages: tuple[str, ...] = ()
    """Third-party distributions the tests import (to install in the sandbox)."""
    test_files: tuple[str, ...] = ()
    """The acceptance tests these requirements came from."""

    def paths(self) -> list[str]:
        """The files that must exist."""
        return [m.path for m in self.modules]

    def for_path(self, path: str) -> ModuleRequirement | None:
        """The requirement on one file, if any."""
        return next((m for m in self.modules if m.path == path), None)


def _call_signature(name: str, calls: Collection[CallShape]) -> str:
    """Parameters that fit every call: keywords given where others pass positionally name
    that slot, and a slot some call leaves out is optional."""
    fixed = [c for c in calls if not c.star] or list(calls)
    high = max(c.positional for c in fixed)
    slots: list[str | None] = [None] * high
    for call in fixed:
        for offset, keyword in enumerate(call.keywords):
            slot = call.positional + offset
            if slot < high and slots[slot] is None and keyword not in slots:
                slots[slot] = keyword
    named = [slot or f"arg{i}" for i, slot in enumerate(slots, start=1)]
    params = [
        n if all(i < c.positional or n in c.keywords for c in fixed) else f"{n}=..."
        for i, n in enumerate(named)
    ]
    keywords = dict.fromkeys(k for c in calls for k in c.keywords if k not in named)
    params += [f"{k}=..." for k in keywords]
    if any(c.star for c in calls):
        params += ["*args", "**kwargs"]
    return f"{name}({', '.join(params)})"


# ---- collection ---------------------------------------------------------------------------


@dataclass
class _Name:
    calls: dict[tuple[int, tuple[str, ...], bool], CallShape] = field(default_factory=dict)
    members: dict[str, _Name] = field(default_factory=dict)

    def add_call(self, shape: CallShape) -> None:
        key = (shape.positional, shape.keywords, shape.star)
        if key not in self.calls and len(self.calls) < _MAX_EXAMPLES:
            self.calls[key] = shape

    def member(self, name: str) -> _Name:
        return self.members.setdefault(name, _Name())

    def freeze(self, name: str, *, member: bool = False) -> RequiredName:
        calls = tuple(self.calls.values())
        kind: Kind = "value"
        if not member and name[:1].isupper() and (calls or self.members):
            kind = "class"
        elif calls:
            kind = "function"
        members = tuple(m.freeze(n, member=True) for n, m in self.members.items())
        return RequiredName(name, kind, calls, members)


@dataclass
class _Module:
    names: dict[str, _Name] = field(default_factory=dict)
    used_by: dict[str, None] = field(default_factory=dict)

    def name(self, name: str) -> _Name:
        return self.names.setdefault(name, _Name())


@functools.cache
def _query() -> Query:
    source = resources.files("agent").joinpath("queries/python-imports.scm").read_text("utf-8")
    return Query(python_language(), source)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _shape(call: Node, arguments: Node) -> CallShape:
    positional, keywords, star = 0, [], False
    for child in arguments.named_children:
        if child.type == "keyword_argument":
            name = child.child_by_field_name("name")
            keywords.append(_text(name) if name is not None else "?")
        elif child.type in ("list_splat", "dictionary_splat"):
            star = True
        elif child.type != "comment":
            positional += 1
    example = " ".join(_text(call).split())
    if len(example) > _EXAMPLE_CHARS:
        example = example[: _EXAMPLE_CHARS - 3] + "..."
    return CallShape(positional, tuple(keywords), star, example)


@dataclass
class _FileScope:
    """What the names in one test file are bound to."""

    modules: dict[str, str] = field(default_factory=dict)
    """Local name or dotted text -> module."""
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Local name -> (module, imported name)."""
    instances: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Variable -> (module, name) of what made it."""

    def target(self, node: Node) -> tuple[str, str] | None:
        """The (module, name) an expression stands for, as far as it can be told."""
        text = _text(node)
        if text in self.names:
            return self.names[text]
        if text in self.instances:
            return self.instances[text]
        obj, _, attr = text.rpartition(".")
        if obj in self.modules and attr.isidentifier():
            return self.modules[obj], attr
        return None


class _Collector:
    def __init__(self, test_modules: Collection[str], packages: dict[str, None]) -> None:
        self.modules: dict[str, _Module] = {}
        self._test_modules = test_modules
        self.packages = packages

    def wanted(self, module: str) -> bool:
        top = module.split(".")[0]
        if top in THIRD_PARTY:
            if THIRD_PARTY[top] is not None:
                self.packages[str(THIRD_PARTY[top])] = None
            return False
        return (
            top not in sys.stdlib_module_names
            and module not in self._test_modules
            and (top not in self._test_modules)
        )

    def module(self, module: str, test: str) -> _Module:
        entry = self.modules.setdefault(module, _Module())
        entry.used_by[test] = None
        return entry

    def read(self, test: str, source: str) -> None:
        tree = python_parser().parse(source.encode("utf-8", "surrogatepass"))
        matches = QueryCursor(_query()).matches(tree.root_node)
        scope = _FileScope()
        for _, caps in matches:
            self._bind(test, scope, caps)
        for _, caps in matches:
            self._use(scope, caps)

    def _bind(self, test: str, scope: _FileScope, caps: dict[str, list[Node]]) -> None:
        if "import.module" in caps:
            module = _text(caps["import.module"][0])
            if self.wanted(module):
                self.module(module, test)
                alias = caps.get("import.alias")
                scope.modules[_text(alias[0]) if alias else module] = module
        elif "from.module" in caps:
            module = _text(caps["from.module"][0])
            if not self.wanted(module):
                return
            entry = self.module(module, test)
            if "from.name" in caps:  # else `from module import *`
                name = _text(caps["from.name"][0])
                entry.name(name)
                alias = caps.get("from.alias")
                scope.names[_text(alias[0]) if alias else name] = (module, name)
        elif "assign.variable" in caps:
            made_by = scope.target(caps["assign.function"][0])
            if made_by is not None:
                scope.instances[_text(caps["assign.variable"][0])] = made_by

    def _use(self, scope: _FileScope, caps: dict[str, list[Node]]) -> None:
        if "call.function" in caps:
            target = scope.target(caps["call.function"][0])
            if target is not None:
                shape = _shape(caps["call"][0], caps["call.arguments"][0])
                self._name(target).add_call(shape)
        elif "call.object" in caps or "attribute.object" in caps:
            prefix = "call" if "call.object" in caps else "attribute"
            obj_node = caps[f"{prefix}.object"][0]
            attr = _text(caps[f"{prefix}.method" if prefix == "call" else "attribute.name"][0])
            obj = _text(obj_node)
            if f"{obj}.{attr}" in scope.modules.values():
                return  # `a.b` where `a.b` is itself an imported module
            owner = self._owner(scope, obj_node, attr)
            if owner is not None and prefix == "call":
                owner.add_call(_shape(caps["call"][0], caps["call.arguments"][0]))

    def _owner(self, scope: _FileScope, obj_node: Node, attr: str) -> _Name | None:
        """The entry for `obj.attr`: a module's name, or a member of a class or instance."""
        obj = _text(obj_node)
        if obj in scope.modules:
            return self.modules[scope.modules[obj]].name(attr)
        target = scope.target(obj_node)
        return self._name(target).member(attr) if target is not None else None

    def _name(self, target: tuple[str, str]) -> _Name:
        module, name = target
        return self.modules.setdefault(module, _Module()).name(name)


def _local_test_modules(tests: Collection[str]) -> set[str]:
    """Modules that are the tests' own files (`conftest`, `helpers`, `tests.helpers`)."""
    local: set[str] = set()
    for path in tests:
        pure = PurePosixPath(path)
        local.add(pure.stem)
        if len(pure.parts) > 1:
            local.add(pure.parts[0])
            local.add(".".join((*pure.parts[:-1], pure.stem)))
    return local


def _module_path(module: str, packages: Collection[str], known_files: Collection[str]) -> str:
    base = module.replace(".", "/")
    is_package = module in packages or any(f.startswith(base + "/") for f in known_files)
    return f"{base}/__init__.py" if is_package else f"{base}.py"


def extract_requirements(
    tests: Mapping[str, str], *, known_files: Collection[str] = ()
) -> Requirements:
    """Read the acceptance tests (path -> source) and return what they require.

    `known_files` (the starter files, if any) decide whether `pkg` is `pkg.py`
    or a package `pkg/__init__.py` when the tests alone cannot tell.
    """
    collector = _Collector(_local_test_modules(tests), {})
    for path, source in tests.items():
        collector.read(path, source)
    for module in list(collector.modules):  # `pkg.mod` needs `pkg/__init__.py`
        parts = module.split(".")
        for depth in range(1, len(parts)):
            parent = collector.modules.setdefault(".".join(parts[:depth]), _Module())
            parent.used_by.update(collector.modules[module].used_by)
    dotted_parents = {m.rsplit(".", 1)[0] for m in collector.modules if "." in m}
    modules = tuple(
        ModuleRequirement(
            name,
            _module_path(name, dotted_parents, known_files),
            tuple(entry.freeze(n) for n, entry in mod.names.items()),
            tuple(mod.used_by),
        )
        for name, mod in sorted(collector.modules.items())
    )
    log.debug("tests require %d modules", len(modules))
    return Requirements(modules, tuple(collector.packages), tuple(tests))


def _describe(name: RequiredName) -> str:
    examples = ", ".join(f"`{c.example}`" for c in name.calls if c.example)
    if name.kind == "class":
        text = f"`{name.name}`: a class" + (f", created as {examples}" if examples else "")
        if name.members:
            text += "; used: " + ", ".join(f"`{m.signature()}`" for m in name.members)
        return text
    if name.kind == "function":
        text = f"`{name.signature()}`: called as {examples}"
        if name.members:
            text += "; on its result: " + ", ".join(f"`{m.signature()}`" for m in name.members)
        return text
    return f"`{name.name}`"


def requirements_text(reqs: Requirements) -> str:
    """The requirements as prompt text: which files must exist and what they must define."""
    if not reqs.modules and not reqs.packages:
        return ""
    lines = ["The acceptance tests require:"]
    for module in reqs.modules:
        if module.names:
            lines.append(f"- file `{module.path}` must exist and define:")
            lines += [f"  - {_describe(name)}" for name in module.names]
        else:
            lines.append(f"- file `{module.path}` must exist (module `{module.module}`)")
    if reqs.packages:
        lines.append("- third-party packages: " + ", ".join(reqs.packages))
    return "\n".join(lines)
