"""Parse pytest's JUnit XML into a `TestReport`, treating the XML as hostile input.

We ask pytest for the **xunit1** family (`-o junit_family=xunit1`, see
`pytest_command`): its testcases carry a `file` attribute, which turns pytest's
dotted `classname` back into an exact node id (`tests/test_x.py::TestC::test_y[p]`).
xunit2 reports parse as well; without `file`, the module/class split falls back
to a heuristic (trailing components that start upper-case are classes).

Outcomes: no child -> passed; `<failure>` -> failed; `<error>` -> error (setup or
teardown); `<skipped>` -> skipped (xfail too, its message prefixed "xfail:").
A testcase whose `<error message="collection failure">` (or empty classname) marks
a file pytest could not import goes to `TestReport.collection_errors`. pytest
writes a test that fails and then errors in teardown as two testcases with one
id; they are merged, the worse outcome winning.

The XML comes from the sandbox, so it is untrusted: it is size-capped, must be
UTF-8, and any DOCTYPE or ENTITY declaration is refused before expat sees it
(no entity expansion, no external entities). Bad XML never raises: it gives an
empty report whose `note` says why.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace

from sandbox.base import Outcome, TestCase, TestReport

__all__ = [
    "JUNIT_FAMILY",
    "MAX_XML_BYTES",
    "TB_MAX_BYTES",
    "TB_MAX_LINES",
    "Unusable",
    "parse_junit",
    "pytest_command",
    "pytest_flags",
    "safe_parse",
    "trim_traceback",
]

JUNIT_FAMILY = "xunit1"
MAX_XML_BYTES = 16 * 1024 * 1024
TB_MAX_LINES = 40
TB_MAX_BYTES = 4096
MESSAGE_MAX_CHARS = 2000

_COLLECTION_FAILURE = "collection failure"
_OUTCOMES: dict[str, Outcome] = {"failure": "failed", "error": "error", "skipped": "skipped"}
_RANK: dict[Outcome, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_LONG_SEPARATOR = re.compile(r"^(_ )+_\s*$")
_SHORT_HEADER = re.compile(r"^\S.*:\d+: in \S")
_NOISE = ("/_pytest/", "/pluggy/", "<frozen importlib", "/importlib/__init__.py")
_CUT = "[... {n} earlier frame(s) dropped by greenloop ...]"


class Unusable(ValueError):
    """The XML cannot be used; the message goes into `TestReport.note`."""


def pytest_command(junit_path: str, args: Sequence[str] = ()) -> list[str]:
    """The argv that runs pytest in a sandbox and writes `junit_path` (xunit1).

    `--continue-on-collection-errors` lets one broken file be reported as a
    collection error while the other files' tests still run.
    """
    return ["python3", "-m", "pytest", *pytest_flags(junit_path, args)]


def pytest_flags(junit_path: str | None, args: Sequence[str] = ()) -> list[str]:
    """pytest's arguments for `pytest_command`: the report options, then `args`
    (no `--junitxml` when `junit_path` is None: the judge adds its own)."""
    return [
        "-q",
        "-p",
        "no:cacheprovider",
        "--color=no",
        *([f"--junitxml={junit_path}"] if junit_path is not None else []),
        "-o",
        f"junit_family={JUNIT_FAMILY}",
        "--continue-on-collection-errors",
        *args,
    ]


def parse_junit(xml: bytes | str, *, root: str = "", max_bytes: int = MAX_XML_BYTES) -> TestReport:
    """Turn pytest's JUnit XML into a TestReport; never raises on bad input.

    `root` is the directory pytest ran in (e.g. `/workspace`): it is stripped
    from paths in messages and tracebacks so they read project-relative.
    """
    try:
        top = safe_parse(xml, max_bytes)
    except Unusable as exc:
        return TestReport(note=f"unusable JUnit XML: {exc}")
    tests: dict[str, TestCase] = {}
    collection: list[TestCase] = []
    for element in top.iter("testcase"):
        case, is_collection = _testcase(element, root)
        if is_collection:
            collection.append(case)
        else:
            tests[case.id] = _merge(tests.get(case.id), case)
    suites = [top] if top.tag == "testsuite" else list(top.iter("testsuite"))
    duration = sum(_seconds(s.get("time")) for s in suites)
    note = "" if tests or collection else "the JUnit report lists no tests"
    return TestReport(
        tests=tuple(tests.values()),
        collection_errors=tuple(collection),
        duration=duration,
        note=note,
    )


def safe_parse(xml: bytes | str, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """The root of untrusted JUnit XML, or `Unusable` saying why not."""
    if len(xml) > max_bytes:
        raise Unusable(f"{len(xml)} bytes is over the {max_bytes}-byte cap")
    if isinstance(xml, bytes):
        try:
            text = xml.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unusable(f"not UTF-8 ({exc.reason})") from None
    else:
        text = xml
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise Unusable("the file is empty")
    # A str is fed to expat as UTF-8 whatever the XML declaration says, so this
    # scan sees exactly what the parser would: no declaration can slip past it.
    if _DECLARATION.search(text):
        raise Unusable("DOCTYPE/ENTITY declarations are refused")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise Unusable(f"malformed XML ({exc})") from None


def _testcase(element: ET.Element, root: str) -> tuple[TestCase, bool]:
    """One `<testcase>` as a TestCase, and whether it is a collection error."""
    classname = element.get("classname", "")
    name = element.get("name", "")
    file = element.get("file")
    detail = next((c for c in element if c.tag in ("failure", "error", "skipped")), None)
    tag = detail.tag if detail is not None else ""
    message_attr = detail.get("message", "") if detail is not None else ""
    is_collection = tag == "error" and (message_attr == _COLLECTION_FAILURE or not classname)
    text = _strip_root(detail.text or "", root) if detail is not None else ""
    outcome = _OUTCOMES.get(tag, "passed")
    case = TestCase(
        id=_module_id(file, name) if is_collection else _node_id(classname, name, file),
        outcome=outcome,
        message=_message(detail, text, root, collection=is_collection),
        traceback=trim_traceback(text) if tag in ("failure", "error") else "",
        duration=_seconds(element.get("time")),
    )
    return case, is_collection


def _node_id(classname: str, name: str, file: str | None) -> str:
    """pytest's node id from the dotted classname (as pytest's mangle_test_address made it)."""
    if file and file.endswith(".py"):
        dotted = file[:-3].replace("/", ".")
        if classname == dotted or classname.startswith(dotted + "."):
            classes = [c for c in classname[len(dotted) :].split(".") if c]
            return "::".join([file, *classes, name])
    parts = classname.split(".") if classname else []
    cut = len(parts)
    while cut > 1 and parts[cut - 1][:1].isupper():
        cut -= 1
    path = "/".join(parts[:cut]) + ".py" if parts else (file or "")
    return "::".join(p for p in (path, *parts[cut:], name) if p)


def _module_id(file: str | None, name: str) -> str:
    if file:
        return file
    return name if name.endswith(".py") else name.replace(".", "/") + ".py"


def _message(detail: ET.Element | None, text: str, root: str, *, collection: bool) -> str:
    """The one-paragraph reason: pytest's message, or the `E` lines when it says nothing."""
    if detail is None:
        return ""
    message = _strip_root(detail.get("message", ""), root)
    if collection or not message.strip():
        errors = _e_lines(text)
        message = "\n".join(errors) if errors else text.strip().partition("\n")[0]
    if detail.tag == "skipped" and detail.get("type") == "pytest.xfail":
        message = f"xfail: {message}"
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[:MESSAGE_MAX_CHARS] + " [...]"
    return message


def _e_lines(text: str) -> list[str]:
    """pytest's `E   ...` lines (the exception and its explanation), prefix removed."""
    return [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]


def _merge(old: TestCase | None, new: TestCase) -> TestCase:
    """Two reports of one test (call failed, then teardown errored): the worse one leads."""
    if old is None:
        return new
    first, second = (old, new) if _RANK[old.outcome] >= _RANK[new.outcome] else (new, old)
    message = "\n".join(m for m in (first.message, second.message) if m)
    traceback = "\n".join(t for t in (first.traceback, second.traceback) if t)
    return replace(
        first,
        message=message[:MESSAGE_MAX_CHARS],
        traceback=trim_traceback(traceback),
        duration=first.duration + second.duration,
    )


def _strip_root(text: str, root: str) -> str:
    root = root.rstrip("/")
    return text.replace(root + "/", "") if root else text


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0


def trim_traceback(
    text: str, *, max_lines: int = TB_MAX_LINES, max_bytes: int = TB_MAX_BYTES
) -> str:
    """Keep the frames nearest the failure, within `max_lines` and `max_bytes`.

    pytest/importlib plumbing frames are always dropped (never the last one);
    then, when still too long, earlier frames go, newest kept; a last frame
    still too big keeps its `>` line, its `E` lines and its location line.
    """
    preamble, frames, joiner = _split_frames(text.strip("\n"))
    frames = [f for f in frames[:-1] if not _is_noise(f)] + frames[-1:]
    whole = "\n".join([*preamble, joiner.join(frames)])
    if _fits(whole, max_lines, max_bytes):
        return whole
    kept: list[str] = []
    for frame in reversed(frames):
        trial = "\n".join([*preamble, _CUT, joiner.join([frame, *kept])])
        if not _fits(trial, max_lines, max_bytes):
            break
        kept.insert(0, frame)
    if not kept:
        kept = [_squeeze(frames[-1], max_lines - len(preamble) - 1)]
    dropped = len(frames) - len(kept)
    cut = [_CUT.format(n=dropped)] if dropped else []
    return _cap("\n".join([*preamble, *cut, joiner.join(kept)]), max_lines, max_bytes)


def _split_frames(text: str) -> tuple[list[str], list[str], str]:
    """(preamble, frames, joiner): split at long-style `_ _ _` lines, else short-style headers.

    The preamble (at most 3 lines) is what precedes a short-style traceback,
    e.g. "ImportError while importing test module ...".
    """
    lines = text.splitlines()
    separators = [line for line in lines if _LONG_SEPARATOR.match(line)]
    if separators:
        frames: list[str] = []
        current: list[str] = []
        for line in lines:
            if _LONG_SEPARATOR.match(line):
                frames.append("\n".join(current).strip("\n"))
                current = []
            else:
                current.append(line)
        frames.append("\n".join(current).strip("\n"))
        return [], [f for f in frames if f], f"\n{separators[0]}\n\n"
    starts = [i for i, line in enumerate(lines) if _SHORT_HEADER.match(line)]
    if not starts:
        return [], [text], "\n"
    bounds = [*starts, len(lines)]
    frames = ["\n".join(lines[a:b]) for a, b in itertools.pairwise(bounds)]
    return lines[: starts[0]][:3], frames, "\n"


def _is_noise(frame: str) -> bool:
    header = frame.partition("\n")[0]
    return any(marker in header for marker in _NOISE)


def _squeeze(frame: str, max_lines: int) -> str:
    """One frame cut to the lines that explain it: before `>`, `>`, `E` lines, location."""
    lines = frame.splitlines()
    arrow = next((i for i, line in enumerate(lines) if line.startswith(">")), None)
    keep: set[int] = {len(lines) - 1}
    if arrow is not None:
        keep.update(range(max(0, arrow - 3), arrow + 1))
    room = max(1, max_lines - len(keep) - 2)
    keep.update([i for i, line in enumerate(lines) if line.startswith("E ")][:room])
    out: list[str] = []
    previous = -1
    for i in sorted(keep):
        if i != previous + 1:
            out.append("[...]")
        out.append(lines[i])
        previous = i
    return "\n".join(out)


def _fits(text: str, max_lines: int, max_bytes: int) -> bool:
    return text.count("\n") < max_lines and len(text.encode()) <= max_bytes


def _cap(text: str, max_lines: int, max_bytes: int) -> str:
    """The last resort: a hard cut at the line and byte caps."""
    if _fits(text, max_lines, max_bytes):
        return text
    mark = "\n[... cut by greenloop ...]"
    lines = text.splitlines()[: max_lines - 1]
    data = "\n".join(lines).encode()[: max_bytes - len(mark)]
    return data.decode("utf-8", "ignore") + mark
