"""Making one run's disguise of the tests: stdlib only, run where the tests are. A library.

    made = make_disguise(tests, args, rng)   # {"files", "renamed", "mutants", "canaries",
                                             #  "relaxed"}: plain data, JSON as it is

`sandbox.judge_parent` runs this file's source inside the sandbox (it reads the
pristine tests there, writes the disguised ones, and sends the mapping home on
the report channel), and `sandbox.disguise` imports it on the host. It needs
nothing but the standard library. What the disguise is and why: see
`sandbox.disguise`.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter

TYPE_CHECKING = False
if TYPE_CHECKING:  # the judge runs this with no site and counts its milliseconds
    from collections.abc import Collection, Iterator, Mapping, Sequence
    from typing import Any

__all__ = ["CANARIES", "MUTANTS", "is_test_module", "make_disguise", "selects_by_name"]

CANARIES = 2
"""Failing tests added to every disguised run."""
MUTANTS = 4
"""At most this many mutant copies of real tests per run (one per file first)."""

_VERBS = ("parses", "rejects", "keeps", "counts", "splits", "merges", "formats", "returns",
          "handles", "sorts", "loads", "rounds", "checks", "builds", "reads", "stores",
          "accepts", "finds", "joins", "maps", "skips", "matches", "converts")  # fmt: skip
_NOUNS = ("empty_input", "unicode", "large_values", "order", "duplicates", "negative",
          "whitespace", "zero", "nested_items", "missing_key", "limits", "one_item",
          "case", "defaults", "padding", "overflow", "prefix", "suffix", "total", "range",
          "first_item", "last_item", "mixed_input", "single_value")  # fmt: skip
_EXCEPTIONS = ("ValueError", "KeyError", "RuntimeError", "LookupError", "TypeError")
_SELECTING = ("-k", "-m", "--deselect")


def is_test_module(path: str) -> bool:
    """A file pytest collects tests from by default (`test_*.py`, `*_test.py`)."""
    name = path.rpartition("/")[2]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def selects_by_name(args: Sequence[str]) -> bool:
    """Whether pytest `args` select tests by name or mark (so names must stay)."""
    for arg in args:
        option = arg in _SELECTING or arg.startswith(("-k", "-m", "--deselect="))
        if option or ("::" in arg and not arg.startswith("-")):
            return True
    return False


class _Test:
    """A test function as its file defines it: its name has `Class::` before it for a
    method. (A plain class: dataclasses would cost the judge an import.)"""

    __slots__ = ("method", "name", "node", "path")

    def __init__(
        self, path: str, name: str, node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool
    ) -> None:
        self.path, self.name, self.node, self.method = path, name, node, method


def make_disguise(
    tests: Mapping[str, str],
    args: Sequence[str],
    rng: random.Random,
    focus: Collection[str] = (),
) -> dict[str, Any]:
    """Fresh names for the tests in `tests`, and canaries and mutants among them: the
    files to write and the mapping back, as plain data. Mutants copy the tests of `focus`
    (node ids: the ones a run is about) first, then their files', then the others'."""
    relaxed = selects_by_name(args)
    parsed = {p: _parse(t) for p, t in tests.items() if p.endswith(".py")}
    found = {p: _tests(p, tree) for p, tree in parsed.items() if tree is not None}
    hosts = sorted(p for p, ts in found.items() if ts and _collected(p, args))
    namer = _Namer(rng, {t.name.rpartition("::")[2] for ts in found.values() for t in ts})
    files = {p: tests[p] for p in found}
    renamed: dict[tuple[str, str], str] = {}
    if not relaxed:
        uses = Counter(re.findall(r"\b\w+\b", "\n".join(tests.values())))
        for path, found_tests in found.items():
            files[path], names = _rename(files[path], found_tests, namer, uses)
            renamed.update({(path, new): old for old, new in names.items()})
    mutants: dict[tuple[str, str], str] = {}
    chosen = _mutable(found, tests, parsed, hosts, rng, namer, frozenset(focus))
    for test, helper, text in chosen:
        name = f"{test.name}_{namer.word()}" if relaxed else namer.fresh()
        body = re.sub(r"(\bdef\s+)\w+", rf"\g<1>{name}", text, count=1)
        files[test.path] = _append(files[test.path], helper + body)
        mutants[(test.path, name)] = test.name
    canaries: set[tuple[str, str]] = set()
    for _ in range(CANARIES if hosts else 0):
        path, name = rng.choice(hosts), namer.fresh()
        files[path] = _append(files[path], f"def {name}():\n{_failing_body(rng)}")
        canaries.add((path, name))
    return {
        "files": files,
        "renamed": sorted([p, new, old] for (p, new), old in renamed.items()),
        "mutants": sorted([p, name, original] for (p, name), original in mutants.items()),
        "canaries": sorted([p, name] for p, name in canaries),
        "relaxed": relaxed,
    }


def _collected(path: str, args: Sequence[str]) -> bool:
    """Whether pytest, given `args`, collects `path` (args that name paths limit it)."""
    named = [a.split("::")[0].rstrip("/") for a in args if not a.startswith("-")]
    paths = [a for a in named if a and (a == path or path.startswith(a + "/"))]
    looks_like_paths = [a for a in named if a.endswith(".py") or "/" in a]
    return bool(paths) or not looks_like_paths


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _tests(path: str, tree: ast.Module) -> list[_Test]:
    """pytest's default discovery: `test*` functions, `test*` methods of `Test*` classes."""
    found: list[_Test] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("test"):
                found.append(_Test(path, node.name, node, method=False))
        elif isinstance(node, ast.ClassDef) and _test_class(node):
            found.extend(
                _Test(path, f"{node.name}::{item.name}", item, method=True)
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name.startswith("test")
            )
    return found


def _test_class(node: ast.ClassDef) -> bool:
    """`Test*` classes, and unittest's `TestCase` subclasses whatever their name."""
    bases = [ast.unparse(b) for b in node.bases]
    return node.name.startswith("Test") or any(b.endswith("TestCase") for b in bases)


class _Namer:
    """Test names that look alike whatever they name, never used twice in a run."""

    def __init__(self, rng: random.Random, taken: Collection[str]) -> None:
        self.rng, self.taken = rng, set(taken)

    def word(self) -> str:
        return self.rng.choice(_NOUNS)

    def helper(self, base: str) -> str:
        """A fresh name for a copy of the helper `base`."""
        while True:
            name = f"{base}_{self.word()}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def fresh(self) -> str:
        parts = 2
        while True:
            words = [self.rng.choice(_VERBS), *(self.word() for _ in range(parts - 1))]
            name = "test_" + "_".join(words)
            if name not in self.taken:
                self.taken.add(name)
                return name
            parts = min(parts + 1, 4)


def _rename(
    text: str, tests: Sequence[_Test], namer: _Namer, uses: Mapping[str, int]
) -> tuple[str, dict[str, str]]:
    """`text` with each test renamed on its `def` line; {real name: new name}. A name
    used more than once in all the test files (`uses`: words counted once) is referred
    to: kept."""
    lines = text.splitlines(keepends=True)
    names: dict[str, str] = {}
    for test in tests:
        short = test.node.name
        if uses.get(short, 0) != 1:
            continue
        new = namer.fresh()
        index = test.node.lineno - 1
        pattern = rf"(\bdef\s+){re.escape(short)}\b"
        lines[index] = re.sub(pattern, rf"\g<1>{new}", lines[index], count=1)
        prefix = test.name[: -len(short)]
        names[test.name] = prefix + new
    return "".join(lines), names


def _append(text: str, block: str) -> str:
    return text.rstrip("\n") + "\n\n\n" + block.rstrip("\n") + "\n"


# ---------------------------------------------------------------- mutants


def _mutable(
    found: Mapping[str, Sequence[_Test]],
    texts: Mapping[str, str],
    trees: Mapping[str, ast.Module | None],
    hosts: Collection[str],
    rng: random.Random,
    namer: _Namer,
    focus: frozenset[str],
) -> list[tuple[_Test, str, str]]:
    """Up to `MUTANTS` (test, helper source, test source) triples: the focus tests first,
    then one per file before a second, the focus files' first. A mutant changes the test's
    own `==` assert, or else calls a copy of a helper of its file (HumanEval's
    `check(candidate)`) with one changed. Mutants are made only as they are taken."""
    focus_files = {f.partition("::")[0] for f in focus}
    queues = []
    for path in sorted(hosts):
        tests = [t for t in found[path] if not t.method]
        rng.shuffle(tests)
        tests.sort(key=lambda t: f"{t.path}::{t.name}" not in focus)
        queues.append(_mutants_of(tests, texts[path], _helpers(trees[path]), rng, namer))
    rng.shuffle(queues)
    queues.sort(key=lambda queue: queue[0] not in focus_files)
    chosen: list[tuple[_Test, str, str]] = []
    while queues and len(chosen) < MUTANTS:
        for queue in list(queues):
            mutant = next(queue[1], None) if len(chosen) < MUTANTS else None
            if mutant is None:
                queues.remove(queue)
            else:
                chosen.append(mutant)
    return chosen


def _mutants_of(
    tests: Sequence[_Test],
    text: str,
    helpers: Mapping[str, ast.FunctionDef | ast.AsyncFunctionDef],
    rng: random.Random,
    namer: _Namer,
) -> tuple[str, Iterator[tuple[_Test, str, str]]]:
    """(the file's path, its mutants in the order of `tests`, made one at a time)."""
    made = (
        (test, *mutant)
        for test in tests
        if (mutant := _mutant(text, test, helpers, rng, namer)) is not None
    )
    return (tests[0].path if tests else ""), made


def _helpers(tree: ast.Module | None) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The module-level functions of a test file that are not tests."""
    return {
        node.name: node
        for node in (tree.body if tree is not None else [])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("test")
    }


def _mutant(
    text: str,
    test: _Test,
    helpers: Mapping[str, ast.FunctionDef | ast.AsyncFunctionDef],
    rng: random.Random,
    namer: _Namer,
) -> tuple[str, str] | None:
    """(helper source, test source) of one mutant of `test`, or None."""
    own = _mutate(text, test.node, rng)
    if own is not None:
        return "", own
    for statement in test.node.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        helper = helpers.get(call.func.id)
        changed = _mutate(text, helper, rng) if helper is not None else None
        if changed is None:
            continue
        new = namer.helper(call.func.id)
        copy = re.sub(r"(\bdef\s+)\w+", rf"\g<1>{new}", changed, count=1)
        body = re.sub(rf"\b{re.escape(call.func.id)}\(", f"{new}(", _source(text, test.node))
        return copy.rstrip("\n") + "\n\n\n", body
    return None


def _source(text: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The lines of `node`, its decorators included."""
    first = min([d.lineno for d in node.decorator_list] + [node.lineno])
    return "".join(text.splitlines(keepends=True)[first - 1 : node.end_lineno or node.lineno])


def _mutate(
    text: str, node: ast.FunctionDef | ast.AsyncFunctionDef, rng: random.Random
) -> str | None:
    """The source of `node` with the expected value of one of its top-level `==` asserts
    changed, or None when it has none. Only statements every passing run executes."""
    targets = []
    for statement in node.body:
        if not isinstance(statement, ast.Assert) or not isinstance(statement.test, ast.Compare):
            continue
        compare = statement.test
        if len(compare.ops) != 1 or not isinstance(compare.ops[0], ast.Eq):
            continue
        for side in (compare.comparators[0], compare.left):
            changed = _other_value(side, rng)
            if changed is not None:
                targets.append((side, changed))
                break
    if not targets:
        return None
    side, value = rng.choice(targets)
    first = min([d.lineno for d in node.decorator_list] + [node.lineno])
    source = text.encode().splitlines(keepends=True)
    end_line = node.end_lineno or node.lineno
    chunk = source[first - 1 : end_line]
    start = (side.lineno - first, side.col_offset)
    stop = ((side.end_lineno or side.lineno) - first, side.end_col_offset or side.col_offset)
    head = b"".join(chunk[: start[0]]) + chunk[start[0]][: start[1]]
    tail = chunk[stop[0]][stop[1] :] + b"".join(chunk[stop[0] + 1 :])
    written = chunk[start[0]][start[1] :].lstrip()[:1] if start[0] < len(chunk) else b""
    return (head + _literal(value, written).encode() + tail).decode()


def _literal(value: Any, quote: bytes) -> str:
    """`value` as source, a string in the quotes the test used (a copy reads like it)."""
    text = repr(value)
    if isinstance(value, str) and quote == b'"' and text.startswith("'") and '"' not in value:
        return '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def _other_value(node: ast.expr, rng: random.Random) -> Any:
    """A literal other than `node`'s (None when `node` is not a literal we can change)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):  # far off: a counter a test moves on by one stays unequal
        return value + rng.randint(101, 997)
    if isinstance(value, float):
        return value + rng.choice((0.5, 1.5, 2.0))
    if isinstance(value, str):
        return value + rng.choice("aeiouxyz")
    if isinstance(value, bytes):
        return value + rng.choice("aeiouxyz").encode()
    if isinstance(value, list | tuple):
        return value[:-1] if value else type(value)([0])
    if isinstance(value, dict):
        return {**value, f"_{rng.choice(_NOUNS)}": 0}
    if isinstance(value, set | frozenset):
        return set(value) | {f"_{rng.choice(_NOUNS)}"}
    return None


def _failing_body(rng: random.Random) -> str:
    """A failing test body, one of several shapes, with numbers and words of this run."""
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    items = rng.sample(range(1, 99), rng.randint(3, 6))
    word = rng.choice(_NOUNS).replace("_", "")
    shapes = (
        f"    total = {a} + {b}\n    assert total == {a + b + rng.randint(1, 9)}\n",
        f"    values = {items!r}\n    assert sorted(values) == {sorted(items, reverse=True)!r}\n",
        f'    text = "{word}"\n    assert text.upper() == "{word}"\n',
        f'    raise {rng.choice(_EXCEPTIONS)}("{word} {a}")\n',
        f"    values = {items!r}\n    assert len(values) == {len(items) + rng.randint(1, 3)}\n",
        f"    found = {{{a}: {b}}}\n    assert found.get({a}) == {b + 1}\n",
    )
    return rng.choice(shapes)
