"""What JavaScript or TypeScript acceptance tests demand of the code: files and names.

    extract_js_requirements({"test/add.test.mjs": source}) -> Requirements(modules=(
        ModuleRequirement("../src/add.mjs", "src/add.mjs", (RequiredName("add", ...),)),))

The tests are read with tree-sitter. A relative import (`import { add } from
'../src/add.mjs'`, `const { sub } = require('./sub.cjs')`, `import * as m from './m.js'`
then `m.f(...)`) names a file the plan must contain, resolved from the test's folder; a
bare one (`node:assert`, `lodash`) is a package. The names taken become hard
requirements with the arity of their calls (`new Stack()` makes `Stack` a class), as for
Python (`agent.new.requirements`). TypeScript tests name their modules as tsc has it:
`./x.js` is `x.ts`. An import with no extension is the test's own kind of file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

from agent.new.requirements import (
    CallShape,
    Kind,
    ModuleRequirement,
    RequiredName,
    Requirements,
)
from sandbox.toolchains.js_inventory import parser_for, string_value, walk

__all__ = ["extract_js_requirements", "restore_exports"]

_TYPESCRIPT = (".ts", ".mts")
_MAX_EXAMPLES = 3


class _Module:
    def __init__(self) -> None:
        self.names: dict[str, dict[str, Any]] = {}
        self.used_by: dict[str, None] = {}

    def name(self, name: str) -> dict[str, Any]:
        return self.names.setdefault(name, {"calls": {}, "new": False})


def extract_js_requirements(
    tests: Mapping[str, str], *, known_files: Collection[str] = ()
) -> Requirements:
    """Read the JavaScript/TypeScript tests (path -> source): the files they import and
    what those must export. `known_files` (the starter's) are matched by stem when an
    import names no extension."""
    modules: dict[str, _Module] = {}
    packages: dict[str, None] = {}
    test_paths = set(tests)
    for test, source in tests.items():
        typescript = test.endswith(_TYPESCRIPT)
        tree = parser_for(typescript).parse(source.encode())
        local: dict[str, tuple[str, str]] = {}  # local name -> (file, exported name or "*")
        for specifier, bindings in _imports(tree.root_node):
            if not specifier.startswith((".", "/")):
                packages.setdefault(specifier.removeprefix("node:"), None)
                continue
            path = _resolve(test, specifier, known_files)
            if path is None or path in test_paths:
                continue  # a helper of the tests: theirs, not the code's
            module = modules.setdefault(path, _Module())
            module.used_by.setdefault(test, None)
            for local_name, exported in bindings:
                local[local_name] = (path, exported)
                if exported != "*":
                    module.name(exported)
        _uses(tree.root_node, local, modules)
    required = tuple(
        ModuleRequirement(
            path,
            path,
            tuple(_freeze(n, entry) for n, entry in sorted(mod.names.items())),
            tuple(mod.used_by),
        )
        for path, mod in sorted(modules.items())
    )
    builtin = tuple(p for p in packages if p not in _NODE_BUILTINS)
    return Requirements(required, builtin, tuple(tests))


_NODE_BUILTINS = frozenset(
    {"assert", "assert/strict", "test", "fs", "path", "os", "util", "events", "stream",
     "child_process", "url", "crypto", "buffer", "timers", "timers/promises",
     "fs/promises", "readline", "string_decoder", "zlib", "http", "https", "net"}
)  # fmt: skip


def _resolve(test: str, specifier: str, known: Collection[str]) -> str | None:
    base = posixpath.dirname(test)
    path = posixpath.normpath(posixpath.join(base, specifier))
    if path.startswith(".."):
        return None
    suffix = PurePosixPath(path).suffix
    typescript = test.endswith(_TYPESCRIPT)
    if typescript and suffix in (".js", ".mjs"):
        return path[: -len(suffix)] + (".ts" if suffix == ".js" else ".mts")
    if suffix in (".js", ".mjs", ".cjs", ".ts", ".mts", ".json"):
        return path
    for candidate in known:
        if PurePosixPath(candidate).with_suffix("").as_posix() == path:
            return candidate
    return path + (".ts" if typescript else PurePosixPath(test).suffix)


def _text(node: Any) -> str:
    return str(node.text.decode())


def _imports(root: Any) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(specifier, [(local name, exported name or "*" for a namespace)]) per import."""
    for node in walk(root):
        if node.type == "import_statement":
            source = string_value(node.child_by_field_name("source"))
            if source is not None:
                yield source, list(_import_bindings(node))
        elif node.type == "call_expression":
            function = node.child_by_field_name("function")
            arguments = node.child_by_field_name("arguments")
            if function is None or arguments is None or _text(function) != "require":
                continue
            args = [a for a in arguments.named_children if a.type != "comment"]
            source = string_value(args[0]) if args else None
            if source is not None:
                yield source, list(_require_bindings(node))


def _import_bindings(node: Any) -> Iterator[tuple[str, str]]:
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    if clause is None:
        return
    for part in clause.named_children:
        if part.type == "identifier":
            yield _text(part), "default"
        elif part.type == "namespace_import":
            name = next((c for c in part.named_children if c.type == "identifier"), None)
            if name is not None:
                yield _text(name), "*"
        elif part.type == "named_imports":
            for spec in part.named_children:
                if spec.type != "import_specifier":
                    continue
                imported = spec.child_by_field_name("name")
                alias = spec.child_by_field_name("alias")
                if imported is not None:
                    yield _text(alias or imported), _text(imported)


def _require_bindings(call: Any) -> Iterator[tuple[str, str]]:
    """`const { a, b: c } = require(x)` or `const m = require(x)`."""
    parent = call.parent
    if parent is None or parent.type != "variable_declarator":
        return
    target = parent.child_by_field_name("name")
    if target is None:
        return
    if target.type == "identifier":
        yield _text(target), "*"
    elif target.type == "object_pattern":
        for prop in target.named_children:
            if prop.type == "shorthand_property_identifier_pattern":
                yield _text(prop), _text(prop)
            elif prop.type == "pair_pattern":
                key, value = prop.child_by_field_name("key"), prop.child_by_field_name("value")
                if key is not None and value is not None and value.type == "identifier":
                    yield _text(value), _text(key)


def _uses(root: Any, local: dict[str, tuple[str, str]], modules: dict[str, _Module]) -> None:
    """Calls of imported names (`add(1, 2)`, `new Stack()`, `m.f(x)`): their arity."""
    for node in walk(root):
        if node.type not in ("call_expression", "new_expression"):
            continue
        callee = node.child_by_field_name(
            "function" if node.type == "call_expression" else "constructor"
        )
        arguments = node.child_by_field_name("arguments")
        if callee is None:
            continue
        target: tuple[str, str] | None = None
        if callee.type == "identifier" and _text(callee) in local:
            path, exported = local[_text(callee)]
            target = (path, exported) if exported != "*" else None
        elif callee.type == "member_expression":
            owner, prop = (
                callee.child_by_field_name("object"),
                callee.child_by_field_name("property"),
            )
            if owner is not None and prop is not None and _text(owner) in local:
                path, exported = local[_text(owner)]
                if exported == "*":
                    target = (path, _text(prop))
        if target is None:
            continue
        entry = modules[target[0]].name(target[1])
        count = (
            len([a for a in arguments.named_children if a.type != "comment"]) if arguments else 0
        )
        entry["new"] = entry["new"] or node.type == "new_expression"
        example = _text(node)
        shape = CallShape(count, example=example if len(example) <= 60 else example[:57] + "...")
        if count not in entry["calls"] and len(entry["calls"]) < _MAX_EXAMPLES:
            entry["calls"][count] = shape


def _freeze(name: str, entry: dict[str, Any]) -> RequiredName:
    calls = tuple(entry["calls"].values())
    kind: Kind = "class" if entry["new"] else "function" if calls else "value"
    return RequiredName(name, kind, calls)


def restore_exports(path: str, source: str, names: Collection[str], *, commonjs: bool) -> str:
    """`source` with the required `names` it defines at the top level but does not export
    exported at its end: a small model writes `function add(a, b)` and drops the `export`
    the tests import it by (`export { add };`, or `module.exports` for CommonJS). A name
    it does not define is left for the tests to report."""
    tree = parser_for(path.endswith(_TYPESCRIPT)).parse(source.encode())
    defined: set[str] = set()
    exported: set[str] = set()
    for node in tree.root_node.named_children:
        target = node
        if node.type == "export_statement":
            target = node.child_by_field_name("declaration") or node
            exported.update(_text(n) for n in walk(node) if n.type == "identifier")
        for name in _declared(target):
            defined.add(name)
            if node.type == "export_statement":
                exported.add(name)
    if "module.exports" in source or "exports." in source:
        return source
    missing = [n for n in names if n in defined and n not in exported and n != "default"]
    if not missing:
        return source
    line = (
        f"module.exports = {{ {', '.join(missing)} }};"
        if commonjs
        else f"export {{ {', '.join(missing)} }};"
    )
    return source.rstrip("\n") + f"\n\n{line}\n"


def _declared(node: Any) -> Iterator[str]:
    if node.type in ("function_declaration", "class_declaration", "generator_function_declaration"):
        name = node.child_by_field_name("name")
        if name is not None:
            yield _text(name)
    elif node.type in ("lexical_declaration", "variable_declaration"):
        for declarator in node.named_children:
            name = declarator.child_by_field_name("name")
            is_name = name is not None and name.type == "identifier"
            if declarator.type == "variable_declarator" and is_name:
                yield _text(name)
