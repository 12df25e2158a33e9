"""Evaluated prompts kept for the requests that share their prefix (`agent.model.batched`
decodes the replies).

    prompts = PromptCache(ctx, batch, seqs=list(range(8, 17)), kept_bytes=KEPT_BYTES)
    kept = prompts.lend(prefix)        # kept.seq holds prefix's cells: copy from it
    ...
    prompts.give_back(kept)            # when the request that copied is done

An evaluated prompt is a sequence of its own while requests copy from it (`seq_cp`:
their cells are shared, no compute), and is saved to RAM when none does
(`llama_state_seq_get_data`, about 6 MB and 7 ms for 400 tokens): cells left in the
cache would cost every later decode step, since attention runs over all of them (1,600
idle cells took one sequence from 65 to 47 tokens/s). A request copies the longest
prefix it shares with a kept prompt, restored first if saved (2 ms), and evaluates only
the rest: a restart's samples, which share one clean prompt, evaluate it once, and the
next restart not at all (400 tokens take 2 s to evaluate on 2 cores).

Only the engine's thread calls it.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KEPT_BYTES", "Kept", "PromptCache"]

KEPT_BYTES = 256 << 20
"""RAM for evaluated prompts saved for the next request that shares their prefix."""


@dataclass
class Kept:
    """An evaluated prompt: in the KV cache as sequence `seq` while requests copy from it,
    else saved in `state` (seq -1)."""

    tokens: list[int]
    seq: int = -1
    state: Any = None
    users: int = 0
    used: float = 0.0


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PromptCache:
    """The kept prompts of one llama context, on the sequences `seqs`."""

    def __init__(self, ctx: Any, batch: Any, *, seqs: list[int], kept_bytes: int) -> None:
        """`ctx`, `batch`: the engine's `LlamaContext` and `LlamaBatch` (untyped);
        `kept_bytes`: RAM for saved prompts, the oldest go past it."""
        from llama_cpp import llama_cpp as low

        self._low: Any = low
        self._ctx = ctx
        self._batch = batch
        self._free = seqs
        self.kept_bytes = kept_bytes
        self.kept: list[Kept] = []
        self.evaluated = 0
        """Prompt tokens evaluated (the rest were copied from kept prompts)."""

    def cells(self) -> int:
        """KV cells the kept prompts hold now (the saved ones hold none)."""
        return sum(len(k.tokens) for k in self.kept if k.seq >= 0)

    def lend(self, prefix: list[int]) -> Kept:
        """A kept prompt in the cache that holds `prefix` (copied from the one sharing the
        longest prefix with it, evaluated where new), one user more."""
        best, shared = None, 0
        for kept in self.kept:
            n = _common(kept.tokens, prefix)
            if n > shared:
                best, shared = kept, n
        if best is not None:
            self._live(best)
        if best is None or shared < len(prefix):
            source = best
            try:
                best = self._keep(prefix, source, shared)
            finally:
                if source is not None:
                    self.release(source)
        best.users += 1
        best.used = time.monotonic()
        return best

    def give_back(self, kept: Kept) -> None:
        """One user fewer; the last one's leaving saves the prompt to RAM."""
        kept.users -= 1
        self.release(kept)

    def release(self, kept: Kept) -> None:
        """A prompt no request copies from any more: saved to RAM, out of the cache (the
        oldest saved ones go past `kept_bytes`)."""
        if kept.users or kept.seq < 0:
            return
        low = self._low
        if kept.state is None:
            size = low.llama_state_seq_get_size(self._ctx.ctx, kept.seq)
            state = (ctypes.c_uint8 * size)()
            if low.llama_state_seq_get_data(self._ctx.ctx, state, size, kept.seq) == size:
                kept.state = state
        self._ctx.kv_cache_seq_rm(kept.seq, -1, -1)
        self._free.append(kept.seq)
        kept.seq = -1
        if kept.state is None:
            self.kept.remove(kept)
        saved = sorted((k for k in self.kept if k.seq < 0), key=lambda k: k.used)
        total = sum(len(k.state) for k in saved)
        for old in saved:
            if total <= self.kept_bytes:
                break
            total -= len(old.state)
            self.kept.remove(old)

    def _live(self, kept: Kept) -> None:
        """Put a saved prompt back in the cache."""
        if kept.seq >= 0:
            return
        seq = self._free.pop()
        state = kept.state
        if self._low.llama_state_seq_set_data(self._ctx.ctx, state, len(state), seq) != len(state):
            self._free.append(seq)
            self.kept.remove(kept)
            raise RuntimeError("a saved prompt did not fit back in the cache")
        kept.seq = seq

    def _keep(self, tokens: list[int], source: Kept | None, shared: int) -> Kept:
        kept = Kept(tokens, seq=self._free.pop())
        if source is not None and shared:
            self._ctx.kv_cache_seq_cp(source.seq, kept.seq, 0, shared)
        try:
            for start in range(shared, len(tokens), 512):
                self._decode_run(tokens[start : start + 512], kept.seq, start)
        except BaseException:
            self._ctx.kv_cache_seq_rm(kept.seq, -1, -1)
            self._free.append(kept.seq)
            raise
        self.kept.append(kept)
        return kept

    def _decode_run(self, tokens: Sequence[int], seq: int, pos: int) -> None:
        b = self._batch.batch
        b.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            b.token[i], b.pos[i], b.n_seq_id[i] = token, pos + i, 1
            b.seq_id[i][0] = seq
            b.logits[i] = i == len(tokens) - 1
        self._ctx.decode(self._batch)
        self.evaluated += len(tokens)
