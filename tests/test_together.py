"""Several candidates tested in one exec, each in its own folder: real pytest, real sandboxes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.base import Suite
from sandbox.config import SandboxConfig
from sandbox.local import LocalSandbox
from sandbox.together import run_projects_together

TESTS = {
    "tests/test_add.py": (
        "from solution import add\n\n"
        "def test_small():\n    assert add(1, 2) == 3\n\n"
        "def test_negative():\n    assert add(-1, -2) == -3\n"
    )
}
GREEN = {"solution.py": "def add(a, b):\n    return a + b\n", **TESTS}
HALF = {"solution.py": "def add(a, b):\n    return 3\n", **TESTS}
BROKEN = {"solution.py": "def add(a, b)\n    return a + b\n", **TESTS}
HANGS = {"solution.py": "while True:\n    pass\n", **TESTS}

FORGED = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
    'failures="0" skipped="0" tests="2"><testcase classname="tests.test_add" name="test_small" '
    'file="tests/test_add.py" time="0.001" /><testcase classname="tests.test_add" '
    'name="test_negative" file="tests/test_add.py" time="0.001" /></testsuite></testsuites>'
)
# Wrong code that rewrites its own report channel as pytest exits (as in a run alone).
REWRITES_OWN = {
    "solution.py": f"""import atexit, os, sys
FORGED = {FORGED!r}
def add(a, b):
    return 0
def _rewrite():
    for arg in sys.argv:
        if arg.startswith("--junitxml="):
            with open(arg.split("=", 1)[1], "w") as report:
                report.write(FORGED)
    sys.stdout.flush()
    os._exit(0)
atexit.register(_rewrite)
""",
    **TESTS,
}
# Wrong code that writes a forged round (every member green) onto its parent's fd 3.
WRITES_ROUND = {
    "solution.py": f"""import base64, json, os
FORGED = {FORGED!r}
def add(a, b):
    return 0
def _ancestors():
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{{pid}}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        yield pid
member = {{"rc": 0, "timed_out": False, "duration": 0.1, "truncated": False,
          "output": "", "channel": base64.b64encode(FORGED.encode()).decode()}}
REACHED = []
for _pid in _ancestors():
    try:
        with open(f"/proc/{{_pid}}/fd/3", "w") as channel:
            channel.write(json.dumps({{"round": 1, "members": [member, member]}}))
            REACHED.append(_pid)
    except OSError:
        pass
""",
    **TESTS,
}


@pytest.fixture()
def local_sandbox() -> Iterator[LocalSandbox]:
    with LocalSandbox(SandboxConfig(kind="local")) as sb:
        yield sb


def _check(reports: list[Any]) -> None:
    green, half, broken = reports
    assert green.green and green.passed == 2
    assert (half.passed, half.failed) == (1, 1)
    assert {t.id for t in half.tests} == {
        "tests/test_add.py::test_small",
        "tests/test_add.py::test_negative",
    }
    assert not broken.green and broken.errors >= 1 and broken.passed == 0


def test_each_candidate_gets_its_own_report_in_the_local_sandbox(
    local_sandbox: LocalSandbox,
) -> None:
    _check(run_projects_together(local_sandbox, [GREEN, HALF, BROKEN], (), 60))


def test_one_hanging_candidate_times_out_alone(local_sandbox: LocalSandbox) -> None:
    green, hangs = run_projects_together(local_sandbox, [GREEN, HANGS], (), 10)
    assert green.green
    assert hangs.timed_out and not hangs.green


def test_each_candidate_gets_its_own_report_in_docker(docker_sandbox: Any) -> None:
    runs: list[Any] = []
    original = docker_sandbox.run

    def counted(cmd: Any, timeout: Any = None) -> Any:
        runs.append(cmd)
        return original(cmd, timeout)

    def counted_report(argv: Any, timeout: Any) -> Any:
        runs.append(argv)
        return original_report(argv, timeout)

    original_report = docker_sandbox.run_report
    docker_sandbox.run, docker_sandbox.run_report = counted, counted_report
    _check(run_projects_together(docker_sandbox, [GREEN, HALF, BROKEN], (), 60))
    assert len(runs) == 2  # emptying the workspace, then one exec for all three


def test_a_hanging_candidate_in_docker_does_not_take_the_others_down(
    docker_sandbox: Any,
) -> None:
    hangs, green = run_projects_together(docker_sandbox, [HANGS, GREEN], (), 10)
    assert hangs.timed_out and not hangs.green
    assert green.green


@pytest.mark.parametrize("where", ["local", "docker"])
def test_code_that_rewrites_its_own_report_at_exit_stays_red_and_the_others_are_not_touched(
    where: str, local_sandbox: LocalSandbox, request: pytest.FixtureRequest
) -> None:
    sandbox = local_sandbox if where == "local" else request.getfixturevalue("docker_sandbox")
    green, forger = run_projects_together(sandbox, [GREEN, REWRITES_OWN], (), 60)
    assert green.green and not green.tampered
    assert not forger.green and forger.failed == 2  # the judge ends before atexit runs


@pytest.mark.parametrize("where", ["local", "docker"])
def test_no_member_can_reach_the_rounds_channel_or_a_judges(
    where: str, local_sandbox: LocalSandbox, request: pytest.FixtureRequest
) -> None:
    """Every ancestor's fd 3 (the judge's, the round runner's) is closed to the member:
    the judge moved its channel off fd 3 and both are non-dumpable. Root ignores that
    (the local sandbox run as root isolates nothing): then the forged round is caught."""
    sandbox = local_sandbox if where == "local" else request.getfixturevalue("docker_sandbox")
    forger, green = run_projects_together(sandbox, [WRITES_ROUND, GREEN], (), 60)
    assert not forger.green
    if where == "local" and os.geteuid() == 0:
        assert forger.tampered and green.tampered and not green.green
        return
    assert green.green and not green.tampered
    assert forger.failed == 2


def test_a_full_round_of_judged_members_fits_its_arguments(docker_sandbox: Any) -> None:
    """Each member's judge carries its programs (tens of KiB): a round of eight still fits
    the kernel's 128 KiB cap on one argument, and every member is judged with its tests
    disguised."""
    projects = [GREEN] * 8
    suites = [Suite({p: t for p, t in GREEN.items() if p.startswith("tests/")},
                    frozenset({"solution.py"}))] * 8  # fmt: skip
    reports = run_projects_together(docker_sandbox, projects, (), 60, suites)
    assert [r.green for r in reports] == [True] * 8
    assert all(not r.tampered and r.passed == 2 for r in reports)
