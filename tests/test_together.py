"""Several candidates tested in one exec, each in its own folder: real pytest, real sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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

    docker_sandbox.run = counted
    _check(run_projects_together(docker_sandbox, [GREEN, HALF, BROKEN], (), 60))
    assert len(runs) == 2  # emptying the workspace, then one exec for all three


def test_a_hanging_candidate_in_docker_does_not_take_the_others_down(
    docker_sandbox: Any,
) -> None:
    hangs, green = run_projects_together(docker_sandbox, [HANGS, GREEN], (), 10)
    assert hangs.timed_out and not hangs.green
    assert green.green
