"""The batch server's OpenAI-compatible endpoint, over a scripted model (no llama)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from agent.errors import ContextTooLong, ModelAuthError, ModelError
from agent.model import Message, ModelConfig, OpenAIChat, ScriptedModel
from agent.model.base import Completion
from agent.model.serve.endpoint import serve

KEY = "sekrit"
NAN, INF = float("nan"), float("inf")
"""Sent as JSON's NaN and Infinity, which Python's json (and so a Python client) writes."""
ASK = [Message.system("be brief"), Message.user("add?")]


@pytest.fixture
def endpoint() -> Iterator[tuple[str, ScriptedModel]]:
    def reply(messages: Any) -> Any:
        text = messages[-1].content
        if text == "huge":
            return ContextTooLong("does not fit the context of 256 tokens")
        if text == "boom":
            return ModelError("llama failed to decode")
        return Completion("def add(a, b): return a + b", 12, 9, "m", 0.1, "length")

    model = ScriptedModel(reply)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    thread = threading.Thread(
        target=serve,
        args=(model,),
        kwargs={"alias": "tiny", "fd": listener.detach(), "key": KEY},
        daemon=True,
    )
    thread.start()
    yield f"http://127.0.0.1:{port}/v1", model


def _client(url: str, key: str = KEY) -> OpenAIChat:
    return OpenAIChat(ModelConfig(model="tiny", base_url=url, api_key=key, max_retries=0))


def test_a_reply_comes_back_with_its_usage_and_finish(endpoint: tuple[str, Any]) -> None:
    url, _ = endpoint
    client = _client(url)
    assert client.list_models() == ["tiny"]
    c = client.complete(ASK, max_tokens=5)
    assert c.text == "def add(a, b): return a + b"
    assert (c.prompt_tokens, c.completion_tokens, c.finish_reason) == (12, 9, "length")


def test_the_options_reach_the_model(endpoint: tuple[str, ScriptedModel]) -> None:
    url, model = endpoint
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    _client(url).complete(
        ASK, temperature=0.8, seed=3, max_tokens=40, stop=["```\n"], json_schema=schema
    )
    call = model.calls[-1]
    assert call.messages == tuple(ASK)
    assert call.opts == {
        "temperature": 0.8,
        "seed": 3,
        "max_tokens": 40,
        "stop": ["```\n"],
        "json_schema": schema,
    }


def test_a_replys_code_language_reaches_greenloops_own_server_only(
    endpoint: tuple[str, ScriptedModel],
) -> None:
    """The batch's workers name the language so the server guides decoding; a client of
    any other endpoint sends no field it would not know."""
    url, model = endpoint
    _client(url).complete(ASK, code="python")
    assert "code" not in model.calls[-1].opts
    own = ModelConfig(model="tiny", base_url=url, api_key=KEY, max_retries=0, guided_code=True)
    OpenAIChat(own).complete(ASK, code="python")
    assert model.calls[-1].opts["code"] == "python"


def test_a_caller_without_the_key_is_refused(endpoint: tuple[str, ScriptedModel]) -> None:
    url, model = endpoint
    with pytest.raises(ModelAuthError):
        _client(url, key="guess").complete(ASK)
    assert model.calls == []


def test_the_models_errors_arrive_typed(endpoint: tuple[str, Any]) -> None:
    url, _ = endpoint
    with pytest.raises(ContextTooLong):
        _client(url).complete([Message.user("huge")])
    with pytest.raises(ModelError, match="decode"):
        _client(url).complete([Message.user("boom")])


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": 3}]}, "string"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": True}, "stream"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": 5}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "seed": "x"}, "bad option"),
        ([1, 2], "JSON object"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": NAN}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": INF}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": -0.5}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": INF}, "bad option"),
    ],
    ids=["no-messages", "role", "content", "stream", "stop", "seed", "not-object",
         "temperature-nan", "temperature-inf", "temperature-negative", "max-tokens-zero",
         "max-tokens-negative", "max-tokens-inf"],
)  # fmt: skip
def test_a_bad_request_is_refused_with_what_is_wrong(
    endpoint: tuple[str, ScriptedModel], body: Any, why: str
) -> None:
    url, model = endpoint
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert why in json.loads(info.value.read())["error"]["message"]
    assert model.calls == []


def test_an_unknown_route_is_404(endpoint: tuple[str, Any]) -> None:
    url, _ = endpoint
    request = urllib.request.Request(f"{url}/completions", data=b"{}", headers={
        "Authorization": f"Bearer {KEY}"
    })  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 404
