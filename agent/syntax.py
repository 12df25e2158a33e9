"""The syntax gate: does a generated file parse (Python, JavaScript, TypeScript, Go, Rust)?

A file that does not parse goes back to the model with the problem's line
before any test run is spent on it. tree-sitter is used rather than `ast`
because it recovers after the first error (so several problems can be
reported at once) and does not depend on the host interpreter's version.

The parser is made lazily on first use, one per thread (a tree-sitter
`Parser` must not be shared by threads parsing at the same time).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import tree_sitter_python
from tree_sitter import Language, Node, Parser

from agent.languages import language_of
from sandbox import pyast
from sandbox.toolchains import trees

__all__ = [
    "SyntaxProblem",
    "check_javascript",
    "check_python",
    "check_source",
    "check_tree",
    "goes_on",
    "python_language",
    "python_parser",
    "render_problems",
]

# The grammar still accepts Python 2 statements; Python 3 does not.
_PY2_ONLY = {"print_statement": "Python 2 print statement", "exec_statement": "exec statement"}
# Python 2 statements parse cleanly, so `has_error` does not lead to them: the
# walk also enters every node that can hold statements.
_STATEMENT_HOLDERS = frozenset(
    [
        "module",
        "block",
        "if_statement",
        "for_statement",
        "while_statement",
        "function_definition",
        "class_definition",
        "try_statement",
        "with_statement",
        "else_clause",
        "elif_clause",
        "except_clause",
        "finally_clause",
        "decorated_definition",
        "match_statement",
        "case_clause",
    ]
)
_SNIPPET_CHARS = 40
_INCOMPLETE = 0x4000  # PyCF_ALLOW_INCOMPLETE_INPUT
_NO_DEDENT = 0x200  # PyCF_DONT_IMPLY_DEDENT
_local = threading.local()


@dataclass(frozen=True)
class SyntaxProblem:
    """One place where the source does not parse."""

    line: int
    """1-based line number."""
    column: int
    """1-based column."""
    text: str
    """What is wrong there, e.g. "missing `)`" or "cannot parse `x = (1,`"."""

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.text}"


@functools.cache
def python_language() -> Language:
    """The tree-sitter Python language (loaded once)."""
    return Language(tree_sitter_python.language())


def python_parser() -> Parser:
    """This thread's tree-sitter parser for Python."""
    parser: Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = Parser(python_language())
        _local.parser = parser
    return parser


def _snippet(node: Node) -> str:
    text = (node.text or b"").decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= _SNIPPET_CHARS else first[: _SNIPPET_CHARS - 3] + "..."


def _problem(node: Node) -> SyntaxProblem | None:
    row, col = node.start_point
    if node.is_missing:
        return SyntaxProblem(row + 1, col + 1, f"missing `{node.type}`")
    if node.is_error:
        snippet = _snippet(node)
        what = f"cannot parse `{snippet}`" if snippet else "cannot parse here"
        return SyntaxProblem(row + 1, col + 1, what)
    if node.type == "block" and node.named_child_count == 0:
        return SyntaxProblem(row + 1, col + 1, "expected an indented block")
    if node.type in _PY2_ONLY:
        return SyntaxProblem(row + 1, col + 1, f"{_PY2_ONLY[node.type]}: `{_snippet(node)}`")
    return None


def check_python(source: str, limit: int = 5) -> list[SyntaxProblem]:
    """Parse `source` and return its first `limit` problems, in source order; [] when it parses."""
    problems = _tree_sitter_problems(source, limit)
    first = _compiler_problem(source)
    # The host's compiler pinpoints the first error better than tree-sitter, but it
    # may be older than the sandbox's Python (PEP 701 f-strings, `type` aliases): its
    # verdict counts only where tree-sitter agrees, or for indentation, which is
    # the same in every version.
    if first is not None and (problems or first[1]):
        problems = _merge(first[0], problems)
    return sorted(problems, key=lambda p: (p.line, p.column))[:limit]


def check_javascript(source: str, typescript: bool = False, limit: int = 5) -> list[SyntaxProblem]:
    """Parse JavaScript (or TypeScript) `source` with tree-sitter; its first problems."""
    return _tree_problems(trees.parser("typescript" if typescript else "javascript"), source, limit)


def check_tree(source: str, fence: str, limit: int = 5) -> list[SyntaxProblem]:
    """Parse Go or Rust (`fence`: "go", "rust") `source` with tree-sitter; its first problems."""
    return _tree_problems(trees.parser(fence), source, limit)


def _tree_problems(parser: Parser, source: str, limit: int) -> list[SyntaxProblem]:
    tree = parser.parse(source.encode("utf-8", "surrogatepass"))
    problems: list[SyntaxProblem] = []
    stack = [tree.root_node]
    while stack and len(problems) < limit:
        node = stack.pop()
        if node.is_missing or node.is_error:
            problem = _problem(node)
            if problem is not None:
                problems.append(problem)
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return sorted(problems, key=lambda p: (p.line, p.column))


def check_source(path: str, source: str) -> list[SyntaxProblem]:
    """The syntax problems of `source` as the file at `path` (its extension's language);
    [] for a file greenloop does not parse."""
    language = language_of(path)
    if language is None:
        return []
    if language.fence == "python":
        return check_python(source)
    if language.toolchain == "javascript":
        return check_javascript(source, typescript=language.fence == "typescript")
    return check_tree(source, language.fence)


def _tree_sitter_problems(source: str, limit: int) -> list[SyntaxProblem]:
    tree = python_parser().parse(source.encode("utf-8", "surrogatepass"))
    problems: list[SyntaxProblem] = []
    stack = [tree.root_node]
    while stack and len(problems) < limit:
        node = stack.pop()
        problem = _problem(node)
        if problem is not None:
            problems.append(problem)
            continue  # one report per broken region
        if node.has_error or node.type in _STATEMENT_HOLDERS:
            stack.extend(reversed(node.children))
    return problems


def _merge(first: SyntaxProblem, found: list[SyntaxProblem]) -> list[SyntaxProblem]:
    """The compiler's problem replaces tree-sitter's reports of the same spot."""
    same_line = [p for p in found if p.line == first.line]
    if first.text == "invalid syntax" and same_line:
        return found  # tree-sitter says more, e.g. "missing `)`"
    return [first, *(p for p in found if abs(p.line - first.line) > 1)]


def _compiler_problem(source: str) -> tuple[SyntaxProblem, bool] | None:
    """The host compiler's first error and whether it is about indentation."""
    try:
        pyast.parse(source)
    except SyntaxError as exc:
        problem = SyntaxProblem(exc.lineno or 1, max(exc.offset or 1, 1), exc.msg)
        return problem, isinstance(exc, IndentationError)
    except (ValueError, RecursionError, MemoryError) as exc:
        return SyntaxProblem(1, 1, str(exc)), False
    return None


def goes_on(source: str) -> bool:
    """Whether some continuation could make `source` parse: it parses already, or is cut
    in an open bracket, string or block (Python's compiler in the "incomplete input"
    mode `codeop` uses)."""
    try:
        compile(source, "<reply>", "exec", flags=_INCOMPLETE | _NO_DEDENT, dont_inherit=True)
    except SyntaxError as e:
        return e.msg == "incomplete input"
    except ValueError:  # a null byte
        return False
    return True


def render_problems(path: str, source: str, problems: list[SyntaxProblem]) -> str:
    """Describe the problems for the next prompt, quoting each offending line."""
    lines = source.splitlines()
    language = language_of(path)
    out = [f"`{path}` does not parse as {language.name if language else 'Python'}:"]
    for problem in problems:
        out.append(f"- {problem}")
        if 0 < problem.line <= len(lines):
            out.append(f"      {problem.line:>4} | {lines[problem.line - 1]}")
    return "\n".join(out)
