"""agent.run.events and agent.run.codec: every event written and read back as it was; a
strict read names the line that does not fit, a lenient one keeps it; old files read."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import get_args

import pytest

from agent.run.candidates import (
    CandidateChange,
    CandidateResult,
    Candidates,
    Confirm,
    ConfirmAlone,
    TestRun,
    candidate_change,
)
from agent.run.codec import EVENTS, FORMAT, Unknown, read_events, read_trajectory
from agent.run.events import (
    Apply,
    BaselineRun,
    Commit,
    DefinitionsRestored,
    Event,
    EventName,
    Files,
    ImportsRestored,
    InvalidPlan,
    Localized,
    Malformed,
    MisnamedBlock,
    ModelCall,
    ModeSwitch,
    NotCommitted,
    PlanChosen,
    PlanSkipped,
    Refused,
    Rejected,
    Repeat,
    Restart,
    Result,
    Resumed,
    SelfImportDropped,
    Syntax,
    SyntaxTrimmed,
    Tampered,
)
from agent.run.record import RunDir
from sandbox.base import TestCase, TestReport

OLD_RUN = Path(__file__).parent / "fixtures" / "run_before_layers"
REPORT = TestReport(
    tests=(TestCase("t.py::test_a", "passed"), TestCase("t.py::test_b", "failed", "1 != 2", "tb")),
    note="1 failed",
    duration=0.51234,
)
RUN = TestRun.of(REPORT, green=False, iteration=3)
SAMPLES: list[Event] = [
    ModelCall(purpose="file:a.py", prompt_tokens=10, completion_tokens=5, latency=0.25,
              finish_reason="stop", cost=None, reply="```python\nx = 1\n```"),
    PlanChosen(source="model", plan={"files": [{"path": "a.py", "purpose": "all"}]}),
    InvalidPlan(attempt=1, error="no files"),
    PlanSkipped(reason="the tests name a.py only"),
    Files(paths=("a.py",), tests=("tests/test_a.py",)),
    Rejected(path="../x.py", reason="outside the project"),
    Refused(files={"conftest.py": "a runner file"}, iteration=2),
    Syntax(path="a.py", problems=("1:4 invalid syntax",)),
    SyntaxTrimmed(path="a.py", kept_lines=12),
    MisnamedBlock(path="a.py"),
    SelfImportDropped(path="a.py", lines=("from a import f",)),
    ImportsRestored(path="a.py", lines=("import re",)),
    DefinitionsRestored(path="a.py", names=("helper",)),
    BaselineRun(passed=7, failed=1, errors=0, targets=("t.py::test_b",), flaky=(), note=""),
    Localized(failing=1, tests=("t.py::test_b",), shown=({"name": "f", "score": 0.5},),
              whole=("a.py",), edited={"a.py": [3, 4]}, coverage={"ran": False, "note": "x"},
              tokens={"context": 100, "map": 20, "budget": 4000}, seconds=1.5),
    RUN,
    candidate_change({"a.py": "x = 1\n"}, {"a.py": "x = 2\n", "b.py": "y"}, iteration=3),
    Candidates(iteration=4, results=(CandidateResult.of(RUN, 7), CandidateResult.of(RUN, None))),
    ConfirmAlone(seed=7, green=True),
    Apply(applied=1, failed=({"path": "t.py", "reason": "a test file"},), changed=("a.py",)),
    Malformed(path="a.py", reply="no code"),
    ModeSwitch(mode="restart", improved=False, iteration=3),
    Restart(iteration=3, temperature=0.8, seeds=(1, 2, 3)),
    Repeat(repeats=2, iteration=3),
    Tampered(iteration=3, why="a canary passed"),
    Confirm.of(RUN),
    Commit(branch="greenloop/r1", sha="abc123", files=("a.py",)),
    NotCommitted(files={"big.bin": "too large"}),
    Result(status="red", exit_reason="iterations"),
    Resumed(earlier="trajectory.killed-1.jsonl", recorded_calls=3),
]  # fmt: skip
MORE_SHAPES: list[Event] = [
    Apply(applied=0, failed=(), malformed=True),
    Apply(applied=0, failed=(), changed=()),
    NotCommitted(error="HEAD moved"),
    Commit(branch="greenloop/r1", sha=None, files=()),
]


def _written(tmp_path: Path, events: list[Event]) -> Path:
    with RunDir(tmp_path, "r1") as run:
        for event in events:
            run.append(event)
    return run.trajectory_path


def test_every_kind_of_event_has_one_class_and_a_sample_here() -> None:
    assert set(EVENTS) == set(get_args(EventName))
    assert {type(e) for e in SAMPLES} == set(EVENTS.values())
    for kind in EVENTS.values():  # the line's own keys are no event's fields
        assert not {"ts", "event"} & {f.name for f in dataclasses.fields(kind)}, kind


@pytest.mark.parametrize("event", [*SAMPLES, *MORE_SHAPES], ids=lambda e: type(e).__name__)
def test_an_event_written_then_read_strictly_is_the_same(tmp_path: Path, event: Event) -> None:
    [entry] = read_events(_written(tmp_path, [event]), strict=True)
    assert entry.event == event and entry.ts.endswith("+00:00")


def test_a_line_holds_the_fields_in_order_and_a_test_run_its_verdict(tmp_path: Path) -> None:
    path = _written(tmp_path, [RUN, Apply(applied=0, failed=(), malformed=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == json.dumps({"event": "format", "version": FORMAT})
    test, apply = (json.loads(line) for line in lines[1:])
    assert list(test)[2:] == ["iteration", "green", "passed", "failed", "errors", "timed_out",
                              "failing", "failures", "note", "tampered", "duration"]  # fmt: skip
    assert test["failures"] == [
        {"id": "t.py::test_b", "outcome": "failed", "message": "1 != 2", "traceback": "tb"}
    ]
    assert (test["green"], test["duration"]) == (False, 0.512)
    assert list(apply)[1:] == ["event", "applied", "failed", "malformed"]


def _line(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "trajectory.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


GOOD = '{"ts": "t", "event": "result", "status": "red", "exit_reason": "wall"}'
FORMAT_LINE = json.dumps({"event": "format", "version": FORMAT})


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"ts": "t", "event": "tset", "iteration": 1}', "no kind of event is called 'tset'"),
        ('{"ts": "t", "event": "result", "status": "red"}', "exit_reason: field required"),
        ('{"ts": "t", "event": "repeat", "repeats": "many", "iteration": 1}', "repeats: "),
        ('{"ts": "t", "event": "result", "status": "red", "exit_reason": "x", "extra": 1}',
         "extra: unexpected"),
        ('{"event": "result", "status": "red", "exit_reason": "x"}', "no time"),
    ],
    ids=["unknown-kind", "missing-field", "mistyped-field", "unknown-field", "no-time"],
)  # fmt: skip
def test_a_strict_read_names_the_line_that_does_not_fit(
    tmp_path: Path, line: str, why: str
) -> None:
    path = _line(tmp_path, FORMAT_LINE, GOOD, line, GOOD)
    with pytest.raises(ValueError, match=r"trajectory\.jsonl:3: ") as raised:
        read_events(path, strict=True)
    assert why in str(raised.value).lower()
    lenient = read_events(path, strict=False)
    assert [e.kind for e in lenient][::2] == ["result", "result"]
    kept = {k: v for k, v in lenient[1].as_dict().items() if k != "ts"}
    assert kept == {k: v for k, v in json.loads(line).items() if k != "ts"}
    assert isinstance(lenient[1].event, Unknown) == (why != "no time")


def test_a_newer_format_is_refused_strictly_and_read_leniently(tmp_path: Path) -> None:
    path = _line(tmp_path, json.dumps({"event": "format", "version": FORMAT + 1}), GOOD)
    with pytest.raises(ValueError, match=r"trajectory\.jsonl:1: format 3"):
        read_events(path, strict=True)
    assert [e.kind for e in read_events(path, strict=False)] == ["result"]


def test_a_format_1_file_reads_leniently_with_its_older_shapes_kept(tmp_path: Path) -> None:
    """A trajectory written before events had classes (no format line): its events read,
    typed where they fit; its confirmation (no failures, no duration yet) kept as it is."""
    shutil.copy(OLD_RUN / "trajectory.jsonl", tmp_path / "trajectory.jsonl")
    entries = read_events(tmp_path / "trajectory.jsonl", strict=False)
    kinds = [e.kind for e in entries]
    assert kinds[:2] == ["plan_skipped", "plan"] and kinds[-1] == "result"
    assert isinstance(entries[0].event, PlanSkipped) and isinstance(entries[-1].event, Result)
    assert entries[-1].event.status == "green"
    confirm = entries[kinds.index("confirm")].event
    assert isinstance(confirm, Unknown) and confirm.data["green"] is True
    models = [e.event for e in entries if isinstance(e.event, ModelCall)]
    assert len(models) == 3 and all(m.finish_reason for m in models)
    assert [e["event"] for e in read_trajectory(tmp_path / "trajectory.jsonl")] == kinds
    with pytest.raises(ValueError, match=r"trajectory\.jsonl:\d+: a 'test' event"):
        read_events(tmp_path / "trajectory.jsonl", strict=True)  # no `green` then


def test_a_candidate_change_keeps_its_diff_and_paths() -> None:
    change = candidate_change({"a.py": "x\n", "gone.py": "y\n"}, {"a.py": "z"}, iteration=1)
    assert isinstance(change, CandidateChange)
    assert (change.added, change.changed, change.removed) == ((), ("a.py",), ("gone.py",))
    assert "-x\n+z\n\\ No newline at end of file\n" in change.diff
