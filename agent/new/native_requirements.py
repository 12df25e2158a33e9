"""What Go or Rust acceptance tests demand of the code: files and names.

    extract_go_requirements({"calc/calc_test.go": source})
        -> Requirements(modules=(ModuleRequirement("calc", "calc/calc.go", (Add(2),)),))
    extract_rust_requirements({"tests/add.rs": source})
        -> Requirements(modules=(ModuleRequirement("crate", "src/lib.rs", (add(2),)),))

Read with tree-sitter. A Go test in package `calc` calls the package's functions by
their bare names (those its folder's test files do not declare themselves, nor Go's
builtins); one in package `calc_test` calls them through the import whose path ends in
the folder's package (`calc.Add(1, 2)`). The code goes in a `.go` file of the test's
folder: the starter's, else `<folder>/<package>.go`. A Rust integration test
(`tests/*.rs`) takes the crate's names by `use <crate>::...` and calls them; a unit-test
module file (`src/tests.rs`, `src/x/tests.rs`) takes its parent's by `use super::*`. The
code goes in the parent module's file (`src/lib.rs`, `src/x.rs`). `Name::new(...)` makes
`Name` a type (a class to the plan). The names become hard requirements with the arity of
their calls, as for Python (`agent.new.requirements`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

from agent.new.requirements import CallShape, Kind, ModuleRequirement, RequiredName, Requirements
from sandbox.toolchains.trees import parser, text, walk

__all__ = [
    "extract_go_requirements",
    "extract_rust_requirements",
    "restore_go_package",
    "restore_rust_pub",
]

_GO_BUILTINS = frozenset(
    [
        "append",
        "cap",
        "clear",
        "close",
        "complex",
        "copy",
        "delete",
        "imag",
        "len",
        "make",
        "max",
        "min",
        "new",
        "panic",
        "print",
        "println",
        "real",
        "recover",
    ]
)
_RUST_EXTERNAL = frozenset({"std", "core", "alloc", "crate", "self", "super"})
_EXAMPLE_CHARS = 60


class _Found:
    def __init__(self) -> None:
        self.calls: dict[str, dict[int, CallShape]] = {}
        self.types: set[str] = set()
        self.used_by: dict[str, None] = {}

    def call(self, name: str, node: Any) -> None:
        if node.type == "token_tree":  # a call inside a macro: its `( ... )` tokens
            inner = text(node)[1:-1].strip()
            count = _top_level_commas(inner) + 1 if inner else 0
        else:
            arguments = node.child_by_field_name("arguments")
            count = arguments.named_child_count if arguments is not None else 0
        example = text(node)[:_EXAMPLE_CHARS]
        self.calls.setdefault(name, {}).setdefault(count, CallShape(count, example=example))

    def frozen(self) -> tuple[RequiredName, ...]:
        names = sorted(set(self.calls) | self.types)
        out = []
        for name in names:
            kind: Kind = "class" if name in self.types else "function"
            out.append(RequiredName(name, kind, tuple(self.calls.get(name, {}).values())))
        return tuple(out)


def _top_level_commas(text: str) -> int:
    """Commas between a call's arguments (a closure's `|a, b|` parameters not counted)."""
    depth = commas = 0
    start = True  # at an argument's start, where `|` opens a closure's parameters
    in_params = False
    for ch in text:
        if in_params:
            in_params = ch != "|"
        elif ch == "|" and start and depth == 0:
            in_params = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
            start = True
            continue
        if not ch.isspace():
            start = False
    return commas - (1 if text.rstrip().endswith(",") else 0)


def extract_go_requirements(
    tests: Mapping[str, str], *, known_files: Collection[str] = ()
) -> Requirements:
    """Read the Go tests (`*_test.go`, path -> source): each package's file and the
    functions and types its tests call. `known_files` may map go.mod to its text: its
    module path tells which imports are the module's own packages."""
    module = _go_module(known_files)
    by_folder: dict[str, list[tuple[str, Any]]] = {}
    for path, source in tests.items():
        if path.endswith("_test.go"):
            by_folder.setdefault(posixpath.dirname(path), []).append(
                (path, parser("go").parse(source.encode()).root_node)
            )
    wanted: dict[tuple[str, str], _Found] = {}  # (folder, package) -> what its tests call
    for folder, trees in sorted(by_folder.items()):
        declared = {n for _, root in trees for n in _go_declared(root)}
        for path, root in trees:
            package = _go_package(root)
            own = (folder, package.removesuffix("_test"))
            if package.endswith("_test") or not _has_code(folder, known_files):
                imports = _go_local_imports(root, own[1], module, folder)
                for alias, member, node in _go_selector_calls(root):
                    if alias in imports:
                        _found(wanted, imports[alias], path).call(member, node)
                for alias, member in _go_selector_types(root):
                    if alias in imports:
                        _found(wanted, imports[alias], path).types.add(member)
            if not package.endswith("_test"):
                for name, node in _go_bare_calls(root):
                    if name not in declared and name not in _GO_BUILTINS:
                        _found(wanted, own, path).call(name, node)
    modules = []
    for (folder, package), found in sorted(wanted.items()):
        target = _go_file(folder, package, known_files)
        names, used_by = found.frozen(), tuple(found.used_by)
        modules.append(ModuleRequirement(package or "main", target, names, used_by))
    return Requirements(tuple(modules), (), tuple(tests))


def _found(wanted: dict[tuple[str, str], _Found], key: tuple[str, str], path: str) -> _Found:
    found = wanted.setdefault(key, _Found())
    found.used_by.setdefault(path, None)
    return found


def extract_rust_requirements(
    tests: Mapping[str, str], *, known_files: Collection[str] = ()
) -> Requirements:
    """Read the Rust tests (`tests/*.rs`, `src/**/tests.rs`): the module file each takes
    its names from and the functions and types it calls."""
    modules: dict[str, _Found] = {}
    for path, source in tests.items():
        root = parser("rust").parse(source.encode()).root_node
        target = _rust_target(path, known_files)
        if target is None:
            continue
        crate_names = _rust_uses(root) if path.startswith("tests/") else None
        declared = set(_rust_declared(root))
        found = modules.setdefault(target, _Found())
        found.used_by.setdefault(path, None)
        for name, node in _rust_calls(root):
            if name in declared:
                continue
            if _taken(name, crate_names):
                found.call(name, node)
        for name in _rust_types(root):
            if name not in declared and _taken(name, crate_names):
                found.types.add(name)
    required = tuple(
        ModuleRequirement("crate", path, found.frozen(), tuple(found.used_by))
        for path, found in sorted(modules.items())
        if found.calls or found.types
    )
    return Requirements(required, (), tuple(tests))


def _taken(name: str, crate_names: set[str] | None) -> bool:
    """Whether a test file that takes `crate_names` from the crate (None: a unit-test
    module, which has its parent's) can mean the crate's `name`."""
    return crate_names is None or "*" in crate_names or name in crate_names


_PACKAGE = re.compile(r"^\s*package\s+\w+", re.M)
_PRIVATE_FN = r"^([ \t]*)(?:(const|async|unsafe)\s+)?(fn|struct|enum|trait|type)\s+({names})\b"


def restore_go_package(source: str, package: str) -> str:
    """`source` as the package its tests import (`package`) must be: its package clause
    put in when a small model left it out, or made `package` where the model wrote
    `package main` (a program, which no test can import); and the imports it never uses
    dropped, as goimports does (Go refuses to build a file with an unused import)."""
    if not source.strip():
        return source
    clause = _PACKAGE.search(source)
    if clause is None:
        source = f"package {package}\n\n{source.lstrip()}"
    elif package != "main" and clause.group(0).split()[-1] == "main":
        source = source[: clause.start()] + f"package {package}" + source[clause.end() :]
    return _drop_unused_imports(source)


def _drop_unused_imports(source: str) -> str:
    root = parser("go").parse(source.encode()).root_node
    if root.has_error:
        return source  # the syntax gate speaks first
    lines = source.splitlines(keepends=True)
    unused: list[tuple[int, int]] = []
    for node in walk(root):
        if node.type != "import_spec":
            continue
        alias = node.child_by_field_name("name")
        name = text(alias) if alias is not None else ""
        if name in ("_", "."):
            continue
        path = text(node.child_by_field_name("path")).strip('"`')
        name = name or path.rsplit("/", 1)[-1]
        rest = source[: node.start_byte] + source[node.end_byte :]
        if not re.search(rf"\b{re.escape(name)}\.", rest):
            unused.append((node.start_point[0], node.end_point[0]))
    for start, end in reversed(unused):
        if lines[start].lstrip().startswith("import") and "(" not in lines[start]:
            del lines[start : end + 1]  # `import "fmt"` alone on its line
        elif all(lines[i].strip() for i in range(start, end + 1)):
            del lines[start : end + 1]  # a line of an `import ( ... )` block
    if not unused:
        return source
    out = re.sub(r"import \(\s*\)\n?", "", "".join(lines))
    return re.sub(r"\n{3,}", "\n\n", out)


def restore_rust_pub(source: str, names: Collection[str]) -> str:
    """`source` with the required `names` it defines at the top level made `pub`: a
    small model writes `fn add` and the integration tests cannot reach it."""
    if not names:
        return source
    pattern = re.compile(_PRIVATE_FN.format(names="|".join(map(re.escape, names))), re.M)

    def public(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)  # indented: a method or a nested item, not the crate's
        qualifier = f"{match.group(2)} " if match.group(2) else ""
        return f"pub {qualifier}{match.group(3)} {match.group(4)}"

    return pattern.sub(public, source)


# -- Go ------------------------------------------------------------------------------------


def _go_package(root: Any) -> str:
    for node in root.named_children:
        if node.type == "package_clause":
            ident = next((c for c in node.named_children if c.type == "package_identifier"), None)
            return text(ident) if ident is not None else ""
    return ""


def _go_declared(root: Any) -> Iterator[str]:
    for node in root.named_children:
        if node.type in ("function_declaration", "method_declaration"):
            name = node.child_by_field_name("name")
            if name is not None and node.type == "function_declaration":
                yield text(name)
        elif node.type in ("type_declaration", "var_declaration", "const_declaration"):
            for spec in walk(node):
                if spec.type in ("type_spec", "var_spec", "const_spec"):
                    for child in spec.named_children:
                        if child.type in ("identifier", "type_identifier"):
                            yield text(child)


def _go_local_imports(
    root: Any, package: str, module: str, folder: str
) -> dict[str, tuple[str, str]]:
    """The names under which the file imports a package of the module: its own folder's
    (`package`), or any under the module's path (go.mod's `module`); each name's folder
    and package."""
    aliases: dict[str, tuple[str, str]] = {}
    for node in walk(root):
        if node.type != "import_spec":
            continue
        path = text(node.child_by_field_name("path")).strip('"`')
        alias = node.child_by_field_name("name")
        last = path.rsplit("/", 1)[-1]
        if module and (path == module or path.startswith(module + "/")):
            where = path[len(module) + 1 :] if path != module else ""
        elif last == package:
            where = folder
        else:
            continue
        aliases[text(alias) if alias is not None else last] = (where, last)
    return aliases


def _go_module(known: Collection[str]) -> str:
    """go.mod's module path, when the starter (a mapping of path -> text) holds it."""
    text = known.get("go.mod") if isinstance(known, Mapping) else None
    for line in str(text or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "module":
            return words[1].strip('"')
    return ""


def _has_code(folder: str, known: Collection[str]) -> bool:
    return any(
        posixpath.dirname(p) == folder and p.endswith(".go") and not p.endswith("_test.go")
        for p in known
    )


def _go_bare_calls(root: Any) -> Iterator[tuple[str, Any]]:
    for node in walk(root):
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and function.type == "identifier":
                yield text(function), node


def _go_selector_calls(root: Any) -> Iterator[tuple[str, str, Any]]:
    for node in walk(root):
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and function.type == "selector_expression":
                operand = function.child_by_field_name("operand")
                field = function.child_by_field_name("field")
                if operand is not None and operand.type == "identifier" and field is not None:
                    yield text(operand), text(field), node


def _go_selector_types(root: Any) -> Iterator[tuple[str, str]]:
    for node in walk(root):
        if node.type == "qualified_type":
            package = node.child_by_field_name("package")
            name = node.child_by_field_name("name")
            if package is not None and name is not None:
                yield text(package), text(name)


def _go_file(folder: str, package: str, known: Collection[str]) -> str:
    for path in sorted(known):
        if (
            posixpath.dirname(path) == folder
            and path.endswith(".go")
            and not path.endswith("_test.go")
        ):
            return path
    return posixpath.join(folder, f"{package or 'main'}.go")


# -- Rust ----------------------------------------------------------------------------------


def _rust_target(path: str, known: Collection[str]) -> str | None:
    """The module file whose names the test file `path` takes."""
    pure = PurePosixPath(path)
    if pure.parts[0] == "tests" and len(pure.parts) == 2:
        return (
            "src/main.rs" if "src/main.rs" in known and "src/lib.rs" not in known else "src/lib.rs"
        )
    if pure.parts[0] == "src" and pure.name == "tests.rs":
        parent = pure.parent
        if parent.as_posix() == "src":
            return (
                "src/main.rs"
                if "src/main.rs" in known and "src/lib.rs" not in known
                else "src/lib.rs"
            )
        flat = parent.with_suffix(".rs").as_posix()
        nested = (parent / "mod.rs").as_posix()
        return nested if nested in known else flat
    return None


def _crate_root(known: Collection[str]) -> str:
    binary = "src/main.rs" in known and "src/lib.rs" not in known
    return "src/main.rs" if binary else "src/lib.rs"


def _rust_uses(root: Any) -> set[str]:
    """The names a file takes from the crate under test (`*` for a glob)."""
    names: set[str] = set()
    for node in walk(root):
        if node.type != "use_declaration":
            continue
        used = text(node.child_by_field_name("argument"))
        head = used.split("::", 1)[0].strip()
        if head in _RUST_EXTERNAL and head != "crate":
            continue
        tail = used.split("::", 1)[1] if "::" in used else ""
        for part in tail.replace("{", ",").replace("}", ",").split(","):
            part = part.strip().split(" as ")[0].strip()
            if part:
                names.add(part.rsplit("::", 1)[-1])
    return names


def _rust_declared(root: Any) -> Iterator[str]:
    for node in walk(root):
        if node.type in ("function_item", "struct_item", "enum_item", "type_item", "const_item"):
            name = node.child_by_field_name("name")
            if name is not None:
                yield text(name)


def _rust_calls(root: Any) -> Iterator[tuple[str, Any]]:
    for node in walk(root):
        if node.type == "token_tree":
            yield from _macro_calls(node)
            continue
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        if function is None:
            continue
        if function.type == "identifier":
            yield text(function), node
        elif function.type == "scoped_identifier":
            path = function.child_by_field_name("path")
            name = function.child_by_field_name("name")
            head = text(path).split("::")[0] if path is not None else ""
            if path is not None and name is not None and head not in _RUST_EXTERNAL - {"crate"}:
                if path.type == "identifier" and text(path)[:1].isupper():
                    continue  # Type::method: the type is what is required
                yield text(name), node


_STD_TYPES = frozenset({"Vec", "String", "Option", "Some", "Box", "HashMap", "HashSet", "Ok"})


def _rust_types(root: Any) -> Iterator[str]:
    """Types the tests name by `Type::method(...)` or `Type { .. }`."""
    for node in walk(root):
        if node.type == "scoped_identifier":
            path = node.child_by_field_name("path")
            if path is not None and path.type == "identifier" and _is_type(text(path)):
                yield text(path)
        elif node.type == "struct_expression":
            name = node.child_by_field_name("name")
            if name is not None and name.type == "type_identifier":
                yield text(name)
        elif node.type == "token_tree":
            children = node.children
            for i, child in enumerate(children[:-1]):
                if (
                    child.type == "identifier"
                    and _is_type(text(child))
                    and children[i + 1].type == "::"
                ):
                    yield text(child)


def _is_type(name: str) -> bool:
    return name[:1].isupper() and name not in _STD_TYPES


def _macro_calls(node: Any) -> Iterator[tuple[str, Any]]:
    """`name(args)` inside a macro's tokens (`assert_eq!(add(1, 2), 3)`): tree-sitter
    leaves a macro's arguments as tokens, so a call is a name then a `( ... )` group not
    after `::`/`.` (a path's or a method's)."""
    children = node.children
    for i, child in enumerate(children[:-1]):
        after = children[i + 1]
        before = children[i - 1].type if i else ""
        if (
            child.type == "identifier"
            and after.type == "token_tree"
            and text(after).startswith("(")
            and before not in ("::", ".", "!")
            and not _is_type(text(child))
        ):
            yield text(child), after


# -- tree-sitter ---------------------------------------------------------------------------
