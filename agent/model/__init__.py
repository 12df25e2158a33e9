"""The model layer: how greenloop gets completions.

    config = ModelConfig.resolve(cli={"model": ...}, env=os.environ, file={})
    model = make_model(config)
    completion = model.complete([Message("user", "Write add(a, b).")], temperature=0)

Backends: `OpenAIChat` (any OpenAI-compatible endpoint), `EmbeddedChat`
(llama-cpp-python in-process), `ReplayModel` (a cassette, no model),
`ScriptedModel` (a fake for tests); `RecordingModel` wraps any of them to
write a cassette. Errors are `agent.errors.ModelError` subclasses and
`ConfigError`, each naming the fix.
"""

from __future__ import annotations

import logging

from agent.errors import ConfigError, ModelError, ModelUnavailable
from agent.model.base import ChatModel, Completion, CompletionOpts, Message
from agent.model.cassette import (
    Cassette,
    RecordingModel,
    ReplayModel,
    ResumingModel,
    request_key,
)
from agent.model.config import ModelConfig
from agent.model.embedded import EmbeddedChat, default_gguf
from agent.model.openai_chat import OpenAIChat
from agent.model.prices import Price, PriceTable
from agent.model.scripted import ScriptedModel

__all__ = [
    "Cassette",
    "ChatModel",
    "Completion",
    "CompletionOpts",
    "EmbeddedChat",
    "Message",
    "ModelConfig",
    "OpenAIChat",
    "Price",
    "PriceTable",
    "RecordingModel",
    "ReplayModel",
    "ResumingModel",
    "ScriptedModel",
    "check_model",
    "default_gguf",
    "describe_model",
    "make_model",
    "price_of",
    "request_key",
]

log = logging.getLogger(__name__)

_PROBE = [Message("user", "Reply with the single word: OK")]


def _prices(config: ModelConfig) -> PriceTable:
    table = PriceTable()
    return table if config.prices_file is None else table.extended_from_file(config.prices_file)


def price_of(config: ModelConfig) -> Price | None:
    """The model's price per million tokens (the embedded model is free); None: unknown.
    The one price lookup of the tree: a run's client and a batch's costs both use it."""
    if config.backend() == "embedded":
        return Price(0.0, 0.0)
    return _prices(config).price(config.model or "")


def make_model(config: ModelConfig) -> ChatModel:
    """The model a run uses, by `config.backend()`; wrapped to record when `config.record`.

    Raises ConfigError naming the fix when no model can be used.
    """
    backend = config.backend()
    model: ChatModel
    if backend == "replay":
        assert config.replay is not None
        return ReplayModel(config.replay)
    if backend == "embedded":
        model = EmbeddedChat(config)
    else:
        model = OpenAIChat(config, prices=_prices(config))
    if config.record is not None:
        model = RecordingModel(model, config.record)
    return model


def describe_model(config: ModelConfig) -> str:
    """One line naming the model a run would use (a ConfigError when none)."""
    backend = config.backend()
    if backend == "replay":
        return f"replay of cassette {config.replay}"
    if backend == "embedded":
        path = config.gguf_path or default_gguf()
        return f"embedded model {path.name} (llama-cpp-python, in-process) from {path}"
    where = config.base_url or "the OpenAI API (default base URL)"
    return f"model {config.model!r} at {where}"


def check_model(config: ModelConfig) -> tuple[bool, str, str]:
    """For `greenloop doctor`: (ok, which model and whether it answered, the fix or "").

    Sends one tiny request (no retries, a short timeout); a replay is checked by
    loading its cassette.
    """
    try:
        what = describe_model(config)
        if config.backend() != "replay":
            config = config.model_copy(
                update={"max_retries": 0, "timeout": min(config.timeout, 30.0), "record": None}
            )
        model = make_model(config)
        if isinstance(model, ReplayModel):
            return True, f"{what}: {len(model)} recorded calls", ""
        completion = model.complete(_PROBE, max_tokens=8, temperature=0.0)
    except ConfigError as e:
        return False, f"no usable model: {e.message}", _config_fix(e)
    except ModelError as e:
        return False, f"{what}: did not answer: {e.message}", _model_fix(e, config)
    reply = completion.text.strip().replace("\n", " ")[:40]
    return True, f"{what}: answered {reply!r} in {completion.latency:.1f}s", ""


def _config_fix(e: ConfigError) -> str:
    return e.fix or "mend the setting the message names"


def _model_fix(e: ModelError, config: ModelConfig) -> str:
    """The error's own fix; but an endpoint that did not answer the probe (sent once, with
    a short timeout: the error's advice on retries and timeout does not apply) is named."""
    if isinstance(e, ModelUnavailable):
        return (
            f"start the server at {config.base_url}, or fix --base-url / GREENLOOP_BASE_URL"
            if config.base_url
            else "check the network and the endpoint's status"
        )
    return e.fix or "see the error above; `greenloop doctor` again after fixing it"
