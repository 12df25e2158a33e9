"""Record a run through the fake server, then replay it with no server at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply

from agent.errors import ConfigError, ReplayMiss
from agent.model import (
    Cassette,
    Message,
    ModelConfig,
    RecordingModel,
    ReplayModel,
    ScriptedModel,
    check_model,
    make_model,
    request_key,
)

SYSTEM = Message("system", "You write Python.")
CONVERSATIONS = [
    [SYSTEM, Message("user", "Write add(a, b).\nReturn the sum.")],
    [SYSTEM, Message("user", "Write mul(a, b).\nReturn the product.")],
]


def record(tmp_path: Path) -> tuple[Path, list[object]]:
    cassette = tmp_path / "run" / "cassette.jsonl"
    replies = [Reply(text="def add(a, b): return a + b"), Reply(text="def mul(a, b): ...")]
    with FakeOpenAI(replies) as srv:
        config = ModelConfig(model="fake-model", base_url=srv.base_url, record=cassette)
        model = make_model(config)
        assert isinstance(model, RecordingModel)
        completions: list[object] = [
            model.complete(msgs, temperature=0.0, max_tokens=100) for msgs in CONVERSATIONS
        ]
    return cassette, completions


def test_every_call_is_appended_as_it_happens(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    model = RecordingModel(ScriptedModel(["one", "two"]), cassette)
    model.complete(CONVERSATIONS[0])
    assert len(cassette.read_text().splitlines()) == 1  # on disk before the next call
    model.complete(CONVERSATIONS[1], seed=1)
    lines = [json.loads(line) for line in cassette.read_text().splitlines()]
    assert [line["completion"]["text"] for line in lines] == ["one", "two"]
    assert lines[1]["request"]["opts"] == {"seed": 1}


def test_replay_returns_identical_completions_with_no_server(tmp_path: Path) -> None:
    cassette, recorded = record(tmp_path)  # the server is gone after this
    replay = make_model(ModelConfig(replay=cassette))
    assert replay.name == "replay:fake-model"
    replayed = [replay.complete(msgs, temperature=0.0, max_tokens=100) for msgs in CONVERSATIONS]
    assert replayed == recorded


def test_changed_prompt_under_replay_fails_loudly_showing_the_difference(tmp_path: Path) -> None:
    cassette, _ = record(tmp_path)
    replay = ReplayModel(cassette)
    changed = [SYSTEM, Message("user", "Write add(a, b).\nReturn the SUM, typed.")]
    with pytest.raises(ReplayMiss) as info:
        replay.complete(changed, temperature=0.0, max_tokens=100)
    message = str(info.value)
    assert "closest recorded call (#1)" in message and "message 2 (user)" in message
    assert "-user: Write add(a, b)." not in message  # the unchanged line is context
    assert "-Return the sum." in message and "+Return the SUM, typed." in message


def test_changed_options_are_a_miss_naming_them(tmp_path: Path) -> None:
    cassette, _ = record(tmp_path)
    with pytest.raises(ReplayMiss, match="different options"):
        ReplayModel(cassette).complete(CONVERSATIONS[0], temperature=0.8, max_tokens=100)


def test_repeated_request_replays_in_recorded_order_then_misses(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    sampler = RecordingModel(ScriptedModel(["sample 1", "sample 2"]), path)
    for _ in range(2):
        sampler.complete(CONVERSATIONS[0], temperature=0.8)
    replay = ReplayModel(path)
    texts = [replay.complete(CONVERSATIONS[0], temperature=0.8).text for _ in range(2)]
    assert texts == ["sample 1", "sample 2"]
    with pytest.raises(ReplayMiss, match="asked 3 times"):
        replay.complete(CONVERSATIONS[0], temperature=0.8)


def test_key_is_stable_and_ignores_int_float_spelling() -> None:
    key = request_key(CONVERSATIONS[0], {"temperature": 0, "max_tokens": 5})
    assert key == request_key(CONVERSATIONS[0], {"temperature": 0.0, "max_tokens": 5})
    assert key != request_key(CONVERSATIONS[1], {"temperature": 0, "max_tokens": 5})
    assert key != request_key(CONVERSATIONS[0], {"temperature": 0, "max_tokens": 6})


def test_truncated_last_line_is_skipped_but_a_corrupt_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    RecordingModel(ScriptedModel(["a"]), path).complete(CONVERSATIONS[0])
    good = path.read_text()
    path.write_text(good + '{"key": "abc", "requ')
    assert len(ReplayModel(path)) == 1
    path.write_text('{"broken\n' + good)
    with pytest.raises(ConfigError, match="line 1"):
        ReplayModel(path)


def test_missing_cassette_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without --replay"):
        ReplayModel(tmp_path / "nope.jsonl")


def test_doctor_under_replay_counts_the_calls(tmp_path: Path) -> None:
    cassette, _ = record(tmp_path)
    ok, what, _ = check_model(ModelConfig(replay=cassette))
    assert ok and "2 recorded calls" in what and str(cassette) in what


def test_cassette_entries_round_trip(tmp_path: Path) -> None:
    cassette, recorded = record(tmp_path)
    entries = Cassette(cassette).entries()
    assert [e.completion for e in entries] == recorded
    assert entries[0].messages == tuple(CONVERSATIONS[0])
    assert entries[0].opts == {"temperature": 0.0, "max_tokens": 100}


def test_a_schema_is_recorded_and_replays_only_when_asked_again(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    schema = {"title": "Plan", "type": "object", "properties": {"files": {"type": "array"}}}
    RecordingModel(ScriptedModel(['{"files": []}']), path).complete(
        CONVERSATIONS[0], temperature=0.0, stop=["\n```\n"], json_schema=schema
    )
    [entry] = Cassette(path).entries()
    assert entry.opts == {"temperature": 0.0, "stop": ["\n```\n"], "json_schema": schema}
    replay = ReplayModel(path)
    with pytest.raises(ReplayMiss, match="different options"):
        replay.complete(CONVERSATIONS[0], temperature=0.0, stop=["\n```\n"])
    reordered = dict(reversed(list(schema.items())))
    again = replay.complete(
        CONVERSATIONS[0], temperature=0, stop=["\n```\n"], json_schema=reordered
    )
    assert again.text == '{"files": []}'
