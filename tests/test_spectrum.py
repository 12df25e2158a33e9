"""The coverage spectrum in the real Docker sandbox (sandbox.spectrum and its pytest plugin):
per line, how many failing and passing tests ran it; no coverage.py or a hanging test
give a note, never an error."""

from __future__ import annotations

from typing import Any

import pytest

from agent.fix.context import MAX_PASSING, Localizer
from agent.run.events import Event, Localized
from sandbox.spectrum import collect_spectrum

pytestmark = pytest.mark.docker

CODE = {
    "calc.py": (
        "def add(a, b):\n    return a + b\n\n\n"
        "def mean(xs):\n    if not xs:\n        return 0\n    return add(*xs) // len(xs)\n"
    ),
    "tests/test_calc.py": (
        "import pytest\n\nfrom calc import add, mean\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_mean_empty():\n    assert mean([]) == 0\n\n\n"
        "@pytest.mark.parametrize('xs', [[1, 2]])\n"
        "def test_mean(xs):\n    assert mean(xs) == 1.5\n"
    ),
}
FAILING = "tests/test_calc.py::test_mean[xs0]"
PASSING = ["tests/test_calc.py::test_add", "tests/test_calc.py::test_mean_empty"]


def test_lines_only_the_failing_test_runs_score_highest(docker_sandbox: Any) -> None:
    docker_sandbox.write(CODE)
    spectrum = collect_spectrum(docker_sandbox, [FAILING], PASSING, timeout=60)
    assert spectrum.note == "" and spectrum.failed == (FAILING,) and spectrum.passed == 2
    assert spectrum.asked == 3
    assert spectrum.lines["calc.py"][8] == (1, 0)  # the buggy line: failing test only
    assert spectrum.ochiai("calc.py", 8) == 1.0
    assert spectrum.ochiai("calc.py", 2) == pytest.approx(1 / 2**0.5)  # add: also test_add
    assert spectrum.ochiai("calc.py", 6) == pytest.approx(1 / 2**0.5)  # `if not xs`: also empty
    assert 7 not in spectrum.lines["calc.py"]  # run by a passing test only: no failing use
    assert "tests/test_calc.py" in spectrum.lines  # the test's own lines are measured too


def test_an_image_without_coverage_gives_a_note(docker_sandbox: Any) -> None:
    # A `coverage` that cannot be imported, first on the plugin's path: as if not installed.
    shadow = {".greenloop/coverage/__init__.py": "raise ImportError('no coverage here')\n"}
    docker_sandbox.write({**CODE, **shadow})
    spectrum = collect_spectrum(docker_sandbox, [FAILING], PASSING, timeout=60)
    assert spectrum.lines == {} and spectrum.note == (
        "coverage.py is not installed in the sandbox image"
    )


def test_a_test_that_hangs_under_coverage_meets_the_timeout(docker_sandbox: Any) -> None:
    hang = {"tests/test_hang.py": "def test_forever():\n    while True:\n        pass\n"}
    docker_sandbox.write({**CODE, **hang})
    spectrum = collect_spectrum(docker_sandbox, ["tests/test_hang.py::test_forever"], [], 3)
    assert spectrum.lines == {} and spectrum.note == "coverage timed out after 3 s"
    assert 3 <= spectrum.seconds < 30


def test_a_big_suite_runs_the_failing_tests_and_a_bounded_sample_of_the_passing(
    docker_sandbox: Any,
) -> None:
    many = "".join(f"def test_add_{k}():\n    assert add({k}, 0) == {k}\n\n\n" for k in range(300))
    suite = {"tests/test_many.py": f"from calc import add, mean\n\n\n{many}"
             "def test_mean():\n    assert mean([1, 2]) == 1.5\n"}  # fmt: skip
    docker_sandbox.write({**CODE, **suite})
    report = docker_sandbox.run_tests(["tests/test_many.py"], timeout=120)
    assert report.passed == 300 and report.failed == 1
    events: list[Event] = []
    localizer = Localizer(docker_sandbox, original={"calc.py": CODE["calc.py"]}, tests=suite,
                          timeout=60, record=events.append)  # fmt: skip
    context = localizer({"calc.py": CODE["calc.py"]}, report, budget=1500)
    assert "    return add(*xs) // len(xs)" in context.text
    [localized] = events
    assert isinstance(localized, Localized)
    coverage = localized.coverage
    assert (
        coverage["passing_sampled"] == [MAX_PASSING, 300] and coverage["tests"] == MAX_PASSING + 1
    )
    assert coverage["ran"] and coverage["cap_seconds"] == 60 and coverage["seconds"] < 60
    mean = next(s for s in localized.shown if s["name"] == "mean")
    assert mean["signals"]["dynamic"] == 1.0
