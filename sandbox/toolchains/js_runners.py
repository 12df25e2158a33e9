"""vitest, jest and mocha: the runners a JavaScript repository may use besides node's own.

    runner_args(["jest", "--ci", "test/"])        # ["--runner=jest", "test/"]
    split_args(["--runner=jest", "test/"])         # ("jest", ["test/"])
    read_cases("jest", report, "test/a.test.js", "/workspace", text)   # [TestCase, ...]

The repository says which runner its tests use (its test script, or `--test-cmd`); its
config (`jest.config.*`, `vitest.config.*`, `.mocharc*`, package.json's fields) is the
repository's and is trusted, never the model's (`js_runner_files`). The judge
(`sandbox.node_judge`) runs the runner the setup step installed, one test file per
process, with the runner's own structured reporter writing to a pipe only the judge
reads, given as `/dev/fd/N`: a descriptor, not a file in the workspace that the code
under test could find and rewrite (a reporter module of the judge's own would be one:
the tests run as the same user). Per runner:

- vitest: its built-in `junit` reporter (`--outputFile=/dev/fd/N`), written by the
  main process from what its workers sent. Each testcase is named by its full name,
  `describe > name`, as node's runner's ids are.
- jest: `--json --outputFile=/dev/fd/N`, written by the main process: each result's
  `ancestorTitles` and `title` make the id exactly. jest-junit is a package the
  repository may not have; the JSON report is jest's own.
- mocha: its built-in `xunit` reporter (`--reporter-option=output=/dev/fd/N`). mocha
  runs the tests in its own process; a testcase gives its file, its parents' titles
  joined by spaces and its own title, so each is matched to the name the pristine file
  gives it (`js_inventory`). A `.mocharc` `spec` adds its files to every run: their
  cases are left out by file.

The test command keeps its runner and its file arguments; flags that only change how
results are shown, how fast or with what coverage are dropped; a flag that changes
which tests run or how they are reported (`-t`, `--grep`, `--bail`, `--config`,
`--require`, `--shard`, ...) is a usage error naming the form greenloop runs.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from sandbox.base import Outcome, TestCase
from sandbox.errors import UsageError
from sandbox.junit import TB_MAX_BYTES, TB_MAX_LINES, Unusable, safe_parse
from sandbox.toolchains.js_inventory import inventory

__all__ = [
    "RUNNERS",
    "clean_trace",
    "defines_tests",
    "read_cases",
    "runner_args",
    "runner_of_words",
    "seconds",
    "split_args",
]

RUNNERS = ("vitest", "jest", "mocha")
_MESSAGE_MAX = 2000
_SHARED = {"--coverage", "--silent", "--verbose", "--color", "--colors", "--no-color",
           "--no-colors", "--reporter", "--reporters", "--passWithNoTests",
           "--maxWorkers", "--minWorkers"}  # fmt: skip
_DROPPED = {
    "vitest": _SHARED | {"run", "--run", "--pool", "--no-file-parallelism", "--watch=false"},
    "jest": _SHARED | {"--ci", "-i", "--runInBand", "-w", "--detectOpenHandles", "--forceExit",
                       "--logHeapUsage", "--no-cache", "--no-watchman"},
    "mocha": _SHARED | {"-R", "--reporter-option", "--reporter-options", "-O", "--recursive",
                        "--exit", "-c", "-C", "--timeout", "-t", "--slow", "-s", "--parallel",
                        "-p", "--jobs", "-j", "--check-leaks", "--full-trace", "--inline-diffs",
                        "--diff", "--no-diff"},
}  # fmt: skip
"""Flags that change neither which tests run nor their outcome: shown, sped up, covered."""
_VALUED = {"--reporter", "--reporters", "-R", "--reporter-option", "--reporter-options", "-O",
           "--pool", "-w", "--maxWorkers", "--minWorkers", "--timeout", "-t", "--slow", "-s",
           "--jobs", "-j"}  # fmt: skip
"""Dropped flags whose value may come as the next word (jest's `-t` is a name filter,
refused before this is asked)."""
_CONFIGS = {
    "vitest": "vitest.config.* (or vite.config.*)",
    "jest": "jest.config.* or package.json's jest field",
    "mocha": ".mocharc.* or package.json's mocha field",
}
_TESTS = re.compile(
    r"(?<![.\w$])(describe|it|test|suite)\s*(\.\s*(only|skip|todo|each|concurrent)\s*)?\("
)


def runner_of_words(words: Sequence[str]) -> str | None:
    """The runner a command's words run (`jest`, `node_modules/.bin/vitest`,
    `node node_modules/mocha/bin/mocha.js`), if it is one of `RUNNERS`."""
    if not words:
        return None
    head = words[0].rsplit("/", 1)[-1]
    if head in ("node", "nodejs") and len(words) > 1:
        script = words[1]
        return next((r for r in RUNNERS if f"node_modules/{r}/" in script), None)
    return head if head in RUNNERS else None


def runner_args(words: Sequence[str]) -> list[str]:
    """The judge's arguments for a vitest, jest or mocha command: `--runner=<name>` and
    the test files it names; UsageError for a flag that changes what runs."""
    runner = runner_of_words(words)
    if runner is None:
        raise UsageError(f"{shlex.join(words)!r} runs none of {', '.join(RUNNERS)}")
    rest = list(words[2:] if words[0].rsplit("/", 1)[-1] in ("node", "nodejs") else words[1:])
    files: list[str] = []
    skip = False
    for word in rest:
        if skip:
            skip = False
            continue
        flag = word.split("=", 1)[0]
        if flag == "-t" and runner == "jest":
            flag = "--testNamePattern"
        if flag in _DROPPED[runner]:
            skip = flag in _VALUED and "=" not in word
        elif word.startswith("-"):
            raise UsageError(
                f"{runner}'s {flag} changes which tests run or how they report: greenloop "
                f"runs `{runner} [test files]` with the repository's own config "
                f"({_CONFIGS[runner]}); drop {flag} from the test command"
            )
        else:
            files.append(word)
    return [f"--runner={runner}", *files]


def split_args(args: Sequence[str]) -> tuple[str, list[str]]:
    """The runner (`node` for node's own) and the test files, from the judge's arguments."""
    if args and args[0].startswith("--runner="):
        return args[0].removeprefix("--runner="), list(args[1:])
    return "node", list(args)


_ASSERTS = re.compile(
    r"""(?<![.\w$])expect\s*\(|\b(from|require\s*\(|import\s*\()\s*['"`]"""
    r"""(vitest|@jest/globals|mocha|chai|should|(node:)?assert(/strict)?)['"`]"""
)


def defines_tests(text: str) -> bool:
    """Whether a file is another runner's test file: it calls `describe`, `it` or `test`
    and asserts as they do (`expect(`, or it imports vitest, chai or node's assert). A
    file that only calls `test(...)` with nothing to assert is no runner's test of ours."""
    return bool(_TESTS.search(text)) and bool(_ASSERTS.search(text))


# -- their reports, on the host ----------------------------------------------------------


def read_cases(
    runner: str, report: bytes, path: str, root: str, pristine: str | None
) -> list[TestCase]:
    """The test cases of one file's run in `runner`'s report; Unusable when it is not one."""
    if runner == "jest":
        return _jest(report, path, root)
    top = safe_parse(report)
    if runner == "vitest":
        found = top.iter("testcase")
        return [_case(e, path, root, e.get("name", "")) for e in found]
    typescript = path.endswith((".ts", ".mts", ".cts", ".tsx"))
    names = inventory(pristine, typescript=typescript) if pristine else frozenset()
    out = []
    for element in top.iter("testcase"):
        where = element.get("file", "")
        if path and where not in (path, f"{root.rstrip('/')}/{path}"):
            continue  # a file the repository's .mocharc adds to every run
        name = _mocha_name(element.get("classname", ""), element.get("name", ""), names)
        out.append(_case(element, path, root, name))
    return out


def _mocha_name(parents: str, title: str, names: frozenset[str]) -> str:
    """The inventory's name for mocha's (parents' titles joined by spaces, title)."""
    for name in names:
        *trail, last = name.split(" > ")
        if last == title and " ".join(trail) == parents:
            return name
    return f"{parents} > {title}" if parents else title


def _case(element: Any, path: str, root: str, name: str) -> TestCase:
    detail = next((c for c in element if c.tag in ("failure", "error", "skipped")), None)
    outcome: Outcome = "passed"
    message = text = ""
    if detail is not None:
        outcome = "skipped" if detail.tag == "skipped" else "failed"
        text = _relative(detail.text or "", root)
        message = detail.get("message") or text.strip().split("\n", 1)[0]
    return TestCase(
        id=f"{path}::{name}",
        outcome=outcome,
        message=message[:_MESSAGE_MAX],
        traceback=clean_trace(text) if outcome == "failed" else "",
        duration=seconds(element.get("time")),
    )


def _jest(report: bytes, path: str, root: str) -> list[TestCase]:
    try:
        doc = json.loads(report)
        results = doc["testResults"]
        if not isinstance(results, list):
            raise TypeError("testResults is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise Unusable(f"not jest's JSON report ({exc})") from None
    out = []
    for result in results:
        for one in result.get("assertionResults") or ():
            name = " > ".join([*map(str, one.get("ancestorTitles") or ()), str(one["title"])])
            status = str(one.get("status"))
            outcome: Outcome = "skipped"
            if status in ("passed", "failed"):
                outcome = "passed" if status == "passed" else "failed"
            text = _relative("\n".join(map(str, one.get("failureMessages") or ())), root)
            out.append(
                TestCase(
                    id=f"{path}::{name}",
                    outcome=outcome,
                    message=text.strip().split("\n", 1)[0][:_MESSAGE_MAX] if text else "",
                    traceback=clean_trace(text) if outcome == "failed" else "",
                    duration=seconds(str((one.get("duration") or 0) / 1000)),
                )
            )
        if not result.get("assertionResults") and result.get("message"):
            raise Unusable(_relative(str(result["message"]), root)[:_MESSAGE_MAX])
    return out


def _relative(text: str, root: str) -> str:
    if not root:
        return text
    base = root.rstrip("/") + "/"
    return text.replace(f"file://{base}", "").replace(base, "")


_INTERNAL = re.compile(
    r"\(node:|\bat node:|node:internal|at async Promise\.all|runInAsyncScope|node_modules/"
)


def clean_trace(text: str) -> str:
    """A failure's text without node's and the runner's own frames, its head kept within
    the caps."""
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


def seconds(value: str | None) -> float:
    """A report's time in seconds; 0 for anything that is not one."""
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return seconds if seconds >= 0 and seconds != float("inf") else 0.0
