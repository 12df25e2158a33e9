"""What a Go test file defines, read with tree-sitter-go: the tests `go test` must report
for it, whatever the code under test does, and where a mutant copy of each is made.

    inventory(text)   -> {"TestAdd", "TestAdd/small_numbers"}
    plan(text)        -> {"alias": "testing", "tests": [{"name", "at", "span", "flips"}]}
    declared(text)    -> {"TestAdd", "ExampleAdd", "FuzzParse", ...}
    skips(text)       -> whether it calls Skip, Skipf or SkipNow

A test is `func TestXxx(t *testing.T)` (Xxx not starting with a lower-case letter, one
parameter, no receiver, no type parameters), as `go test` finds them. A subtest is a
`t.Run("literal", func(t *testing.T) {...})` statement in its test's body (or in a
subtest's, nested): one under an `if`, a `for` or a `switch` may not run, and one
named by an expression (a table's `tc.name`) cannot be listed; both are left out,
never guessed. Names are as `go test` reports them: spaces become `_`, and the second
subtest of the same name is `name#01`.

A mutant's flips (`plan`) turn a test's assertions around: the condition of each `if`
whose block fails the test (`t.Error`, `t.Errorf`, `t.Fatal`, `t.Fatalf`, `t.Fail`,
`t.FailNow`) becomes `!(cond)`, and testify's `assert`/`require` calls become their
opposites (`Equal` -> `NotEqual`, `NoError` -> `Error`, ...). Offsets are in bytes of
the file's UTF-8 text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.toolchains import trees
from sandbox.toolchains.trees import walk

__all__ = ["declared", "inventory", "parser", "plan", "skips", "string_value", "walk"]

_FAILS = frozenset({"Error", "Errorf", "Fatal", "Fatalf", "Fail", "FailNow"})
_SKIPS = frozenset({"Skip", "Skipf", "SkipNow"})
_PAIRS = (("Equal", "NotEqual"), ("EqualValues", "NotEqualValues"), ("True", "False"),
          ("Nil", "NotNil"), ("NoError", "Error"), ("Empty", "NotEmpty"),
          ("Contains", "NotContains"), ("Zero", "NotZero"), ("Same", "NotSame"),
          ("ErrorIs", "NotErrorIs"), ("Subset", "NotSubset"), ("Regexp", "NotRegexp"),
          ("Panics", "NotPanics"))  # fmt: skip
_FLIPS = {**dict(_PAIRS), **{b: a for a, b in _PAIRS}}
_ASSERTERS = frozenset({"assert", "require"})
_KINDS = ("Test", "Example", "Fuzz", "Benchmark")


def parser() -> Any:
    """tree-sitter's parser for Go (one of its own: see `trees`)."""
    return trees.parser("go")


def string_value(node: Any) -> str | None:
    """A Go string literal's value where it is spelled out (no escapes); else None."""
    if node is None:
        return None
    text = str(node.text.decode())
    if node.type == "raw_string_literal":
        return text[1:-1].replace("\r", "")
    if node.type == "interpreted_string_literal" and "\\" not in text:
        return text[1:-1]
    return None


def _root(text: str) -> Any:
    return parser().parse(text.encode()).root_node


def testing_alias(root: Any) -> str | None:
    """The name the file imports "testing" under (None: not imported, or with `.`/`_`)."""
    for node in walk(root):
        if node.type != "import_spec":
            continue
        if string_value(node.child_by_field_name("path")) != "testing":
            continue
        name = node.child_by_field_name("name")
        if name is None:
            return "testing"
        return name.text.decode() if name.type == "package_identifier" else None
    return None


def _t_param(function: Any, alias: str | None) -> str | None:
    """The name of `function`'s one parameter when it is `*testing.T`, else None."""
    params = function.child_by_field_name("parameters")
    decls = [c for c in params.named_children if c.type == "parameter_declaration"]
    if len(decls) != 1 or alias is None:
        return None
    names = [c for c in decls[0].children if c.type == "identifier"]
    kind = decls[0].child_by_field_name("type")
    if len(names) > 1 or kind is None or kind.text.decode().replace(" ", "") != f"*{alias}.T":
        return None
    return names[0].text.decode() if names else "_"


def _is_named(name: str, prefix: str) -> bool:
    """`go test`'s rule: `Test`, or `Test` then a rune that is not a lower-case letter."""
    if not name.startswith(prefix):
        return False
    rest = name[len(prefix) :]
    return not rest or not rest[0].islower()


def _tests(root: Any) -> Iterator[tuple[Any, str]]:
    """Each test function of the file and its `*testing.T` parameter's name."""
    alias = testing_alias(root)
    for node in root.named_children:
        if node.type != "function_declaration" or node.child_by_field_name("type_parameters"):
            continue
        name = node.child_by_field_name("name").text.decode()
        param = _t_param(node, alias) if _is_named(name, "Test") else None
        if param is not None and node.child_by_field_name("body") is not None:
            yield node, name


def declared(text: str) -> frozenset[str]:
    """The names of the file's top-level Test, Example, Fuzz and Benchmark functions."""
    found = set()
    for node in _root(text).named_children:
        if node.type == "function_declaration":
            name = node.child_by_field_name("name").text.decode()
            if any(_is_named(name, kind) for kind in _KINDS):
                found.add(name)
    return frozenset(found)


def inventory(text: str) -> frozenset[str]:
    """The tests (`TestAdd`) and literal subtests (`TestAdd/small_numbers`) of the file."""
    root = _root(text)
    alias = testing_alias(root)
    names: set[str] = set()
    for function, name in _tests(root):
        names.add(name)
        _subtests(function.child_by_field_name("body"), name, alias, names)
    return frozenset(names)


def _subtests(block: Any, trail: str, alias: str | None, names: set[str]) -> None:
    """The literal `X.Run("name", func(t *testing.T) {...})` statements of `block`."""
    seen: dict[str, int] = {}
    for statement in _statements(block):
        call = statement.named_children[0] if statement.named_child_count else None
        if call is None or call.type != "call_expression":
            continue
        function = call.child_by_field_name("function")
        if function.type != "selector_expression":
            continue
        if function.child_by_field_name("field").text.decode() != "Run":
            continue
        args = [a for a in call.child_by_field_name("arguments").named_children
                if a.type != "comment"]  # fmt: skip
        if len(args) != 2 or args[1].type != "func_literal" or _t_param(args[1], alias) is None:
            continue
        name = _reported(string_value(args[0]))
        if name is None:
            continue
        count = seen.get(name, 0)
        seen[name] = count + 1
        full = f"{trail}/{name}" + (f"#{count:02d}" if count else "")
        names.add(full)
        _subtests(args[1].child_by_field_name("body"), full, alias, names)


def _statements(block: Any) -> Iterator[Any]:
    """The expression statements of a block, through plain nested blocks only."""
    for child in block.named_children:
        if child.type in ("statement_list", "block"):
            yield from _statements(child)
        elif child.type == "expression_statement":
            yield child


def _reported(name: str | None) -> str | None:
    """A subtest's name as `go test` reports it: spaces as `_` (None: not listable)."""
    if not name:
        return None
    if any(not c.isprintable() and not c.isspace() for c in name):
        return None
    return "".join("_" if c.isspace() else c for c in name)


def skips(text: str) -> bool:
    """Whether the file calls `Skip`, `Skipf` or `SkipNow` on anything."""
    for node in walk(_root(text)):
        if node.type == "selector_expression":
            field = node.child_by_field_name("field")
            if field is not None and field.text.decode() in _SKIPS:
                return True
    return False


def identifiers(text: str) -> list[str]:
    """Every identifier the file uses (declarations too), one entry per use."""
    return [n.text.decode() for n in walk(_root(text)) if n.type == "identifier"]


def plan(text: str) -> dict[str, Any]:
    """For the judge: "testing"'s alias and each test's name (bytes `at`), whole function
    (bytes `span`) and its mutant's edits (`flips`: [start, end, new text], in bytes)."""
    root = _root(text)
    tests = []
    for function, name in _tests(root):
        at = function.child_by_field_name("name")
        tests.append({
            "name": name,
            "at": [at.start_byte, at.end_byte],
            "span": [function.start_byte, function.end_byte],
            "flips": _flips(function),
        })  # fmt: skip
    return {"alias": testing_alias(root), "tests": tests}


def _flips(function: Any) -> list[list[Any]]:
    flips: list[list[Any]] = []
    for node in walk(function):
        if node.type == "if_statement" and _fails(node.child_by_field_name("consequence")):
            condition = node.child_by_field_name("condition")
            flips.append([condition.start_byte, condition.start_byte, "!("])
            flips.append([condition.end_byte, condition.end_byte, ")"])
        elif node.type == "call_expression":
            function_node = node.child_by_field_name("function")
            if function_node.type != "selector_expression":
                continue
            operand = function_node.child_by_field_name("operand")
            field = function_node.child_by_field_name("field")
            method = field.text.decode()
            asserter = operand.type == "identifier" and operand.text.decode() in _ASSERTERS
            if asserter and method in _FLIPS:
                flips.append([field.start_byte, field.end_byte, _FLIPS[method]])
    return flips


def _fails(block: Any) -> bool:
    """Whether `block` calls a method that fails the test (not in a nested function)."""
    if block is None:
        return False
    stack = list(block.children)
    while stack:
        node = stack.pop()
        if node.type == "func_literal":
            continue
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function.type == "selector_expression":
                field = function.child_by_field_name("field")
                if field.text.decode() in _FAILS:
                    return True
        stack.extend(node.children)
    return False
