"""What a resume stands on, without Docker: the killed run's cassette answered first
(`ResumingModel`), which runs may resume, what changed since, one run per place."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import UsageError
from agent.model import Completion, Message, ResumingModel
from agent.model.cassette import Cassette
from agent.model.scripted import ScriptedModel
from agent.run.record import RunDir
from agent.run.resume import (
    PlaceBusy,
    RunInputs,
    hold_place,
    resumable,
    save_inputs,
    set_aside,
    unfinished_runs,
)


def _ask(text: str) -> list[Message]:
    return [Message.system("fix it"), Message.user(text)]


def _completion(text: str) -> Completion:
    return Completion(text=text, prompt_tokens=5, completion_tokens=2, model="fake", latency=0.1)


def _cassette(path: Path, *calls: tuple[str, str]) -> Path:
    cassette = Cassette(path)
    for asked, answer in calls:
        cassette.append("fake", _ask(asked), {"temperature": 0.0}, _completion(answer))
    return path


def test_the_killed_runs_answers_come_first_then_the_live_model(tmp_path: Path) -> None:
    earlier = _cassette(
        tmp_path / "c.jsonl",
        ("the plan", "plan A"),
        ("failed: <Cart object at 0x7f0c85e09210> in 0.53s", "edit 1"),
        ("the plan", "plan B"),
    )
    live = ScriptedModel(["live 1", "live 2"])
    model = ResumingModel(live, earlier)
    assert model.complete(_ask("the plan"), temperature=0.0).text == "plan A"
    assert model.complete(_ask("the plan"), temperature=0.0).text == "plan B"
    # the same request, but for what no code decides: the address and the duration
    moved = "failed: <Cart object at 0x7f979ebf0a90> in 0.61s"
    assert model.complete(_ask(moved), temperature=0.0).text == "edit 1"
    # each recorded answer once; then the live model
    assert model.complete(_ask("the plan"), temperature=0.0).text == "live 1"
    assert model.complete(_ask("something new"), temperature=0.0).text == "live 2"
    assert (model.recorded, model.replayed, model.live) == (3, 3, 2)
    # another temperature is another request
    again = ResumingModel(ScriptedModel(["live 3"]), earlier)
    assert again.complete(_ask("the plan"), temperature=0.8).text == "live 3"


def _run(root: Path, run_id: str, exit_reason: str | None, command: str = "new") -> Path:
    run = RunDir(root, run_id)
    save_inputs(run, RunInputs(command, str(root), {"spec": "x"}, {"spec": "1"}))  # type: ignore[arg-type]
    if exit_reason is not None:
        run.write_result({"status": "green" if exit_reason == "green" else "error",
                          "exit_reason": exit_reason, "commit": "abc123def4567"})  # fmt: skip
    return run.path


def test_only_a_killed_run_of_the_same_command_resumes(tmp_path: Path) -> None:
    killed = _run(tmp_path, "killed", "interrupted")
    never_wrote = _run(tmp_path, "fresh", None)
    done = _run(tmp_path, "done", "green")
    other = _run(tmp_path, "other", None, command="fix")
    assert resumable(killed, "new")[1].run_id == "killed"
    assert resumable(never_wrote, "new")[0].fingerprints == {"spec": "1"}
    with pytest.raises(UsageError, match=r"is finished: green \(green\), commit abc123def456"):
        resumable(done, "new")
    with pytest.raises(UsageError, match="is a greenloop fix run") as caught:
        resumable(other, "new")
    assert caught.value.fix == f"resume it with greenloop fix --resume {other}"
    with pytest.raises(UsageError, match="is not a run folder"):
        resumable(tmp_path, "new")
    (tmp_path / ".greenloop" / "runs" / "bare").mkdir()
    with pytest.raises(UsageError, match=r"has no inputs\.json"):
        resumable(tmp_path / ".greenloop" / "runs" / "bare", "new")
    assert unfinished_runs(tmp_path, "new") == [never_wrote, killed]


def test_what_changed_is_named() -> None:
    then = RunInputs("fix", "/r", {}, {"HEAD": "a", "the test command": "t"})
    assert then.changed({"HEAD": "a", "the test command": "t"}) == []
    assert then.changed({"HEAD": "b", "the test command": "t"}) == ["HEAD"]
    assert then.changed({"HEAD": "a"}) == ["the test command"]


def test_the_killed_record_is_set_aside_not_lost(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "r1")
    run.ensure()
    run.trajectory_path.write_text("killed 1\n")
    run.cassette_path.write_text("calls 1\n")
    first = set_aside(run)
    assert first.cassette is not None and first.cassette.read_text() == "calls 1\n"
    run.trajectory_path.write_text("killed 2\n")
    second = set_aside(run)
    assert second.trajectory is not None and second.trajectory.name == "trajectory.killed-2.jsonl"
    assert second.cassette is None  # the second run made no call before its kill
    assert first.trajectory is not None and first.trajectory.read_text() == "killed 1\n"


def test_a_second_run_in_the_same_place_is_refused_naming_the_first(tmp_path: Path) -> None:
    busy = pytest.raises(PlaceBusy, match="is being written by greenloop new, run first")
    with hold_place(tmp_path, "greenloop new, run first"), busy:
        hold_place(tmp_path, "greenloop new, run second").__enter__()
    with hold_place(tmp_path, "greenloop new, run third"):
        pass
