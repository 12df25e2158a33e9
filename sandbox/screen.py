"""A static screen of Python source for the moves a forged verdict needs and ordinary code does not.

    judge_moves(source)      # {"reads the interpreter's frames (sys._getframe)": 12, ...}

Code under test runs in the process that judges it. To change what the judge
sees it has to reach the judge: walk the heap (`gc.get_objects`), climb the
stack (`sys._getframe`, `tb_frame`, `f_back`, `inspect.stack`), load native
code (`ctypes`), import the runner's internals (`_pytest`, `pluggy`), define
or register hooks (`pytest_runtest_makereport`, `hookimpl`, `pluginmanager`),
trace or audit (`sys.settrace`, `sys.addaudithook`), find the runner through
the import system (`sys.meta_path`), touch its descriptors (`os.dup2`,
`/proc/...`, `/dev/fd/...`) or end the process without unwinding
(`os._exit`). Each move found is named with its first line. The runtime
audit in `sandbox.judge_child` watches for the same moves made by routes a
screen of the text cannot see (names built at run time).
"""

from __future__ import annotations

import ast
import functools

from sandbox import pyast

__all__ = ["judge_moves"]

_MODULES = {
    "ctypes": "loads native code (ctypes)",
    "_ctypes": "loads native code (ctypes)",
    "_pytest": "imports the test runner's internals (_pytest)",
    "pluggy": "imports the test runner's plugin system (pluggy)",
}
_CALLS = {
    ("gc", "get_objects"): "walks the heap (gc.get_objects)",
    ("gc", "get_referrers"): "walks the heap (gc.get_referrers)",
    ("gc", "get_referents"): "walks the heap (gc.get_referents)",
    ("sys", "_getframe"): "reads the interpreter's frames (sys._getframe)",
    ("sys", "_current_frames"): "reads the interpreter's frames (sys._current_frames)",
    ("sys", "settrace"): "traces the interpreter (sys.settrace)",
    ("sys", "setprofile"): "traces the interpreter (sys.setprofile)",
    ("sys", "addaudithook"): "adds an audit hook (sys.addaudithook)",
    ("sys", "meta_path"): "reaches the import system's finders (sys.meta_path)",
    ("inspect", "currentframe"): "reads the interpreter's frames (inspect.currentframe)",
    ("inspect", "stack"): "reads the interpreter's frames (inspect.stack)",
    ("inspect", "trace"): "reads the interpreter's frames (inspect.trace)",
    ("inspect", "getouterframes"): "reads the interpreter's frames (inspect.getouterframes)",
    ("inspect", "getinnerframes"): "reads the interpreter's frames (inspect.getinnerframes)",
    ("traceback", "walk_stack"): "reads the interpreter's frames (traceback.walk_stack)",
    ("traceback", "walk_tb"): "reads the interpreter's frames (traceback.walk_tb)",
    ("os", "dup2"): "re-points a file descriptor (os.dup2)",
    ("os", "dup"): "copies a file descriptor (os.dup)",
    ("os", "_exit"): "ends the process without unwinding (os._exit)",
}
_ATTRIBUTES = {
    "tb_frame": "reads the interpreter's frames (tb_frame)",
    "f_back": "reads the interpreter's frames (f_back)",
    "f_globals": "reads the interpreter's frames (f_globals)",
    "f_locals": "reads the interpreter's frames (f_locals)",
    "gi_frame": "reads the interpreter's frames (gi_frame)",
    "cr_frame": "reads the interpreter's frames (cr_frame)",
    "pluginmanager": "reaches the test runner's plugins (pluginmanager)",
    "hookimpl": "implements a test-runner hook (hookimpl)",
    "_getframe": "reads the interpreter's frames (sys._getframe)",
}
_PATHS = ("/proc/", "/dev/fd")


def judge_moves(source: str) -> dict[str, int]:
    """Each move toward the judge that `source` makes, with its first line ({} if none,
    or if it does not parse: the syntax gate speaks for that)."""
    return dict(_moves(source))


@functools.lru_cache(maxsize=256)
def _moves(source: str) -> tuple[tuple[str, int], ...]:
    """`judge_moves`, remembered: a run screens the same texts at every test run (the
    candidate's files, the repository's originals they are compared with)."""
    tree = _parse(source)
    if tree is None:
        return ()
    moves: dict[str, int] = {}
    aliases = _aliases(tree)
    for node in ast.walk(tree):
        for move in _node_moves(node, aliases):
            moves.setdefault(move, getattr(node, "lineno", 0))
    return tuple(sorted(moves.items(), key=lambda item: item[1]))


def _parse(source: str) -> ast.Module | None:
    """The source's tree, or None when it does not parse."""
    try:
        return pyast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the module or `module.name` it stands for, from the imports."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _node_moves(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    moves: list[str] = []
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            moves += _module_moves(name)
    elif isinstance(node, ast.Attribute):
        if node.attr in _ATTRIBUTES:
            moves.append(_ATTRIBUTES[node.attr])
        if isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id, node.value.id).split(".")[-1]
            if (module, node.attr) in _CALLS:
                moves.append(_CALLS[(module, node.attr)])
        if node.attr == "__code__" and isinstance(node.ctx, ast.Store):
            moves.append("replaces a function's code (__code__)")
    elif isinstance(node, ast.Name) and node.id in aliases:
        moves += _module_moves(aliases[node.id])
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if node.name.startswith("pytest_"):
            moves.append(f"implements a test-runner hook ({node.name})")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        if text.startswith(_PATHS) or any(f" {p}" in text for p in _PATHS):
            moves.append("opens the process's own descriptors or records (/proc, /dev/fd)")
        if text in _ATTRIBUTES:
            moves.append(_ATTRIBUTES[text])
        if text.split(".")[0] in _MODULES:
            moves.append(_MODULES[text.split(".")[0]])
    return moves


def _module_moves(name: str) -> list[str]:
    """The moves that using the module (or `module.name`) `name` makes."""
    root, _, rest = name.partition(".")
    if root in _MODULES:
        return [_MODULES[root]]
    if (root, rest) in _CALLS:
        return [_CALLS[(root, rest)]]
    return []
