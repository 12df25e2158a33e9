"""Rust: cargo's test binaries (libtest), built and run one by one by `sandbox.cargo_judge`,
in `sandbox/toolchains/rust.Dockerfile` (Debian trixie's rustc and cargo 1.85, edition
2024, and python3 for the judge).

The report is libtest's JSON (`-Z unstable-options --format json --report-time`), which
stable libtest writes when `RUSTC_BOOTSTRAP=1` is in the *test binary's* environment
(never cargo's or rustc's: the model's code gets no unstable feature). It is the only
report of stable libtest that carries each failure's message and location; its text
output has the same facts in a layout meant for people, and cargo-nextest is not in
Debian. The JSON comes on the binary's stdout, which the code under test can also write
(`print!` is captured per test; `io::stdout().write_all`, another thread's output and a
raw `write(1, ...)` are not), so it is never believed alone: libtest's `--logfile`
writes one line per result on a pipe of its own, and the two must agree.

What makes a green here (the judge's document, read on the host):
- the test files on disk are the pristine ones (their hashes), and the source files
  holding inline tests hold the pristine test items (`inline_tests`, compared with
  tree-sitter here); integration tests run under fresh names;
- every binary was built before any of the model's code ran, and runs only while it is
  what was built; its exit code agrees with its results;
- every expected test (`rust_inventory`, from the pristine sources) has exactly one
  result in the JSON and one in the log, the same; a result twice, a result for a test
  that does not exist, a JSON result after the summary, or the two channels
  disagreeing is `tampered`; a missing test is an error, never a pass; a test reported
  ignored must be `#[ignore]` in the source, and one that is must be reported ignored;
- a mutant of each passing binary's tests (assertions turned around with tree-sitter)
  fails, and the canary's test that must fail fails (else tampered).

Test ids: `tests/add.rs::adds` for an integration test (modules in the file joined
with `::`), `src/lib.rs::tests::adds` for an inline module, `src/tests.rs::adds` and
`src/parser/tests.rs::adds` for a unit-test module file: the file that defines the test,
then its name as libtest gives it relative to that file. Doc tests are not run.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from sandbox.base import ExecResult, Outcome, Suite, TestCase, TestReport
from sandbox.errors import UsageError
from sandbox.image import ImageSpec
from sandbox.testrun import PytestHost, check_command
from sandbox.toolchains.rust_inventory import RustTest, inline_tests, inventory, mutant

__all__ = [
    "RUST",
    "RUST_IMAGE",
    "RustToolchain",
    "file_kind",
    "inline_tests",
    "judge",
    "module_prefix",
]

RUST_IMAGE = ImageSpec(
    repo="greenloop-sandbox-rust",
    dockerfile="sandbox/toolchains/rust.Dockerfile",
    default_base="rust:1.85-slim",
    packages=("rustc", "cargo", "python3", "git", "ca-certificates"),
    suite="trixie",
    toolchain="rust",
)
FileKind = Literal["integration", "unit", "inline"]
_FORM = "'cargo test' (optionally --lib, --tests, --test NAME, -p PKG, --workspace)"
_SKIPPED_FOLDERS = frozenset({"target", "vendor", ".cargo"})


def file_kind(path: str, text: str | None = None) -> FileKind | None:
    """What a Rust file is to the tests: `integration` (`tests/*.rs`), `unit` (a
    `src/**/tests.rs` module file), `inline` (another source file under `src/` that
    holds `#[cfg(test)]` items or `#[test]` fns; only when `text` is given), or None."""
    pure = PurePosixPath(path)
    if pure.suffix != ".rs" or _SKIPPED_FOLDERS & set(pure.parts[:-1]):
        return None
    if len(pure.parts) >= 2 and pure.parts[-2] == "tests" and "src" not in pure.parts:
        return "integration"
    if "src" not in pure.parts[:-1]:
        return None
    if pure.name == "tests.rs":
        return "unit"
    if text is not None and inline_tests(text):
        return "inline"
    return None


def module_prefix(path: str) -> str:
    """The module path libtest puts before a test of the unit file `path`, as the usual
    layout has it (`src/parser/tests.rs` -> `parser::tests`; `src/lib.rs` -> "")."""
    parts = list(PurePosixPath(path).parts)
    inside = parts[len(parts) - 1 - parts[::-1].index("src") + 1 :]
    if inside and inside[0] == "bin":
        inside = inside[2:] if len(inside) > 2 else []
    if inside and inside[-1] in ("lib.rs", "main.rs", "mod.rs"):
        inside = inside[:-1]
    elif inside:
        inside[-1] = inside[-1].removesuffix(".rs")
    return "::".join(inside)


@dataclass(frozen=True)
class RustToolchain:
    name: str = "rust"
    image: ImageSpec = field(default=RUST_IMAGE)
    extensions: tuple[str, ...] = (".rs",)
    manifests: tuple[str, ...] = ("Cargo.toml",)
    default_command: str = "cargo test"
    test_hint: str = "tests/*.rs, or src/**/tests.rs (#[cfg(test)] mod tests;)"
    together: bool = False

    def is_test_file(self, path: str) -> bool:
        return file_kind(path) is not None

    def runs_test(self, path: str, text: str) -> bool:
        """A test file, or a source file holding inline tests (its tests run too)."""
        return file_kind(path, text) is not None

    def protects(self, path: str, text: str) -> bool:
        """Integration and unit-test module files; a source file with inline tests stays
        the model's to edit (`rust_runner_files` refuses an edit of its test items)."""
        return self.is_test_file(path)

    def expected(self, path: str, text: str) -> frozenset[str]:
        """`path::name` for each `#[test]` fn, `name` as libtest gives it relative to the
        file (`tests::adds` in `src/lib.rs`, `adds` in `src/tests.rs`)."""
        if file_kind(path, text) is None:
            return frozenset()
        return frozenset(f"{path}::{name}" for name in inventory(text))

    def test_args(self, command: str) -> list[str]:
        """The words after `cargo test`: `--lib`, `--tests`, `--test NAME`, `-p PKG`,
        `--workspace`; anything that changes what runs or how it reports is refused."""
        try:
            words = check_command(command, "test command")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if words[:2] != ["cargo", "test"]:
            raise UsageError(f"test command {command!r} is not cargo's: set test_command "
                             f"in task.toml to {_FORM}")  # fmt: skip
        args, rest = [], words[2:]
        while rest:
            word = rest.pop(0)
            if word in ("--lib", "--tests", "--workspace"):
                args.append(word)
            elif word in ("--test", "-p", "--package") and rest and not rest[0].startswith("-"):
                args += [word, rest.pop(0)]
            elif word.startswith(("--test=", "--package=")) and "=" in word[2:]:
                args += word.split("=", 1)
            else:
                raise UsageError(
                    f"test command {command!r}: {word!r} changes what runs or how it "
                    f"reports; set test_command in task.toml to {_FORM}"
                )
        return args

    def folder_suite(self, files: Mapping[str, bytes]) -> Suite:
        tests: dict[str, str] = {}
        watch: set[str] = set()
        for path, data in files.items():
            if PurePosixPath(path).suffix != ".rs":
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            kind = file_kind(path, text)
            if kind is not None:
                tests[path] = text
            if kind in (None, "inline") and not _SKIPPED_FOLDERS & set(PurePosixPath(path).parts):
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
        files = _test_files(suite.tests)
        cargo, select = _selection(args, files)
        spec = json.dumps({"cargo": cargo, "select": select})
        argv = ["python3", "-S", "-P", "-c", _program("cargo_judge.py"), _program("judge_io.py")]
        argv += [spec, *(json.dumps(_entry(f)) for f in files)]
        result, channel = host.run_report(argv, timeout)
        report = judge(channel, result, files, select)
        return replace(
            report, exec=result, timed_out=result.timed_out, oom_killed=result.oom_killed
        )


RUST = RustToolchain()


@functools.cache
def _program(name: str) -> str:
    return (Path(__file__).parents[1] / name).read_text(encoding="utf-8")


def _test_files(tests: Mapping[str, str]) -> list[TestFile]:
    files = []
    for path, text in sorted(tests.items()):
        kind = file_kind(path, text)
        if kind is not None:
            prefix = "" if kind == "integration" else module_prefix(path)
            files.append(TestFile(path, kind, text, inventory(text), prefix))
    return files


def _entry(f: TestFile) -> dict[str, object]:
    """A test file as the judge is told of it: its hash, and its mutant (an inline
    file's: each test item with its mutant)."""
    entry: dict[str, object] = {"path": f.path, "kind": f.kind}
    if f.kind != "inline":
        entry["sha"] = hashlib.sha256(f.text.encode()).hexdigest()
    flips = any(t.flips for t in f.tests.values())
    if f.kind == "inline" and flips:
        entry["mutant"] = [[item, mutant(item)] for item in inline_tests(f.text).values()]
    elif flips:
        entry["mutant"] = mutant(f.text)
    return entry


def _selection(args: Sequence[str], files: list[TestFile]) -> tuple[list[str], object]:
    """cargo's own arguments (`-p`, `--workspace`), and which binaries the command
    chose: None for all, else the unit binaries (`lib`) and the integration files."""
    cargo: list[str] = []
    lib, named, narrowed = False, [], False
    words = list(args)
    while words:
        word = words.pop(0)
        if word in ("-p", "--package"):
            cargo += [word, words.pop(0)]
        elif word == "--workspace":
            cargo.append(word)
        elif word == "--lib":
            lib = narrowed = True
        elif word == "--test":
            named.append(words.pop(0))
            narrowed = True
        elif word == "--tests":
            return cargo, None
    if not narrowed:
        return cargo, None
    chosen = [
        f.path for f in files if f.kind == "integration" and PurePosixPath(f.path).stem in named
    ]
    return cargo, {"lib": lib, "tests": chosen}


# -- the verdict, on the host ------------------------------------------------------------


@dataclass(frozen=True)
class TestFile:
    """A pristine test file, as the verdict knows it."""

    __test__ = False

    path: str
    kind: FileKind
    text: str
    tests: Mapping[str, RustTest]
    """Its tests by name within the file (`rust_inventory.inventory`)."""
    prefix: str = ""
    """The module path libtest puts before its tests' names (unit and inline files)."""

    def libtest_name(self, name: str) -> str:
        return f"{self.prefix}::{name}" if self.prefix else name

    @property
    def crate_root(self) -> str:
        """The unit binary its tests are in: the package's `src/lib.rs`, or the bin's."""
        parts = PurePosixPath(self.path).parts
        at = len(parts) - 1 - parts[::-1].index("src")
        package = "/".join(parts[:at])
        inside = parts[at + 1 :]
        if inside[:1] == ("bin",) and len(inside) > 1:
            name = inside[1]
            return _join(package, "src/bin", name if name.endswith(".rs") else f"{name}/main.rs")
        if inside == ("main.rs",):
            return _join(package, "src/main.rs")
        return _join(package, "src/lib.rs")


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


NOT_RUN = "this test did not run: something skipped, renamed or hid it"
_MESSAGE_MAX = 2000
_TRACE_MAX = 4000
_PANIC = re.compile(r"thread '[^'\n]*' panicked at ([^\n]+?:\d+:\d+):\n(.*)", re.DOTALL)
_LOG_TIME = re.compile(r" <[^<>\n]*>$")
_OUTCOMES: dict[str, Outcome] = {"ok": "passed", "failed": "failed", "ignored": "skipped"}


@dataclass
class _Binary:
    """One test binary's run, as the judge sent it, read."""

    path: str
    role: str
    kind: str
    root: str
    rc: int
    names: list[str] = field(default_factory=list)
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    """libtest name -> (event, captured output)."""
    summary: bool = False
    problem: str = ""
    tampered: str = ""


def judge(
    channel: bytes | None,
    result: ExecResult,
    files: Sequence[TestFile],
    select: object = None,
) -> TestReport:
    """The report of a run from the judge's document; tampered where it cannot be true.
    Every test the pristine `files` define in the binaries the command chose
    (`select`) must have its one result: one that has none is an error, never a pass."""
    if result.timed_out or result.exit_code != 0:
        how = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        return TestReport(duration=result.duration, note=f"the judge {how} before its verdict")
    try:
        doc = json.loads((channel or b"").strip())
        if not isinstance(doc, dict) or doc.get("judge") != 1:
            raise ValueError("not the judge's document")
        lost = str(doc.get("lost") or "")
        build = doc.get("build")
        binaries = [_read(entry) for entry in doc.get("binaries") or ()]
        inline = {str(k): str(v) for k, v in (doc.get("inline") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return TestReport(
            duration=result.duration,
            tampered="the report channel held something other than the judge's one document",
        )
    if lost:
        return TestReport(duration=result.duration, note=lost)
    chosen = [f for f in files if _chosen(f, select)]
    tampered = _inline_changed(files, inline)
    if isinstance(build, dict):
        report = TestReport(
            collection_errors=_build_errors(build, chosen), duration=result.duration
        )
        return replace(report, tampered=tampered) if tampered else report
    cases, errors, why = _cases(binaries, chosen)
    report = TestReport(tests=cases, collection_errors=errors, duration=result.duration)
    tampered = tampered or why or _checks(binaries, files)
    return replace(report, tampered=tampered) if tampered else report


def _chosen(f: TestFile, select: object) -> bool:
    if not isinstance(select, dict):
        return True
    if f.kind == "integration":
        return f.path in select.get("tests", [])
    return bool(select.get("lib"))


def _read(entry: Mapping[str, Any]) -> _Binary:
    b = _Binary(
        path=str(entry.get("path") or ""),
        role=str(entry["role"]),
        kind=str(entry["kind"]),
        root=str(entry.get("root") or ""),
        rc=int(entry["rc"]),
        names=[str(n) for n in entry.get("names") or ()],
    )
    if entry.get("changed"):
        b.tampered = "a test binary was rewritten after it was built: the code under test did"
        return b
    if entry.get("over"):
        b.problem = "its output held more than any report"
        return b
    if "stdout" not in entry:
        b.problem = f"it could not be started ({entry.get('why', '')})"
        return b
    stdout = base64.b64decode(entry["stdout"], validate=True).decode("utf-8", "replace")
    log = base64.b64decode(entry.get("log") or "", validate=True).decode("utf-8", "replace")
    _events(b, stdout)
    if not b.tampered:
        _agree(b, log)
    return b


def _events(b: _Binary, stdout: str) -> None:
    """libtest's JSON events: each test's one result, and the summary last."""
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue  # what the code under test printed: console output
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("type") not in ("test", "suite"):
            continue
        kind = event.get("event")
        if event["type"] == "suite" and kind in ("ok", "failed"):
            if b.summary:
                b.tampered = "a test binary reported two summaries"
            b.summary = True
            continue
        if event["type"] != "test" or kind not in ("ok", "failed", "ignored", "timeout"):
            continue
        name = str(event.get("name", ""))
        if b.summary:
            b.tampered = f"a result for {name!r} came after the binary's summary"
        elif name in b.results:
            b.tampered = f"the test {name!r} has two results"
        else:
            kind = "failed" if kind == "timeout" else kind
            b.results[name] = (str(kind), str(event.get("stdout") or event.get("message") or ""))


def _agree(b: _Binary, log: str) -> None:
    """The log libtest wrote on a pipe of its own says what the JSON says, once each."""
    seen: Counter[str] = Counter()
    for line in log.splitlines():
        line = _LOG_TIME.sub("", line)
        status = line.split(" ", 1)[0].rstrip(":")
        name = max((n for n in b.results if line.endswith(" " + n)), key=len, default="")
        if not name or b.results[name][0] != status:
            b.tampered = "a test binary's log and its JSON report disagree"
            return
        seen[name] += 1
    if set(seen) != set(b.results) or any(n > 1 for n in seen.values()):
        b.tampered = "a test binary's log and its JSON report disagree"
    elif b.summary:
        failed = any(kind == "failed" for kind, _ in b.results.values())
        if failed != (b.rc != 0):
            b.tampered = f"a test binary exited {b.rc} and its report says otherwise"


def _cases(
    binaries: list[_Binary], chosen: list[TestFile]
) -> tuple[tuple[TestCase, ...], tuple[TestCase, ...], str]:
    """Each chosen file's tests with their results; the errors of binaries that did not
    report; why the results cannot be true, or ""."""
    cases: list[TestCase] = []
    errors: list[TestCase] = []
    for b in binaries:
        if b.role != "test":
            continue
        owners = [f for f in chosen if _owns(b, f)]
        names = {f.libtest_name(n): (f, n) for f in owners for n in f.tests}
        for name in b.results:
            if name not in names:
                return (), (), f"a result for a test that does not exist: {name!r}"
        if b.problem or not b.summary:
            why = b.problem or f"it exited {b.rc} before it reported all its tests"
            errors.extend(TestCase(id=f.path, outcome="error", message=f"{f.path}: {why}")
                          for f in owners)  # fmt: skip
        for name, (f, short) in sorted(names.items()):
            case = _case(f, short, b.results.get(name))
            if case.outcome == "skipped" and not f.tests[short].ignored:
                return (), (), f"{f.path}: {short} was reported ignored and is no #[ignore]"
            if f.tests[short].ignored and case.outcome not in ("skipped", "error"):
                return (), (), f"{f.path}: {short} is #[ignore] and was reported run"
            cases.append(case)
    ran = {c.id for c in cases}
    for f in chosen:
        for short in sorted(f.tests):
            if f"{f.path}::{short}" not in ran:
                cases.append(TestCase(id=f"{f.path}::{short}", outcome="error", message=NOT_RUN))
    return tuple(cases), tuple(errors), ""


def _owns(b: _Binary, f: TestFile) -> bool:
    if b.kind == "integration":
        return f.kind == "integration" and f.path == b.path
    return f.kind != "integration" and f.crate_root == b.root


def _case(f: TestFile, short: str, result: tuple[str, str] | None) -> TestCase:
    test_id = f"{f.path}::{short}"
    if result is None:
        return TestCase(id=test_id, outcome="error", message=NOT_RUN)
    kind, text = result
    outcome = _OUTCOMES.get(kind, "error")
    if outcome != "failed":
        return TestCase(id=test_id, outcome=outcome, message=text if outcome == "skipped" else "")
    panic = _PANIC.search(text)
    message = text.strip()
    trace = text.strip()
    if panic:
        where, said = panic.groups()
        message = said.split("\nnote: run with", 1)[0].strip()
        trace = f"{where}\n{trace}"
    return TestCase(id=test_id, outcome="failed", message=message[:_MESSAGE_MAX],
                    traceback=trace[:_TRACE_MAX])  # fmt: skip


def _checks(binaries: list[_Binary], files: Sequence[TestFile]) -> str:
    """Why the binaries' reports cannot all be true, or ""."""
    for b in binaries:
        if b.tampered:
            return f"{b.path or b.root}: {b.tampered}"
    for b in binaries:
        if b.role == "canary" and (
            len(b.names) != 2 or b.results.get(b.names[1], ("",))[0] != "failed"
        ):
            return "a canary test that must fail did not fail: the report cannot be true"
    passing = [b for b in binaries if b.role == "test" and _all_passed(b)]
    for real in passing:
        owners = [f for f in files if _owns(real, f)]
        flips = {f.libtest_name(n) for f in owners for n, t in f.tests.items() if t.flips}
        if not flips:
            continue
        for m in binaries:
            if m.role != "mutant" or not _same_tests(m, real):
                continue
            if not any(m.results.get(n, ("",))[0] == "failed" for n in flips):
                return (
                    f"a copy of {real.path or real.root}'s tests with their assertions "
                    "turned around passed too: the report cannot be the tests' real outcome"
                )
    return ""


def _same_tests(mutant: _Binary, real: _Binary) -> bool:
    """Whether `mutant` is the copy of `real`'s tests: the same file, or the same crate."""
    if mutant.kind != real.kind:
        return False
    return mutant.path == real.path if real.kind == "integration" else mutant.root == real.root


def _all_passed(b: _Binary) -> bool:
    ran = [kind for kind, _ in b.results.values() if kind != "ignored"]
    return bool(ran) and b.summary and not b.problem and all(k == "ok" for k in ran)


def _inline_changed(files: Sequence[TestFile], inline: Mapping[str, str]) -> str:
    """A source file's inline tests on disk that are not the pristine ones."""
    for f in files:
        if f.kind == "inline" and inline_tests(inline.get(f.path, "")) != inline_tests(f.text):
            return f"{f.path}: its #[cfg(test)] items are not the pristine ones"
    return ""


def _build_errors(build: Mapping[str, Any], chosen: list[TestFile]) -> tuple[TestCase, ...]:
    said = "\n".join(str(e) for e in build.get("errors") or ())[:_TRACE_MAX]
    message = f"the tests did not build (cargo exited {build.get('rc')}):\n{said}"
    paths = [f.path for f in chosen] or ["Cargo.toml"]
    return tuple(TestCase(id=p, outcome="error", message=message) for p in paths)
