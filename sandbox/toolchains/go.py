"""Go: each package's test binary compiled with `go test -c`, run under `go tool test2json`,
judged by `sandbox.go_judge`, in `sandbox/toolchains/go.Dockerfile` (Debian trixie's
Go 1.24, python3 for the judge, the standard library compiled into a warm build cache).

Why `go test -c` and not `go test -json`: `go test` runs one package's binary while it
compiles the next, so code under test could reach the build cache or the next binary's
inputs; it folds each binary's exit code into its own summary; and it reads the
binary's stdout itself. The judge compiles every binary first (no code under test has
run yet), runs each from a sealed memfd, holds each exit code, and pipes each binary
through test2json itself, so the events and the exit code are two witnesses.

test2json reads the binary's own stdout: a line the testing package writes is marked
with a \\x16 byte (`-test.v=test2json`), but code under test can print that byte too.
So what makes a green is layered, and a forgery must beat every layer at once (the
judge's document, read on the host):
- the test files on disk are the pristine ones (their hashes), and none is rewritten
  during the run; no test file the judge was not given sits beside them; so are
  go.mod, go.sum and vendor/'s files when the suite holds them (`Suite.tests`: a
  caller that knows the trusted ones puts them there);
- the real tests run under fresh names: a result for a name the judge did not write
  (a test's real name, which the model knows) is a printed runner line: tampered;
- every test has at most one result (pass, fail or skip): two are tampered, and a
  result after the binary's final `PASS`/`FAIL` is tampered;
- each binary's exit code agrees with its events: its canary fails, so an honest
  binary exits 1 with its final event `fail`; exit 0 with events is tampered, exit 0
  or 1 with no test's result is an error (it ended before its tests ran);
- a canary test that must fail fails, and a mutant copy of a test (its assertions
  turned around, `go_inventory.plan`) fails where the test passes, else tampered;
- every test the pristine files name (`go_inventory.inventory`, subtests with literal
  names too) has its result, else an error (never a pass), and none is skipped unless
  the package's tests skip tests themselves.

Report ids are `path::TestName` and `path::TestName/sub` (the file that declares the
top-level test; subtest names as `go test` prints them, spaces as `_`), as `expected`
gives them. A package that does not build, or whose binary ended before its tests,
is one collection error named by its first test file. `go vet` is not run (`go test`
runs part of it; the judge compiles with `go test -c`, which does not).
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
from typing import Any

from sandbox.base import ExecResult, Outcome, Suite, TestCase, TestReport
from sandbox.errors import UsageError
from sandbox.image import ImageSpec
from sandbox.junit import TB_MAX_BYTES, TB_MAX_LINES
from sandbox.testrun import PytestHost, check_command
from sandbox.toolchains import go_inventory

__all__ = ["GO", "GO_IMAGE", "NOT_RUN", "GoToolchain", "is_go_test", "judge", "runs_named"]

GO_IMAGE = ImageSpec(
    repo="greenloop-sandbox-go",
    dockerfile="sandbox/toolchains/go.Dockerfile",
    default_base="golang:1.24-bookworm",
    packages=("golang-go", "python3", "git", "ca-certificates"),
    suite="trixie",
    toolchain="go",
)
NOT_RUN = "this test did not run: something skipped, renamed or hid it"
_MESSAGE_MAX = 2000
_IGNORED = frozenset({"vendor", "testdata"})
_FLAGS = {"-short": "-test.short", "-v": "", "-failfast": ""}
_VALUED = {"-count": "-test.count", "-timeout": "-test.timeout", "-p": ""}
_USAGE = (
    "set test_command in task.toml to 'go test ./...' (or packages as ./pkg, ./pkg/...; "
    "flags -v, -short, -count, -timeout, -failfast, -p)"
)
_FRAMING = re.compile(r"^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP))\b")
_LOCATION = re.compile(r"^(\s*)([\w.+-]+\.go):(\d+)", re.MULTILINE)


def is_go_test(path: str) -> bool:
    """A `*_test.go` file `go test` compiles: never under vendor/ or testdata/, nor in a
    folder whose name starts with `.` or `_` (the go command skips those)."""
    pure = PurePosixPath(path)
    if not pure.name.endswith("_test.go") or pure.name.startswith((".", "_")):
        return False
    return not any(p in _IGNORED or p.startswith((".", "_")) for p in pure.parts[:-1])


def package_dir(path: str) -> str:
    """The folder of a file's package, "." at the root."""
    return PurePosixPath(path).parent.as_posix()


def runs_named(path: str, patterns: Sequence[str]) -> bool:
    """Whether `go test <patterns>` runs the test file `path` (every package when none
    are given: the judge's own default, `./...`)."""
    if not patterns:
        return True
    folder = package_dir(path)
    for pattern in patterns:
        clean = pattern.removeprefix("./").rstrip("/") or "."
        if clean in ("...", "./..."):
            return True
        if clean.endswith("/..."):
            base = clean[:-4]
            if folder == base or folder.startswith(base + "/"):
                return True
        elif folder == clean:
            return True
    return False


@dataclass(frozen=True)
class GoToolchain:
    name: str = "go"
    image: ImageSpec = field(default=GO_IMAGE)
    extensions: tuple[str, ...] = (".go",)
    manifests: tuple[str, ...] = ("go.mod",)
    default_command: str = "go test ./..."
    test_hint: str = "*_test.go files with func TestXxx(t *testing.T)"
    together: bool = False

    def is_test_file(self, path: str) -> bool:
        return is_go_test(path)

    def runs_test(self, path: str, text: str) -> bool:
        return is_go_test(path)

    def protects(self, path: str, text: str) -> bool:
        return is_go_test(path)

    def expected(self, path: str, text: str) -> frozenset[str]:
        """`path::TestName` and `path::TestName/sub` (`go_inventory.inventory`); `{path}`
        when the file names no test and does not parse."""
        names = go_inventory.inventory(text)
        if not names and go_inventory.parser().parse(text.encode()).root_node.has_error:
            return frozenset({path})
        return frozenset(f"{path}::{name}" for name in names)

    def test_args(self, command: str) -> list[str]:
        """`go test [flags] [./pkg | ./pkg/... | ./...]`: the packages (bare `go test` is
        `.`, as the go command has it) and the flags that change no test's outcome nor
        the report, each as `-flag=value`. Others (`-run`, `-json`, `-exec`, `-c`, ...)
        are a UsageError naming the form."""
        try:
            words = check_command(command, "test command")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if words[:2] != ["go", "test"]:
            raise UsageError(f"test command {command!r} is not `go test`: {_USAGE}")
        args: list[str] = []
        rest = iter(words[2:])
        for word in rest:
            flag, eq, value = word.partition("=")
            flag = "-" + flag.lstrip("-") if flag.startswith("-") else flag
            if flag in _FLAGS and not eq:
                args.append(flag)
            elif flag in _VALUED:
                args.append(f"{flag}={value if eq else next(rest, '')}")
            elif not word.startswith("-") and (word == "." or word.startswith("./")):
                if ".." in word.removesuffix("/...").split("/"):
                    raise UsageError(f"test command {command!r} names {word}: {_USAGE}")
                args.append(word)
            else:
                raise UsageError(f"test command {command!r}: {word} is not judged: {_USAGE}")
        if not any(not a.startswith("-") for a in args):
            args.insert(0, ".")
        return args

    def folder_suite(self, files: Mapping[str, bytes]) -> Suite:
        """The `*_test.go` files as tests, go.mod, go.sum and vendor/ pinned beside them
        (the judge checks their hashes), the other `.go` files watched."""
        tests: dict[str, str] = {}
        watch: set[str] = set()
        for path, data in files.items():
            module_file = _is_module_file(path)
            if not module_file and (not path.endswith(".go") or "vendor" in path.split("/")):
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if is_go_test(path) or module_file:
                tests[path] = text
            else:
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
        patterns = [a for a in args if not a.startswith("-")]
        tests = {p: t for p, t in suite.tests.items() if is_go_test(p) and runs_named(p, patterns)}
        pinned = {p: t for p, t in suite.tests.items() if _is_module_file(p)}
        spec = {
            "tests": {
                p: hashlib.sha256(t.encode()).hexdigest() for p, t in {**tests, **pinned}.items()
            },
            "packages": _packages(tests),
            "flags": _test_flags(args),
            "timeout": timeout,
        }
        argv = ["python3", "-S", "-P", "-c", _program("go_judge.py"), _program("judge_io.py")]
        argv.append(json.dumps(spec))
        result, channel = host.run_report(argv, timeout)
        report = judge(channel, result, tests)
        return replace(
            report, exec=result, timed_out=result.timed_out, oom_killed=result.oom_killed
        )


GO = GoToolchain()


@functools.cache
def _program(name: str) -> str:
    return (Path(__file__).parents[1] / name).read_text(encoding="utf-8")


def _is_module_file(path: str) -> bool:
    """go.mod, go.sum and vendor/: held to the suite's text like a test file when the
    suite holds them (the judge checks their hashes before the build)."""
    return path in ("go.mod", "go.sum") or path.startswith("vendor/")


def _packages(tests: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each package's plan for the judge: its files' tests and mutants' edits, and the
    tests it may rename (named once in the package's test files: at their declaration)."""
    folders: dict[str, dict[str, str]] = {}
    for path, text in sorted(tests.items()):
        folders.setdefault(package_dir(path), {})[path] = text
    packages = []
    for folder, files in sorted(folders.items()):
        uses = Counter(n for text in files.values() for n in go_inventory.identifiers(text))
        plans = {p: go_inventory.plan(t) for p, t in files.items()}
        names = {t["name"] for plan in plans.values() for t in plan["tests"]}
        renamable = sorted(n for n in names if uses[n] == 1)
        packages.append({"dir": folder, "files": plans, "renamable": renamable})
    return packages


def _test_flags(args: Sequence[str]) -> list[str]:
    """The test binary's own flags for `test_args`' flags."""
    out = []
    for arg in args:
        flag, _, value = arg.partition("=")
        if _FLAGS.get(flag):
            out.append(_FLAGS[flag])
        elif _VALUED.get(flag) and value:
            out.append(f"{_VALUED[flag]}={value}")
    return out


# -- the verdict, on the host ------------------------------------------------------------


def judge(
    channel: bytes | None, result: ExecResult, pristine: Mapping[str, str] | None = None
) -> TestReport:
    """The report of a run from the judge's document; tampered where it cannot be true.
    Each test the `pristine` files name must have its result: one that has none is an
    error, never a pass."""
    if result.timed_out or result.exit_code != 0:
        how = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        return TestReport(duration=result.duration, note=f"the judge {how} before its verdict")
    try:
        doc = json.loads((channel or b"").strip())
        if not isinstance(doc, dict) or doc.get("judge") != 1:
            raise ValueError("not the judge's document")
        packages = [_Package.of(entry) for entry in doc["packages"]]
        lost = str(doc.get("lost") or "")
        strays = [str(s) for s in doc.get("strays") or ()]
        changed = [str(s) for s in doc.get("changed") or ()]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return TestReport(
            duration=result.duration,
            tampered="the report channel held something other than the judge's one document",
        )
    if lost:
        return TestReport(duration=result.duration, note=lost)
    verdicts = [_Verdict(p, pristine or {}).judged() for p in packages]
    tests = tuple(c for v in verdicts for c in v.cases)
    errors = tuple(c for v in verdicts for c in v.errors)
    tampered = next((v.tampered for v in verdicts if v.tampered), "")
    if changed:
        tampered = (
            f"a test file ({changed[0]}) was rewritten during the run: the code under test "
            "reached into the tests"
        )
    elif strays:
        tampered = f"{strays[0]} is a test file the judge was not given: it runs in its package"
    return TestReport(
        tests=tests, collection_errors=errors, duration=result.duration, tampered=tampered
    )


@dataclass
class _Package:
    """One package's run, as the judge sent it."""

    dir: str
    names: dict[str, tuple[str, str, str]]
    build_rc: int
    build_output: str
    rc: int | None
    events: list[dict[str, Any]] | None
    """None: the stream held something that is not test2json's."""
    over: bool = False
    killed: bool = False

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> _Package:
        names = {str(k): (str(v[0]), str(v[1]), str(v[2])) for k, v in entry["names"].items()}
        build = entry["build"]
        raw = base64.b64decode(entry.get("events") or "", validate=True)
        rc = entry.get("rc")
        return cls(
            str(entry["dir"]), names, int(build["rc"]), str(build.get("output") or ""),
            None if rc is None else int(rc), _events(raw), bool(entry.get("over")),
            bool(entry.get("killed")),
        )  # fmt: skip


def _events(raw: bytes) -> list[dict[str, Any]] | None:
    events = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            return None
        if not isinstance(event, dict) or not isinstance(event.get("Action"), str):
            return None
        events.append(event)
    return events


@dataclass
class _Verdict:
    """One package judged: its real tests' cases, its errors, why it is tampered."""

    package: _Package
    pristine: Mapping[str, str]
    cases: list[TestCase] = field(default_factory=list)
    errors: list[TestCase] = field(default_factory=list)
    tampered: str = ""
    first: str = ""
    """The package's first test file: its errors' id."""
    back: dict[str, str] = field(default_factory=dict)
    """Fresh name -> real name, of the real tests."""
    results: dict[str, str] = field(default_factory=dict)
    """Fresh full name -> its one result (pass, fail, skip)."""
    final: str = ""
    """The binary's final event (pass, fail), "" before it."""

    def judged(self) -> _Verdict:
        p = self.package
        files = {k: v for k, v in self.pristine.items() if package_dir(k) == p.dir}
        self.first = min(files) if files else p.dir
        self.back = {fresh: real for fresh, (role, _, real) in p.names.items() if role == "test"}
        if p.build_rc != 0 or p.rc is None:
            self._error(f"it does not build: {self._build_message()}", self._build_trace())
            return self
        if p.over or p.events is None:
            self.tampered = f"{p.dir}: its test2json stream is not test2json's events"
            return self
        self.tampered = self._read(files) or self._agrees() or self._added()
        self.tampered = self.tampered or self._stray_skip(files)
        self._missing(files)
        return self

    def _error(self, message: str, trace: str = "") -> None:
        self.errors.append(
            TestCase(
                id=self.first, outcome="error", message=message[:_MESSAGE_MAX], traceback=trace
            )
        )

    def _names(self, text: str) -> str:
        """`text` with the run's fresh names of real tests turned back into theirs."""
        if not self.back:
            return text
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, self.back)) + r")\b")
        return pattern.sub(lambda m: self.back[m.group(1)], text)

    def _build_lines(self) -> list[str]:
        """The go command's lines, without those about the judge's added copies (past the
        end of the pristine file)."""
        kept = []
        for line in self._names(self.package.build_output).splitlines():
            found = re.match(r"^(\S+?\.go):(\d+):", line.removeprefix("./"))
            text = self.pristine.get(found.group(1)) if found else None
            if found and text is not None and int(found.group(2)) > text.count("\n") + 1:
                continue
            kept.append(line)
        return kept

    def _build_message(self) -> str:
        lines = [ln for ln in self._build_lines() if ln.strip() and not ln.startswith("#")]
        located = [ln for ln in lines if re.match(r"^\S+\.go:\d+", ln)]
        return (
            (located or lines)[0].strip() if lines else f"go test -c exited {self.package.build_rc}"
        )

    def _build_trace(self) -> str:
        return _capped(self._build_lines())

    def _read(self, files: Mapping[str, str]) -> str:
        """Each event read: results per test (fresh names), outputs, the final event."""
        p = self.package
        declared = {  # what runs beside the tests: a Test name not in p.names is a forgery
            n: path
            for path, text in files.items()
            for n in go_inventory.declared(text)
            if not n.startswith("Test")
        }
        output: dict[str, list[str]] = {}
        elapsed: dict[str, float] = {}
        for event in p.events or ():
            action, name = event["Action"], str(event.get("Test") or "")
            if self.final:
                return f"{p.dir}: its binary wrote after its final {self.final.upper()}"
            if not name:
                self.final = action if action in ("pass", "fail") else ""
                continue
            top = name.partition("/")[0]
            if top not in p.names and top not in declared:
                return (
                    f"{p.dir}: a result for {top}, a test the judge did not write: "
                    "something printed the runner's lines"
                )
            if action == "output":
                output.setdefault(name, []).append(str(event.get("Output") or ""))
            elif action in ("pass", "fail", "skip"):
                if name in self.results:
                    return f"{p.dir}: two results for {self._real_id(name, declared)}"
                self.results[name] = action
                elapsed[name] = _seconds(event.get("Elapsed"))
        for name, action in self.results.items():
            role = p.names.get(name.partition("/")[0], ("other", "", ""))[0]
            if role in ("test", "other"):
                self.cases.append(self._case(name, action, output.get(name, []),
                                             elapsed[name], declared))  # fmt: skip
        return ""

    def _real_id(self, name: str, declared: Mapping[str, str]) -> str:
        top, slash, sub = name.partition("/")
        _, path, real = self.package.names.get(top, ("other", declared.get(top, ""), top))
        return f"{path or self.first}::{real}{slash}{sub}"

    def _case(
        self, name: str, action: str, lines: list[str], seconds: float, declared: Any
    ) -> TestCase:
        outcome: Outcome = {"pass": "passed", "fail": "failed"}.get(action, "skipped")  # type: ignore[assignment]
        said = [self._names(ln.rstrip("\n")) for ln in lines if not _FRAMING.match(ln)]
        said = [ln for ln in said if ln.strip()]
        prefix = "" if self.package.dir == "." else self.package.dir + "/"
        trace = _LOCATION.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}:{m.group(3)}",
                              "\n".join(said))  # fmt: skip
        message = said[0].strip() if said and outcome != "passed" else ""
        return TestCase(
            id=self._real_id(name, declared),
            outcome=outcome,
            message=message[:_MESSAGE_MAX],
            traceback=_capped(trace.splitlines()) if outcome == "failed" else "",
            duration=seconds,
        )

    def _agrees(self) -> str:
        """Why the binary's exit code cannot go with its events ("" when it can)."""
        p = self.package
        failed = "fail" in self.results.values()
        if p.killed:
            self._error("its tests ran out of time")
            return ""
        if not self.results:
            why = f"its test binary exited {p.rc} and reported no test"
            self._error(why + (" (it ended before its tests ran)" if p.rc in (0, 1) else ""))
            return ""
        if p.rc == 0:
            return (
                f"{p.dir}: its test binary exited 0, which a binary holding a test that must "
                "fail never does"
            )
        if p.rc == 1 and self.final == "pass":
            return f"{p.dir}: its test binary exited 1 but its report says PASS"
        if p.rc == 1 and not failed:
            return f"{p.dir}: its test binary exited 1 but its report holds no failed test"
        if p.rc != 1 and not failed:
            self._error(f"its test binary exited {p.rc} before its tests ended")
        return ""

    def _added(self) -> str:
        """Why the canary's or a mutant's result cannot be true ("" when it can)."""
        p = self.package
        passed = {real for fresh, real in self.back.items() if self.results.get(fresh) == "pass"}
        for fresh, (role, path, real) in sorted(p.names.items()):
            outcome = self.results.get(fresh)
            if role == "canary" and outcome in ("pass", "skip"):
                return f"{p.dir}: a test that must fail was reported {outcome}ed"
            if role == "canary" and outcome is None and self.final:
                return f"{p.dir}: a test that must fail is missing from the report"
            if role == "mutant" and real in passed and outcome in ("pass", "skip"):
                return (
                    f"a copy of {path}::{real} with its assertions turned around was reported "
                    f"{outcome}ed too: the report cannot be the test's real outcome"
                )
            if role == "mutant" and real in passed and outcome is None and self.final:
                return f"a copy of {path}::{real} is missing from the report"
        return ""

    def _stray_skip(self, files: Mapping[str, str]) -> str:
        if any(go_inventory.skips(text) for text in files.values()):
            return ""
        skipped = next((c for c in self.cases if c.outcome == "skipped"), None)
        if skipped is not None:
            return f"{skipped.id} was skipped, and its package's tests skip none"
        return ""

    def _missing(self, files: Mapping[str, str]) -> None:
        if self.errors:
            return  # the package's own error stands for its tests
        reported = {c.id: c.outcome for c in self.cases}
        for path, text in sorted(files.items()):
            for name in sorted(go_inventory.inventory(text)):
                test_id = f"{path}::{name}"
                parent = test_id.rpartition("/")[0] if "/" in name else ""
                if test_id in reported or reported.get(parent) == "skipped":
                    continue
                self.cases.append(TestCase(id=test_id, outcome="error", message=NOT_RUN))


def _capped(lines: Sequence[str]) -> str:
    kept: list[str] = []
    size = 0
    for line in lines[:TB_MAX_LINES]:
        size += len(line) + 1
        if size > TB_MAX_BYTES:
            break
        kept.append(line)
    return "\n".join(kept)


def _seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return seconds if 0 <= seconds != float("inf") else 0.0
