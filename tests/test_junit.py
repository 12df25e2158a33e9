"""parse_junit on real pytest reports, and on hostile or broken XML."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.base import TestReport
from sandbox.junit import (
    TB_MAX_BYTES,
    TB_MAX_LINES,
    parse_junit,
    pytest_command,
    trim_traceback,
)

PROJECT = {
    "tests/__init__.py": "",
    "tests/test_main.py": """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.fixture
def bad_teardown():
    yield 1
    raise ValueError("teardown boom")

def helper(x):
    assert x == 2, "x should be two"

def test_pass():
    assert True

def test_fail():
    helper(3)

def test_setup_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass

def test_fail_then_teardown(bad_teardown):
    assert 1 == 5

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0

@pytest.mark.parametrize("n", [1, 2, "a/b::c[x]"])
def test_param(n):
    assert n != 2

class TestC:
    def test_y(self):
        assert "abc" == "abd"
""",
    "tests/sub/__init__.py": "",
    "tests/sub/test_broken.py": "import nonexistent_module_xyz\n\ndef test_never():\n    pass\n",
    "tests/test_syntax.py": "def f(:\n",
}

EXPECTED = {
    "tests/test_main.py::test_pass": "passed",
    "tests/test_main.py::test_fail": "failed",
    "tests/test_main.py::test_setup_error": "error",
    "tests/test_main.py::test_teardown_error": "error",
    "tests/test_main.py::test_fail_then_teardown": "failed",
    "tests/test_main.py::test_skip": "skipped",
    "tests/test_main.py::test_xfail": "skipped",
    "tests/test_main.py::test_param[1]": "passed",
    "tests/test_main.py::test_param[2]": "failed",
    "tests/test_main.py::test_param[a/b::c[x]]": "passed",
    "tests/test_main.py::TestC::test_y": "failed",
}
COLLECTION = {"tests/sub/test_broken.py", "tests/test_syntax.py"}


def _run_pytest(root: Path, family: str) -> bytes:
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    junit = root / f"report-{family}.xml"
    argv = pytest_command(str(junit), ["-o", f"junit_family={family}"])
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, *argv[1:]], cwd=root, env=env, capture_output=True, timeout=60)
    return junit.read_bytes()


@pytest.fixture(scope="module", params=["xunit1", "xunit2"])
def real(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TestReport:
    root = tmp_path_factory.mktemp("proj")
    return parse_junit(_run_pytest(root, request.param), root=str(root))


def test_ids_and_outcomes_are_exact(real: TestReport) -> None:
    assert {t.id: t.outcome for t in real.tests} == EXPECTED
    assert len(real.tests) == len(EXPECTED)  # the call/teardown pair is merged into one
    assert (real.passed, real.failed, real.skipped) == (3, 4, 2)
    assert real.errors == 2 + 2  # setup and teardown errors, plus two collection errors
    assert real.note == ""
    assert not real.green


def test_collection_errors_are_apart(real: TestReport) -> None:
    assert {c.id for c in real.collection_errors} == COLLECTION
    assert all(c.outcome == "error" for c in real.collection_errors)
    assert not COLLECTION & {t.id for t in real.tests}
    by_id = {c.id: c for c in real.collection_errors}
    broken = by_id["tests/sub/test_broken.py"]
    assert broken.message == "ModuleNotFoundError: No module named 'nonexistent_module_xyz'"
    assert "SyntaxError: invalid syntax" in by_id["tests/test_syntax.py"].message
    assert "import nonexistent_module_xyz" in broken.traceback
    assert "_pytest" not in broken.traceback  # plumbing frames dropped


@pytest.mark.parametrize(
    ("test_id", "in_message"),
    [
        ("tests/test_main.py::test_fail", "x should be two"),
        ("tests/test_main.py::test_setup_error", "fixture exploded"),
        ("tests/test_main.py::test_teardown_error", "teardown boom"),
        ("tests/test_main.py::test_fail_then_teardown", "assert 1 == 5"),
        ("tests/test_main.py::test_fail_then_teardown", "teardown boom"),
        ("tests/test_main.py::test_skip", "not today"),
        ("tests/test_main.py::test_xfail", "xfail: known bug"),
        ("tests/test_main.py::test_param[2]", "assert 2 != 2"),
        ("tests/test_main.py::TestC::test_y", "assert 'abc' == 'abd'"),
    ],
)
def test_messages_carry_the_reason(real: TestReport, test_id: str, in_message: str) -> None:
    case = next(t for t in real.tests if t.id == test_id)
    assert in_message in case.message


def test_tracebacks_show_the_failing_line_relative_to_root(real: TestReport) -> None:
    fail = next(t for t in real.tests if t.id == "tests/test_main.py::test_fail")
    assert '>       assert x == 2, "x should be two"' in fail.traceback
    assert "E       AssertionError: x should be two" in fail.traceback
    assert "tests/test_main.py:14: AssertionError" in fail.traceback
    for case in (*real.tests, *real.collection_errors):
        assert "/proj" not in case.traceback + case.message
        assert case.traceback.count("\n") < TB_MAX_LINES
        assert len(case.traceback.encode()) <= TB_MAX_BYTES
    assert all(t.traceback == "" for t in real.tests if t.outcome in ("passed", "skipped"))


def _xml(body: str) -> str:
    return (
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'
    )


@pytest.mark.parametrize(
    ("classname", "name", "file", "expected"),
    [
        (
            "tests.test_x.TestC.TestD",
            "test_y[a.b]",
            None,
            "tests/test_x.py::TestC::TestD::test_y[a.b]",
        ),
        ("test_top", "test_y", None, "test_top.py::test_y"),
        ("tests.v1.2.test_x", "test_y", "tests/v1.2/test_x.py", "tests/v1.2/test_x.py::test_y"),
        # inherited from a base in another file: `file` is the base's, classname is right
        (
            "tests.test_sub.TestSub",
            "test_base",
            "tests/base.py",
            "tests/test_sub.py::TestSub::test_base",
        ),
    ],
)
def test_node_ids_from_classname(
    classname: str, name: str, file: str | None, expected: str
) -> None:
    attr = f' file="{file}"' if file else ""
    report = parse_junit(
        _xml(f'<testcase classname="{classname}" name="{name}"{attr} time="0.1"/>')
    )
    assert [t.id for t in report.tests] == [expected]
    assert report.tests[0].duration == pytest.approx(0.1)


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(entities)}]>'
        '<testsuite><testcase classname="t" name="&lol9;"/></testsuite>'
    )


BILLION_LAUGHS = _billion_laughs()
XXE = (
    '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<testsuite><testcase classname="t" name="a"><failure message="&x;"/></testcase></testsuite>'
)


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        (BILLION_LAUGHS, "DOCTYPE/ENTITY"),
        (XXE, "DOCTYPE/ENTITY"),
        (XXE.encode("utf-16"), "not UTF-8"),
        (b"", "empty"),
        ("   \n", "empty"),
        (b"\x00\xff\xfe garbage \x80", "not UTF-8"),
        ("this is not xml at all", "malformed"),
        (_xml('<testcase classname="t" name="a">')[:-30], "malformed"),
        ("<html><body>hi</body></html>", "lists no tests"),
    ],
)
def test_bad_xml_gives_a_note_not_an_exception(xml: str | bytes, why: str) -> None:
    start = time.monotonic()
    report = parse_junit(xml)
    assert time.monotonic() - start < 1.0
    assert why in report.note
    assert report.tests == () and report.collection_errors == ()
    assert "root:" not in repr(report)


def test_oversize_xml_is_refused_unparsed() -> None:
    body = _xml('<testcase classname="t" name="a"/>' * 1000)
    report = parse_junit(body, max_bytes=1024)
    assert "over the 1024-byte cap" in report.note
    assert report.tests == ()


@pytest.mark.parametrize("time_attr", ["nan", "inf", "-5", "1e999", "soon"])
def test_odd_times_do_not_break_the_report(time_attr: str) -> None:
    report = parse_junit(_xml(f'<testcase classname="t" name="a" time="{time_attr}"/>'))
    assert [(t.id, t.duration) for t in report.tests] == [("t.py::a", 0.0)]


def _long_traceback(frames: int, lines_per_frame: int) -> str:
    sep = "\n" + "_ " * 40 + "\n\n"
    parts = [
        "\n".join([f"    line {j} of frame {i}" for j in range(lines_per_frame)] + [f"m.py:{i}: "])
        for i in range(frames - 1)
    ]
    last = "    def helper(x):\n>       assert x == 2\nE       assert 3 == 2\n\n"
    last += "m.py:99: AssertionError"
    return sep.join([*parts, last])


@pytest.mark.parametrize(
    "text",
    [
        _long_traceback(30, 6),
        _long_traceback(3, 200),
        "    def f():\n>       assert big\n" + "E   " + "x" * 100_000 + "\nm.py:1: AssertionError",
        "    def f():\n>       assert big\n" + "E   diff line\n" * 500 + "m.py:1: AssertionError",
    ],
)
def test_trim_keeps_the_failure_within_the_caps(text: str) -> None:
    out = trim_traceback(text)
    assert out.count("\n") < TB_MAX_LINES + 1
    assert len(out.encode()) <= TB_MAX_BYTES + 64
    assert "assert" in out
    assert ">       assert" in out


def test_trim_drops_earlier_frames_and_says_so() -> None:
    out = trim_traceback(_long_traceback(30, 6))
    assert "earlier frame(s) dropped" in out
    assert out.endswith("m.py:99: AssertionError")
    assert "E       assert 3 == 2" in out


def test_short_traceback_is_kept_whole() -> None:
    text = "def test_a():\n>       assert 1 == 2\nE       assert 1 == 2\n\nt.py:2: AssertionError"
    assert trim_traceback(text) == text


def test_pytest_command_writes_xunit1_and_keeps_going_past_collection_errors() -> None:
    argv = pytest_command("/workspace/.greenloop/j.xml", ["-k", "fast", "tests"])
    assert argv[:3] == ["python3", "-m", "pytest"]
    assert "--junitxml=/workspace/.greenloop/j.xml" in argv
    assert "junit_family=xunit1" in argv
    assert {"-p", "no:cacheprovider", "--continue-on-collection-errors"} <= set(argv)
    assert argv[-3:] == ["-k", "fast", "tests"]
