"""JavaScript and TypeScript: node's own test runner, a process per test file, judged by
`sandbox.node_judge`, in `sandbox/toolchains/javascript.Dockerfile` (Debian trixie's
Node 20, npm and esbuild, and python3 for the judge).

TypeScript runs with no network and no build step of the project's: node (20, with no
type stripping) loads each `.ts`/`.mts` module through a hook that compiles it with
the image's esbuild, source maps on, so traces name the TypeScript lines. esbuild
strips types without checking them, as `tsx` and node's own stripping do: a type
error is not a failing test.

What makes a green here (the judge's document, read on the host):
- the test files on disk are the pristine ones (their hashes), run under fresh names;
- every test file ran and its reporter wrote one whole JUnit document on a pipe of
  its own (a file that exits before its tests, or whose channel holds two documents,
  is an error, never a pass), and its exit code agrees with its report;
- every test a file names with a literal string (read with tree-sitter) is in its
  report (else an error), and none is skipped unless the file skips tests itself;
- a copy of each test file with its assertions turned around fails where the file
  passes, and a canary's test that must fail fails (else the report is tampered).

No parent runner reads a test process's stdout (as `node --test` reads its children's
serialized events), so nothing the code under test prints can count as a result.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from sandbox.base import ExecResult, Outcome, Suite, TestCase, TestReport
from sandbox.errors import UsageError
from sandbox.image import ImageSpec
from sandbox.junit import TB_MAX_BYTES, TB_MAX_LINES, Unusable, safe_parse
from sandbox.testrun import PytestHost, check_command
from sandbox.toolchains.js_inventory import inventory

__all__ = [
    "JAVASCRIPT",
    "JS_IMAGE",
    "JavaScriptToolchain",
    "is_js_test",
    "runs_named",
    "uses_node_test",
]

JS_IMAGE = ImageSpec(
    repo="greenloop-sandbox-javascript",
    dockerfile="sandbox/toolchains/javascript.Dockerfile",
    default_base="node:20-bookworm-slim",
    packages=("nodejs", "npm", "esbuild", "python3", "git", "ca-certificates"),
    suite="trixie",
    toolchain="javascript",
)
_SOURCES = (".js", ".mjs", ".cjs", ".ts", ".mts")
_TYPESCRIPT = (".ts", ".mts")
_TEST_NAME = re.compile(r"(^test\.|^test-|[._-]test\.|\.spec\.)", re.IGNORECASE)
_MESSAGE_MAX = 2000
_NODE_TEST = re.compile(r"""(\bfrom|\brequire\s*\(|\bimport\s*\()\s*['"]node:test['"]""")
_INTERNAL = re.compile(r"\(node:|\bat node:|node:internal|at async Promise\.all|runInAsyncScope")


def runs_named(path: str, named: Sequence[str]) -> bool:
    """Whether `node --test <named...>` runs the test file `path`: every test file when
    nothing is named, else the files, folders and globs named (`test/unit`, `test/*.test.js`,
    `**/*.spec.mjs`)."""
    if not named:
        return True
    for word in named:
        pattern = word.removeprefix("./").rstrip("/")
        if path == pattern or path.startswith(pattern + "/"):
            return True
        if _glob(pattern).fullmatch(path):
            return True
    return False


@functools.cache
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob as node's runner reads it: `*` within a folder, `**/` any folders."""
    out = []
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out.append(
            {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part) or re.escape(part)
        )
    return re.compile("".join(out))


def uses_node_test(text: str) -> bool:
    """Whether a file imports node's runner (`node:test`): a test file of node's, not a
    helper beside the tests nor another runner's file (jest's, with its globals)."""
    return bool(_NODE_TEST.search(text))


def is_js_test(path: str) -> bool:
    """A file node's runner collects by default (`*.test.js`, `*-test.mjs`, `test-*.cjs`,
    `test.js`, anything under a `test/` folder), or a `*.spec.js`; never in node_modules."""
    p = PurePosixPath(path)
    if p.suffix not in _SOURCES or "node_modules" in p.parts:
        return False
    return "test" in p.parts[:-1] or bool(_TEST_NAME.search(p.name)) or p.stem.endswith("_test")


@dataclass(frozen=True)
class JavaScriptToolchain:
    name: str = "javascript"
    image: ImageSpec = field(default=JS_IMAGE)
    extensions: tuple[str, ...] = _SOURCES
    manifests: tuple[str, ...] = ("package.json",)
    default_command: str = "node --test"
    test_hint: str = "*.test.mjs (or .js, .cjs, .ts) importing node:test"
    together: bool = False

    def is_test_file(self, path: str) -> bool:
        return is_js_test(path)

    def runs_test(self, path: str, text: str) -> bool:
        return is_js_test(path) and uses_node_test(text)

    def protects(self, path: str, text: str) -> bool:
        return self.runs_test(path, text)

    def expected(self, path: str, text: str) -> frozenset[str]:
        """The tests it names with literal strings (`js_inventory`), `outer > name`."""
        typescript = PurePosixPath(path).suffix in _TYPESCRIPT
        return frozenset(f"{path}::{name}" for name in inventory(text, typescript=typescript))

    def test_args(self, command: str) -> list[str]:
        """`node --test [files]`: the judge runs every test file, each in its own process,
        so only the files named (if any) are kept: the files, folders or globs that say
        which test files run (`runs_named`)."""
        try:
            words = check_command(command, "test command")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if words[:2] != ["node", "--test"] or any(w.startswith("-") for w in words[2:]):
            raise UsageError(
                f"test command {command!r} is not node's runner: set test_command in "
                "task.toml to 'node --test' (optionally with test files)"
            )
        return words[2:]

    def folder_suite(self, files: Mapping[str, bytes]) -> Suite:
        tests: dict[str, str] = {}
        watch: set[str] = set()
        for path, data in files.items():
            if PurePosixPath(path).suffix not in _SOURCES or "node_modules" in path:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if is_js_test(path) and uses_node_test(text):
                tests[path] = text
            elif not is_js_test(path):
                watch.add(path)
        return Suite(tests, frozenset(watch))

    def run_tests(
        self,
        host: PytestHost,
        args: Sequence[str],
        timeout: float,
        *,
        root: str,
        suite: Suite,
    ) -> TestReport:
        tests = {
            p: t for p, t in suite.tests.items()
            if is_js_test(p) and uses_node_test(t) and runs_named(p, args)
        }  # fmt: skip
        hashes = {p: hashlib.sha256(t.encode()).hexdigest() for p, t in tests.items()}
        typescript = any(
            PurePosixPath(p).suffix in _TYPESCRIPT for p in (*suite.tests, *suite.watch)
        )
        spec = {"tests": hashes, "typescript": typescript}
        argv = ["python3", "-S", "-P", "-c", _program("node_judge.py"), _program("judge_io.py")]
        argv.append(json.dumps(spec))
        result, channel = host.run_report(argv, timeout)
        report = judge(channel, result, root, tests)
        return replace(
            report, exec=result, timed_out=result.timed_out, oom_killed=result.oom_killed
        )


JAVASCRIPT = JavaScriptToolchain()


@functools.cache
def _program(name: str) -> str:
    return (Path(__file__).parents[1] / name).read_text(encoding="utf-8")


# -- the verdict, on the host ------------------------------------------------------------


@dataclass
class _File:
    """One file's run, as its judge sent it."""

    path: str
    role: str
    rc: int
    cases: list[TestCase] = field(default_factory=list)
    problem: str = ""
    names: list[str] = field(default_factory=list)
    changed: bool = False
    """Not what the judge wrote when its turn came: something rewrote it."""


def judge(
    channel: bytes | None,
    result: ExecResult,
    root: str = "",
    pristine: Mapping[str, str] | None = None,
) -> TestReport:
    """The report of a run from the judge's document; tampered where it cannot be true.
    Each test the `pristine` files name (`js_inventory`) must be in its file's report: one
    that is not is an error, never a pass."""
    if result.timed_out or result.exit_code != 0:
        how = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        return TestReport(duration=result.duration, note=f"the judge {how} before its verdict")
    try:
        doc = json.loads((channel or b"").strip())
        if not isinstance(doc, dict) or doc.get("judge") != 1:
            raise ValueError("not the judge's document")
        files = [_read_file(entry, root) for entry in doc["files"]]
        lost = str(doc.get("lost") or "")
    except (ValueError, KeyError, TypeError, binascii.Error):
        return TestReport(
            duration=result.duration,
            tampered="the report channel held something other than the judge's one document",
        )
    if lost:
        return TestReport(duration=result.duration, note=lost)
    tests = [f for f in files if f.role == "test"]
    cases = tuple(c for f in tests for c in f.cases)
    errors = tuple(_file_error(f) for f in tests if f.problem)
    missing = tuple(_missing(tests, pristine or {}))
    report = TestReport(tests=cases + missing, collection_errors=errors, duration=result.duration)
    tampered = _tampered(tests, files) or _skipped(tests, pristine or {})
    return replace(report, tampered=tampered) if tampered else report


NOT_RUN = "this test did not run: something skipped, renamed or hid it"


def _missing(tests: list[_File], pristine: Mapping[str, str]) -> Any:
    """An error for each test a file names that its report lacks (a file that reported
    nothing has its own error, which stands for its tests)."""
    for f in tests:
        if f.problem or f.path not in pristine:
            continue
        typescript = PurePosixPath(f.path).suffix in _TYPESCRIPT
        reported = {c.id.partition("::")[2] for c in f.cases}
        for name in sorted(inventory(pristine[f.path], typescript=typescript) - reported):
            yield TestCase(id=f"{f.path}::{name}", outcome="error", message=NOT_RUN)


def _skipped(tests: list[_File], pristine: Mapping[str, str]) -> str:
    """A test reported skipped in a file that never skips one: the code under test did."""
    for f in tests:
        text = pristine.get(f.path)
        if text is None or "skip" in text or "todo" in text:
            continue
        if any(c.outcome == "skipped" for c in f.cases):
            return f"{f.path}: a test was skipped, and the file skips none"
    return ""


def _read_file(entry: Mapping[str, Any], root: str) -> _File:
    path, role, rc = str(entry["path"]), str(entry["role"]), int(entry["rc"])
    one = _File(path, role, rc, names=[str(n) for n in entry.get("names") or ()])
    if entry.get("changed"):
        one.changed = True
        return one
    if entry.get("over"):
        one.problem = "its report channel held more than any report"
        return one
    xml = base64.b64decode(entry.get("xml") or "", validate=True)
    if not xml.strip():
        one.problem = f"it exited {rc} and reported no test" + (
            " (it ended before its tests ran)" if rc == 0 else ""
        )
        return one
    try:
        top = safe_parse(xml)
    except Unusable as exc:
        one.problem = f"its report is not one JUnit document ({exc})"
        return one
    one.cases = list(_cases(top, path, root))
    if not one.cases:
        one.problem = f"it exited {rc} and reported no test"
    return one


def _cases(element: ET.Element, path: str, root: str, trail: tuple[str, ...] = ()) -> Any:
    for child in element:
        if child.tag == "testsuite":
            yield from _cases(child, path, root, (*trail, child.get("name", "")))
        elif child.tag == "testcase":
            yield _case(child, path, root, trail)


def _case(element: ET.Element, path: str, root: str, trail: tuple[str, ...]) -> TestCase:
    detail = next((c for c in element if c.tag in ("failure", "error", "skipped")), None)
    outcome: Outcome = "passed"
    message = text = ""
    if detail is not None:
        outcome = "skipped" if detail.tag == "skipped" else "failed"
        message = detail.get("message", "")[:_MESSAGE_MAX]
        text = (detail.text or "").replace(f"file://{root.rstrip('/')}/", "")
        text = text.replace(root.rstrip("/") + "/", "") if root else text
    name = " > ".join((*trail, element.get("name", "")))
    return TestCase(
        id=f"{path}::{name}",
        outcome=outcome,
        message=message,
        traceback=_trace(text) if outcome == "failed" else "",
        duration=_seconds(element.get("time")),
    )


def _trace(text: str) -> str:
    """A failure's text without node's own frames, its head kept within the caps."""
    lines = [
        line.rstrip()
        for line in text.strip().splitlines()
        if not _INTERNAL.search(line) and line.strip()
    ]
    kept: list[str] = []
    size = 0
    for line in lines[:TB_MAX_LINES]:
        size += len(line) + 1
        if size > TB_MAX_BYTES:
            break
        kept.append(line)
    return "\n".join(kept)


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return seconds if seconds >= 0 and seconds != float("inf") else 0.0


def _file_error(f: _File) -> TestCase:
    return TestCase(id=f.path, outcome="error", message=f"{f.path}: {f.problem}")


def _tampered(tests: list[_File], files: list[_File]) -> str:
    """Why the reports cannot all be true, or ""."""
    for f in files:
        if f.changed:
            return (
                f"a test file ({f.path or 'a canary'}) was rewritten during the run: the "
                "code under test reached into the tests"
            )
    for f in tests:
        failed = any(c.outcome == "failed" for c in f.cases)
        if f.rc == 0 and failed:
            return f"{f.path}: node exited 0 but its report holds a failed test"
        if f.rc != 0 and f.cases and not failed and not f.problem:
            return f"{f.path}: node exited {f.rc} but its report holds no failed test"
    passing = {f.path for f in tests if _all_passed(f)}
    for f in files:
        if f.role == "mutant" and f.path in passing and _all_passed(f):
            return (
                f"a copy of {f.path} with its assertions turned around passed too: the "
                "report cannot be the tests' real outcome"
            )
        if f.role == "canary":
            outcome = {c.id.partition("::")[2]: c.outcome for c in f.cases}
            if len(f.names) == 2 and outcome.get(f.names[1]) == "passed":
                return "a canary test that must fail passed: the report cannot be true"
    return ""


def _all_passed(f: _File) -> bool:
    ran = [c for c in f.cases if c.outcome != "skipped"]
    return bool(ran) and not f.problem and all(c.outcome == "passed" for c in ran)
