"""The OpenAI-compatible backend against the fake server, through the real openai client."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply, Request

from agent.errors import (
    ContextTooLong,
    ModelAuthError,
    ModelError,
    ModelNotFound,
    ModelUnavailable,
)
from agent.model import Message, ModelConfig, OpenAIChat, PriceTable, check_model

HI = [Message("user", "hi")]


def chat(srv: FakeOpenAI, **settings: Any) -> OpenAIChat:
    base: dict[str, Any] = {
        "model": "fake-model",
        "base_url": srv.base_url,
        "api_key": "k",
        "backoff": 0.01,
        "timeout": 5.0,
    }
    return OpenAIChat(ModelConfig(**{**base, **settings}))


def test_completion_carries_text_usage_and_sent_options() -> None:
    reply = Reply(text="def f(): pass", prompt_tokens=11, completion_tokens=5)
    with FakeOpenAI([reply]) as srv:
        c = chat(srv).complete(
            [Message("system", "be brief"), Message("user", "write f")],
            temperature=0.7,
            max_tokens=64,
            seed=3,
            stop=["```"],
        )
        sent = srv.chat_requests[0].body
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("def f(): pass", 11, 5)
    assert c.model == "fake-model" and c.finish_reason == "stop" and c.latency > 0
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write f"},
    ]
    assert (sent["temperature"], sent["max_tokens"], sent["seed"], sent["stop"]) == (
        0.7,
        64,
        3,
        ["```"],
    )


def test_cost_from_price_table_and_none_for_unknown_model() -> None:
    reply = Reply(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    prices = PriceTable().extended({"fake-model": {"prompt": 1.0, "completion": 2.0}})
    with FakeOpenAI([reply, reply]) as srv:
        cfg = ModelConfig(model="fake-model", base_url=srv.base_url)
        assert OpenAIChat(cfg, prices=prices).complete(HI).cost == pytest.approx(3.0)
        assert OpenAIChat(cfg).complete(HI).cost is None


def test_429_with_retry_after_1_then_success_is_one_completion_about_1s_later() -> None:
    with FakeOpenAI([Reply.rate_limited(retry_after=1), Reply(text="done")]) as srv:
        start = time.monotonic()
        c = chat(srv).complete(HI)
        wall = time.monotonic() - start
        assert len(srv.chat_requests) == 2
    assert c.text == "done"
    assert 0.95 <= wall < 2.0
    assert c.latency == pytest.approx(wall, abs=0.2)


def test_five_500s_raise_typed_error_after_configured_retries() -> None:
    with FakeOpenAI([Reply.server_error()] * 5 + [Reply(text="too late")]) as srv:
        start = time.monotonic()
        with pytest.raises(ModelUnavailable, match="after 5 attempt"):
            chat(srv, max_retries=4).complete(HI)
        assert time.monotonic() - start < 3
        assert len(srv.chat_requests) == 5


@pytest.mark.parametrize(
    "failure", [Reply.dropped(), Reply.malformed(), Reply.server_error(503)], ids=str
)
def test_transient_failures_are_retried(failure: Reply) -> None:
    with FakeOpenAI([failure, Reply(text="fine")]) as srv:
        assert chat(srv, max_retries=1).complete(HI).text == "fine"
        assert len(srv.chat_requests) == 2


def test_backoff_without_retry_after_grows_and_is_capped() -> None:
    slept: list[float] = []
    with FakeOpenAI([Reply.rate_limited(retry_after=None)] * 3 + [Reply()]) as srv:
        cfg = ModelConfig(model="m", base_url=srv.base_url, backoff=1.0, backoff_max=1.5)
        OpenAIChat(cfg, sleep=slept.append).complete(HI)
    assert len(slept) == 3
    assert 0.75 <= slept[0] <= 1.0 and slept[1] == slept[2] == 1.5


def test_retry_after_is_capped_by_backoff_max() -> None:
    slept: list[float] = []
    with FakeOpenAI([Reply.rate_limited(retry_after=3600), Reply()]) as srv:
        cfg = ModelConfig(model="m", base_url=srv.base_url, backoff_max=2.0)
        OpenAIChat(cfg, sleep=slept.append).complete(HI)
    assert slept == [2.0]


def test_timeout_ends_the_call() -> None:
    with FakeOpenAI([Reply(latency=30), Reply(latency=30)]) as srv:
        start = time.monotonic()
        with pytest.raises(ModelUnavailable, match="timed out"):
            chat(srv, timeout=0.3, max_retries=1).complete(HI)
        assert time.monotonic() - start < 3


def test_401_names_the_fix() -> None:
    with FakeOpenAI([Reply()], api_key="right") as srv:
        with pytest.raises(ModelAuthError, match="set OPENAI_API_KEY") as info:
            chat(srv, api_key="wrong").complete(HI)
        assert len(srv.chat_requests) == 1  # not retried
    assert srv.base_url in str(info.value)


def test_unknown_model_names_the_fix_and_what_is_served() -> None:
    with (
        FakeOpenAI([Reply()], models=["qwen2.5-coder"]) as srv,
        pytest.raises(ModelNotFound, match="GREENLOOP_MODEL") as info,
    ):
        chat(srv, model="gpt-9").complete(HI)
    message = str(info.value)
    assert "'gpt-9'" in message and "qwen2.5-coder" in message


def test_context_too_long_is_typed() -> None:
    with (
        FakeOpenAI([Reply.context_too_long()]) as srv,
        pytest.raises(ContextTooLong, match="larger"),
    ):
        chat(srv).complete(HI)


def test_other_client_errors_are_not_retried() -> None:
    with FakeOpenAI([Reply(status=422, error="bad field"), Reply()]) as srv:
        with pytest.raises(ModelError, match="bad field"):
            chat(srv).complete(HI)
        assert len(srv.chat_requests) == 1


def test_one_concurrency_limit_shared_by_all_calls() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def responder(request: Request) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return Reply(text=request.prompt)

    with FakeOpenAI(responder) as srv:
        model = chat(srv, concurrency=3)
        with ThreadPoolExecutor(10) as pool:
            texts = list(
                pool.map(lambda i: model.complete([Message("user", str(i))]).text, range(10))
            )
    assert texts == [str(i) for i in range(10)]
    assert peak == 3


def test_missing_usage_falls_back_to_an_estimate() -> None:
    with FakeOpenAI([Reply(text="x" * 40, usage=False)]) as srv:
        c = chat(srv).complete(HI)
    assert c.prompt_tokens == 0 and c.completion_tokens == 10


def test_doctor_check_names_the_model_and_that_it_answered() -> None:
    with FakeOpenAI([Reply(text="OK")]) as srv:
        ok, what, fix = check_model(ModelConfig(model="fake-model", base_url=srv.base_url))
    assert ok and fix == ""
    assert "'fake-model'" in what and srv.base_url in what and "'OK'" in what


def test_doctor_check_reports_a_dead_endpoint_with_the_fix() -> None:
    with FakeOpenAI() as srv:
        url = srv.base_url
    ok, what, fix = check_model(ModelConfig(model="m", base_url=url, timeout=2))
    assert not ok and "did not answer" in what
    assert url in fix and "GREENLOOP_BASE_URL" in fix


def test_doctor_check_shows_the_errors_own_fix_once() -> None:
    with FakeOpenAI([Reply()], api_key="right", models=["qwen2.5-coder"]) as srv:
        config = ModelConfig(model="m", base_url=srv.base_url, api_key="wrong")
        with pytest.raises(ModelAuthError) as info:
            OpenAIChat(config).complete(HI)
        ok, what, fix = check_model(config)
    assert not ok and "rejected the API key" in what
    assert fix == info.value.fix  # the advice written where the error is raised
    assert "Fix:" not in what  # and not a second time beside it


def test_extra_body_fields_go_with_every_request() -> None:
    with FakeOpenAI([Reply(text="a"), Reply(text="b")]) as srv:
        model = chat(srv, extra_body={"repeat_penalty": 1.0, "top_k": 40})
        model.complete(HI, temperature=0.8)
        model.complete(HI, json_schema={"type": "object"})
        bodies = [r.body for r in srv.chat_requests]
    assert all((b["repeat_penalty"], b["top_k"]) == (1.0, 40) for b in bodies)
    assert "extra_body" not in bodies[0] and bodies[0]["temperature"] == 0.8
