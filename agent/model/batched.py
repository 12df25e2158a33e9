"""Replies decoded together: one llama context, one sequence per request in flight.

    engine = Engine(llama, n_ctx=8192, name="local:SmolLM2-135M-Instruct")
    reply = engine.complete(prompt_tokens, Sampling(temperature=0.8, seed=3), 512, ("```\\n",))

Why: on CPU a small model's decode step costs much the same for a few sequences as
for one. SmolLM2-135M (Q4_1) on 2 cores made 57 tokens/s with one sequence, 96 with
4 decoded together and 107 with 8. A restart's candidates and a batch's workers ask
at once; here their replies share every decode step, and a request that arrives
while others decode joins at the next step.

Prompts are kept (`agent.model.prompt_cache`): a request copies the longest prefix it
shares with an evaluated prompt and evaluates only the rest.

A reply asked with a `Sampling.guide` is guided line by line (`agent.model.guide`): a line
that breaks its block is taken back (its cells removed from the cache) and drawn again,
a rambling docstring is closed in its place. A reply's cost counts every token decoded,
the ones taken back too.

Sampling is llama-cpp-python's chain for `create_chat_completion` (repeat penalty,
grammar, top-k 40, typical 1, top-p 0.95, min-p 0.05, temperature, then a seeded
draw), so a seed draws what it draws there. Only this engine's thread touches the
context; callers wait on their own request.
"""

from __future__ import annotations

import codecs
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.errors import ModelError
from agent.model.base import Completion
from agent.model.guide import LONG_LINE, Guide, Judged, Move
from agent.model.prompt_cache import KEPT_BYTES, Kept, PromptCache

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["REDRAWS", "Engine", "Sampling"]

SLOTS = 8
"""Sequences decoded together at most (a batch's 2 workers x 4 candidates)."""
_TOP_K, _TOP_P, _MIN_P, _TYPICAL = 40, 0.95, 0.05, 1.0
_PENALTY_LAST_N = 64


@dataclass(frozen=True)
class Sampling:
    """How one reply is drawn."""

    temperature: float = 0.0
    seed: int | None = None
    repeat_penalty: float = 1.0
    json_schema: Mapping[str, Any] | None = None
    guide: Guide | None = None
    """Judges the reply's lines as they end (`agent.model.guide`)."""


REDRAWS_A_LINE = 3
REDRAWS = 12
"""Lines a reply may take back, in a row and in all (bounded: each costs decode steps)."""
REPAIR_TEMPERATURE = 0.8
"""A greedy reply's line taken back is drawn again at this temperature (a greedy draw
would come out the same), seeded by its redraw's number; the line after goes greedy."""


@dataclass(frozen=True)
class _Mark:
    """Where a line began: what to restore to take it back."""

    pos: int
    pending: int
    text: str
    """The reply as it was (a stop cut since may have taken this line's newline too)."""
    generated: int


@dataclass
class _Request:
    prompt: list[int]
    sampler: Any
    max_tokens: int
    stops: tuple[str, ...]
    submitted: float
    done: threading.Event = field(default_factory=threading.Event)
    seq: int = -1
    pos: int = 0
    pending: int = 0
    row: int = 0
    kept: Kept | None = None
    generated: int = 0
    text: str = ""
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="ignore")
    )
    reply: Completion | None = None
    error: BaseException | None = None
    guide: Guide | None = None
    greedy: bool = True
    mark: _Mark | None = None
    forced: list[int] = field(default_factory=list)
    repair: Any = None
    """A greedy reply's sampler for the line it draws again (`REPAIR_TEMPERATURE`)."""
    decoded: int = 0
    redrawn: int = 0
    in_a_row: int = 0

    @property
    def need(self) -> int:
        """KV cells this request may take: its prompt once more, plus its reply."""
        return len(self.prompt) + self.max_tokens


class Engine:
    """Decodes every request in flight together, on a thread of its own."""

    def __init__(
        self,
        llama: Llama,
        *,
        n_ctx: int,
        name: str = "local",
        slots: int = SLOTS,
        kept_bytes: int = KEPT_BYTES,
    ) -> None:
        """`n_ctx`: the most one request may hold (prompt + reply), as llama's own
        context would allow; the cache holds twice that, shared by all. `name`: the
        model its completions name."""
        from llama_cpp import _internals as internals
        from llama_cpp import llama_cpp as low
        from llama_cpp._utils import suppress_stdout_stderr

        self._low: Any = low
        self._internals: Any = internals  # untyped
        self.name = name
        self._model = llama._model
        self.n_ctx = n_ctx
        self.capacity = 2 * n_ctx
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_ctx = self.capacity
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = 2 * slots + 1  # replies, the prompts they copy, one being restored
        params.kv_unified = True  # a prompt's cells are shared by the sequences copied from it
        # llama.cpp warns that the cache outgrows the training context: one sequence never
        # does (a request holds at most n_ctx), only the cache shared by all of them
        with suppress_stdout_stderr(disable=False):
            self._ctx = internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._batch = internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=1, verbose=False)
        self._free_slots = list(range(slots))
        self.prompts = PromptCache(
            self._ctx, self._batch, seqs=list(range(slots, 2 * slots + 1)), kept_bytes=kept_bytes
        )
        self._active: list[_Request] = []
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._closed = False
        self.steps = 0
        """Decode steps taken (for tests and figures)."""
        self._thread = threading.Thread(target=self._run, name="llama-engine", daemon=True)
        self._thread.start()

    @property
    def evaluated(self) -> int:
        """Prompt tokens evaluated (the rest were copied from kept prompts)."""
        return self.prompts.evaluated

    # -- callers' side -------------------------------------------------------------

    def complete(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        max_tokens: int | None,
        stops: Sequence[str],
    ) -> Completion:
        """The reply to `prompt` (tokens, template applied); blocks until it is done.
        Raises ValueError when prompt + max_tokens exceed `n_ctx`, as llama does."""
        tokens = list(prompt)
        if not tokens:
            raise ValueError("empty prompt")
        room = self.n_ctx - len(tokens)
        budget = room if max_tokens is None or max_tokens <= 0 else max_tokens
        if budget <= 0 or len(tokens) + budget > self.n_ctx:
            raise ValueError(
                f"Requested tokens ({len(tokens) + max(budget, 0)}) exceed context window "
                f"of {self.n_ctx}"
            )
        request = _Request(
            prompt=tokens,
            sampler=_sampler(self._internals, self._model, sampling),
            max_tokens=budget,
            stops=tuple(s for s in stops if s),
            submitted=time.monotonic(),
            guide=sampling.guide,
            greedy=sampling.temperature == 0,
        )
        with self._cond:
            if self._closed:
                raise ModelError("the embedded model was closed")
            self._queue.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.reply is not None
        return request.reply

    def close(self) -> None:
        """Stop the thread; requests still waiting fail. The context goes with the model."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    # -- the engine's thread ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._queue and not self._active:
                    self._cond.wait()
                if self._closed:
                    for r in self._queue + self._active:
                        r.error = ModelError("the embedded model was closed")
                        r.done.set()
                    self._queue.clear()
                    self._active.clear()
                    return
                starting = self._admit()
            for request in starting:
                try:
                    self._start(request)
                except Exception as e:
                    self._finish(request, error=ModelError(f"llama failed on a prompt: {e}"))
            if self._active:
                try:
                    self._step()
                except Exception as e:
                    for request in list(self._active):
                        self._finish(request, error=ModelError(f"llama failed to decode: {e}"))

    def _used(self) -> int:
        return self.prompts.cells() + sum(1 + r.max_tokens for r in self._active)

    def _admit(self) -> list[_Request]:
        """Requests from the head of the queue that have a slot and room (first come,
        first served: one that does not fit yet holds the others back)."""
        starting: list[_Request] = []
        while self._queue and self._free_slots:
            request = self._queue[0]
            if self._used() + request.need > self.capacity:
                break
            self._queue.pop(0)
            request.seq = self._free_slots.pop()
            self._active.append(request)
            starting.append(request)
        return starting

    def _start(self, request: _Request) -> None:
        """Give the request its prompt but the last token (copied from a kept prompt,
        evaluated where new); the last token goes with the next decode step."""
        prefix = request.prompt[:-1]
        request.pos = len(prefix)
        request.pending = request.prompt[-1]
        request.mark = _Mark(request.pos, request.pending, "", 0)
        if not prefix:
            return
        request.kept = self.prompts.lend(prefix)
        self._ctx.kv_cache_seq_cp(request.kept.seq, request.seq, 0, len(prefix))

    def _step(self) -> None:
        """One token for every active request, decoded together, then sampled."""
        b = self._batch.batch
        b.n_tokens = len(self._active)
        for row, r in enumerate(self._active):
            b.token[row], b.pos[row], b.n_seq_id[row] = r.pending, r.pos, 1
            b.seq_id[row][0] = r.seq
            b.logits[row] = True
            r.row = row
        self._ctx.decode(self._batch)
        self.steps += 1
        for r in list(self._active):
            sampler = r.sampler if r.repair is None else r.repair
            token = r.forced.pop(0) if r.forced else sampler.sample(self._ctx, r.row)
            r.pos += 1
            if self._low.llama_vocab_is_eog(self._model.vocab, token):
                if not self._guided_end(r):
                    self._finish(r, reason="stop")
                continue
            r.generated += 1
            r.decoded += 1
            seen = len(r.text)
            r.text += r.decoder.decode(self._model.detokenize([token], special=False))
            r.pending = token
            # a stop not found before can only end in what this token added
            found = (r.text.find(s, max(0, seen - len(s) + 1)) for s in r.stops)
            cut = min((i for i in found if i >= 0), default=-1)
            if cut >= 0:
                r.text = r.text[:cut]
                if not self._guided_end(r):
                    self._finish(r, reason="stop")
            elif r.generated >= r.max_tokens or r.decoded >= 2 * r.max_tokens:
                self._finish(r, reason="length")
            elif r.guide is not None and not r.forced:
                self._guided_line(r, seen)

    # -- guided code (`agent.model.guide`) --------------------------------------------

    def _guided_line(self, r: _Request, seen: int) -> None:
        """At a line's end (or a line too long), keep it or take it back."""
        assert r.guide is not None and r.mark is not None
        ended = "\n" in r.text[seen:]
        if not ended and len(r.text) - len(r.mark.text) < LONG_LINE:
            return
        if self._redo(r, r.guide.line(r.text)):
            return
        if ended:
            r.mark = _Mark(r.pos, r.pending, r.text, r.generated)
            r.in_a_row = 0
            self._repaired(r)

    def _guided_end(self, r: _Request) -> bool:
        """At the reply's end: True where its last line was taken back (it goes on)."""
        return r.guide is not None and self._redo(r, r.guide.end(r.text))

    def _redo(self, r: _Request, judged: Judged) -> bool:
        """Take the line since `r.mark` back, to draw it again or put a closer in its
        place; False where the judgement keeps it, or no redraw is left."""
        assert r.mark is not None
        if judged.move is Move.KEEP or r.redrawn >= REDRAWS:
            return False
        if judged.move is Move.REDRAW and r.in_a_row >= REDRAWS_A_LINE:
            return False
        mark = r.mark
        self._ctx.kv_cache_seq_rm(r.seq, mark.pos, -1)
        r.pos, r.pending, r.generated = mark.pos, mark.pending, mark.generated
        r.text = mark.text
        r.decoder.reset()
        r.redrawn += 1
        r.in_a_row += 1
        self._repaired(r)
        if judged.move is Move.REPLACE:
            begun = r.text[r.text.rfind("\n") + 1 :]  # the indent already kept
            closer = judged.replace
            closer = closer[len(begun) :] if closer.startswith(begun) else closer
            r.forced = list(self._model.tokenize(closer.encode(), add_bos=False, special=False))
        elif r.greedy:
            repair = Sampling(temperature=REPAIR_TEMPERATURE, seed=r.redrawn)
            r.repair = _sampler(self._internals, self._model, repair)
        return True

    def _repaired(self, r: _Request) -> None:
        """Back to the reply's own sampler (a greedy reply's line drawn again has ended)."""
        if r.repair is not None:
            r.repair.close()
            r.repair = None

    def _finish(
        self,
        request: _Request,
        *,
        reason: str = "stop",
        error: BaseException | None = None,
    ) -> None:
        self._ctx.kv_cache_seq_rm(request.seq, -1, -1)
        with self._cond:
            if request in self._active:
                self._active.remove(request)
            self._free_slots.append(request.seq)
        if request.kept is not None:
            self.prompts.give_back(request.kept)
        request.sampler.close()
        self._repaired(request)
        if error is not None:
            request.error = error
        else:
            request.reply = Completion(
                text=request.text,
                prompt_tokens=len(request.prompt),
                completion_tokens=request.decoded,
                model=self.name,
                latency=time.monotonic() - request.submitted,
                finish_reason=reason,
                cost=0.0,
            )
        request.done.set()


def _sampler(internals: Any, model: Any, sampling: Sampling) -> Any:
    """llama-cpp-python's `Llama._init_sampler`, link for link."""
    sampler = internals.LlamaSampler()
    sampler.add_penalties(
        n_vocab=model.n_vocab(),
        penalty_last_n=_PENALTY_LAST_N,
        penalty_repeat=sampling.repeat_penalty,
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    if sampling.json_schema:
        sampler.add_grammar(model, _grammar(sampling.json_schema))
    if sampling.temperature == 0:
        sampler.add_greedy()
        return sampler
    seed = random.getrandbits(31) if sampling.seed is None else sampling.seed
    sampler.add_top_k(_TOP_K)
    sampler.add_typical(_TYPICAL, 1)
    sampler.add_top_p(_TOP_P, 1)
    sampler.add_min_p(_MIN_P, 1)
    sampler.add_temp(sampling.temperature)
    sampler.add_dist(seed)
    return sampler


def _grammar(schema: Mapping[str, Any]) -> Any:
    """llama.cpp's grammar for `schema`, or for any JSON where the schema has no grammar
    (as llama-cpp-python's chat handler falls back)."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(dict(schema)), verbose=False)
    except Exception:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
