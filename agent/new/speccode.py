"""What the spec's own code gives for free: its import lines, its signatures, its files.

    code = read_spec_code(spec)
    code.imports        # (ImportLine("from typing import List", ("List",)),)
    code.signatures     # {"add": "def add(a, b):"}
    source, added = restore_imports(candidate, code.imports)

A small model often drops an import the spec showed (`from typing import List`)
and the candidate then fails collection: a whole test run spent on nothing.
`restore_imports` puts back the import of every name the candidate uses and
never binds, from the spec's own import lines first, then from the standard
library's well-known homes (`typing`, `collections`, a module used as `math.x`);
`drop_self_imports` removes a module's import of itself, which small models copy
from the tests. Everything here is pure: text in, text out.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agent.edits.extract import fenced_blocks
from sandbox import pyast

__all__ = [
    "ImportLine",
    "SpecCode",
    "drop_self_imports",
    "free_names",
    "read_spec_code",
    "restore_definitions",
    "restore_imports",
]

_PYTHON = frozenset({"", "python", "py", "python3", "py3", "pycon"})
_IMPORT = re.compile(r"^(?:from\s+[\w.]+\s+import\s+[^#\n]+|import\s+[\w., ]+?)\s*(?:#.*)?$")
_DEF = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+(?P<name>[A-Za-z_]\w*)\b[^\n]*$")
_EXTENSIONS = "py|pyi|toml|cfg|ini|json|ya?ml|csv|txt|md"
_FILE = re.compile(rf"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.(?:{_EXTENSIONS}))\b")
_DOTFILE = re.compile(rf"`((?:[\w-]+/)*\.(?!(?:{_EXTENSIONS})`)[A-Za-z][\w.-]*)`")
"""A backticked dotfile (`.env`, `conf/.flake8`), not a bare extension (`.py`)."""
# Names whose home every Python programmer knows; the standard library only.
_STDLIB_HOMES: Mapping[str, str] = {
    **{name: "typing" for name in typing.__all__ if name[:1].isupper()},
    **{n: "collections" for n in ("defaultdict", "Counter", "deque", "OrderedDict", "namedtuple")},
    **{n: "functools" for n in ("reduce", "lru_cache", "cache", "partial", "wraps", "cmp_to_key")},
    **{n: "dataclasses" for n in ("dataclass", "field")},
    **{n: "itertools" for n in ("permutations", "combinations", "accumulate")},
    "Enum": "enum",
    "Path": "pathlib",
    "Fraction": "fractions",
    "Decimal": "decimal",
}
_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__builtins__"}


@dataclass(frozen=True)
class ImportLine:
    """One import statement as written, and the names it binds."""

    text: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class SpecCode:
    """The code a spec shows."""

    imports: tuple[ImportLine, ...] = ()
    signatures: Mapping[str, str] = field(default_factory=dict)
    """Defined name -> its `def`/`class` line, as the spec writes it."""
    files: tuple[str, ...] = ()
    """File paths the spec names anywhere (`calc.py`, `pkg/mod.py`, `data.json`)."""
    modules: tuple[str, ...] = ()
    """Modules the spec's code imports (`typing`, `textstats.tokenize`)."""
    definitions: Mapping[str, str] = field(default_factory=dict)
    """Top-level functions and classes the spec writes out whole (more than a stub)."""


def _code_blocks(spec: str) -> list[str]:
    blocks = [b.body for b in fenced_blocks(spec) if b.language in _PYTHON]
    if not blocks and not fenced_blocks(spec):
        try:  # a spec that is itself Python (a stub with a docstring)
            pyast.parse(spec)
        except SyntaxError:
            return []
        return [spec]
    return blocks


def _bound_by(statement: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names bound, modules imported) by one import line; empty when it is none."""
    try:
        tree = pyast.parse(statement.strip())
    except SyntaxError:
        return (), ()
    names: list[str] = []
    modules: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
            modules += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [a.asname or a.name for a in node.names if a.name != "*"]
            modules.append(node.module)
    return tuple(names), tuple(modules)


def read_spec_code(spec: str) -> SpecCode:
    """The import lines, signatures and file names the spec shows; tolerant of stubs that
    do not parse (`def add(a, b):` with no body)."""
    imports: dict[str, ImportLine] = {}
    modules: dict[str, None] = {}
    signatures: dict[str, str] = {}
    for block in _code_blocks(spec):
        for line in block.splitlines():
            if _IMPORT.match(line):  # top-level only: an indented import is the code's own
                names, imported = _bound_by(line)
                if names:
                    imports.setdefault(line.strip(), ImportLine(line.strip(), names))
                    modules.update(dict.fromkeys(imported))
            elif (match := _DEF.match(line)) and match.group("name") not in signatures:
                signatures[match.group("name")] = line.rstrip()
    found = [*_FILE.finditer(spec), *_DOTFILE.finditer(spec)]
    files = tuple(dict.fromkeys(m.group(1) for m in sorted(found, key=lambda m: m.start())))
    definitions = {k: v for b in _code_blocks(spec) for k, v in _definitions(b).items()}
    return SpecCode(tuple(imports.values()), signatures, files, tuple(modules), definitions)


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    """A body of nothing but a docstring, `pass` or `...`."""
    for statement in node.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring or `...`
        return False
    return True


def _definitions(block: str) -> dict[str, str]:
    """The complete top-level functions and classes of a block that parses."""
    try:
        tree = pyast.parse(block)
    except SyntaxError:
        return {}
    lines = block.splitlines(keepends=True)
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if _is_stub(node):
                continue
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            found[node.name] = "".join(lines[start : node.end_lineno]).rstrip() + "\n"
    return found


def restore_definitions(source: str, definitions: Mapping[str, str]) -> tuple[str, list[str]]:
    """The source with every function or class the spec wrote out whole and the source uses
    without defining (`encode_shift`, given beside the `decode_shift` to write) put back
    after its imports, and the names added. A source that does not parse is unchanged."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return source, []
    missing = [n for n in free_names(tree) if n in definitions]
    if not missing:
        return source, []
    at = 0
    for index, node in enumerate(tree.body):
        docstring = index == 0 and isinstance(node, ast.Expr)
        if docstring or isinstance(node, ast.Import | ast.ImportFrom):
            at = node.end_lineno or node.lineno
            continue
        break
    lines = source.splitlines(keepends=True)
    head = "".join(lines[:at]).rstrip("\n")
    block = "\n\n".join(definitions[n].rstrip("\n") + "\n" for n in missing)
    rest = "".join(lines[at:]).lstrip("\n")
    parts = [p for p in (head + "\n" if head else "", block, rest) if p]
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts), missing


class _Names(ast.NodeVisitor):
    """Every name a module loads, and every name it binds anywhere (any scope)."""

    def __init__(self) -> None:
        self.loaded: dict[str, None] = {}
        self.bound: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loaded[node.id] = None
        else:
            self.bound.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.bound.add(node.arg)
        self.generic_visit(node)

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_alias(self, node: ast.alias) -> None:
        self.bound.add((node.asname or node.name).split(".")[0])

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.bound.update(node.names)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.bound.add(node.name)


def free_names(tree: ast.Module) -> list[str]:
    """Names the module uses but never binds and Python does not provide, in order of use."""
    names = _Names()
    names.visit(tree)
    return [n for n in names.loaded if n not in names.bound and n not in _BUILTINS]


def _insertion_line(tree: ast.Module) -> int:
    """0-based line before which new imports go: after the docstring and `__future__`."""
    line = 0
    for index, node in enumerate(tree.body):
        docstring = (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            line = node.end_lineno or node.lineno
            continue
        break
    return line


def _imports_for(missing: Sequence[str], spec_imports: Iterable[ImportLine]) -> list[str]:
    lines: dict[str, None] = {}
    left = list(missing)
    for line in spec_imports:
        if any(n in left for n in line.names):
            lines[line.text] = None
            left = [n for n in left if n not in line.names]
    by_home: dict[str, list[str]] = {}
    for name in left:
        if name in _STDLIB_HOMES:
            by_home.setdefault(_STDLIB_HOMES[name], []).append(name)
        elif name in sys.stdlib_module_names and not name.startswith("_"):
            lines[f"import {name}"] = None
    for home, names in by_home.items():
        lines[f"from {home} import {', '.join(names)}"] = None
    return list(lines)


def drop_self_imports(source: str, module: str) -> tuple[str, list[str]]:
    """The source without top-level imports of its own module (`from solution import f`
    in `solution.py`: a circular import that fails collection), and the lines dropped."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return source, []
    lines = source.splitlines(keepends=True)
    dropped: list[str] = []
    for node in reversed(tree.body):
        own = (isinstance(node, ast.ImportFrom) and node.module == module and not node.level) or (
            isinstance(node, ast.Import) and any(a.name == module for a in node.names)
        )
        if own:
            start, end = node.lineno - 1, node.end_lineno or node.lineno
            dropped.insert(0, "".join(lines[start:end]).strip())
            del lines[start:end]
    return ("".join(lines), dropped) if dropped else (source, [])


def restore_imports(source: str, spec_imports: Iterable[ImportLine] = ()) -> tuple[str, list[str]]:
    """The source with an import for every name it uses and never binds (when one is known),
    and the lines added. A source that does not parse comes back unchanged."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return source, []
    missing = free_names(tree)
    if not missing:
        return source, []
    added = _imports_for(missing, spec_imports)
    if not added:
        return source, []
    lines = source.splitlines(keepends=True)
    at = _insertion_line(tree)
    block = "".join(f"{line}\n" for line in added)
    if at and lines[at - 1].strip():
        block = "\n" + block
    rest = "".join(lines[at:]).lstrip("\n")
    if rest:
        block += "\n\n"
    return "".join(lines[:at]) + block + rest, added
