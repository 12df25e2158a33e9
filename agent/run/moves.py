"""Which way forward pays: feedback edits or fresh samples, learned while a run (and a batch) goes.

    moves = Moves(prior={"feedback": {"tried": 9, "paid": 0}, "restart": {...}})
    moves.tried("feedback"); moves.paid("feedback")        # as the loop goes
    next_move = moves.choose(improved=False, last="feedback")

Each way's pay rate is estimated from its own tries in this run plus what the
batch's finished tasks saw (the prior, weighed as at most `PRIOR_WEIGHT` tries so
that this run's own evidence soon counts more), with one pay in two as the start.
A way seen fewer than `TRIAL` times (here and in the prior together) is given the
benefit of the doubt. Feedback that just raised the best is asked again; otherwise
the way likelier to pay is taken, feedback on a tie (a strong model edits from
feedback well, and feedback on a new best is a new chance). A best that already
had its feedback gets fresh samples: the same request would bring the same reply.
Nothing here is tuned for one model: with a model whose feedback pays, feedback
keeps being chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = ["MOVES", "PRIOR_WEIGHT", "TRIAL", "Move", "Moves", "Ways", "pooled"]

Move = Literal["feedback", "restart"]
MOVES: tuple[Move, ...] = ("feedback", "restart")
Ways = Mapping[str, Mapping[str, int]]
"""{"feedback": {"tried": n, "paid": k}, "restart": {...}}: as `RunResult.ways` holds them."""
PRIOR_WEIGHT = 6.0
"""The most tries the batch's prior counts as, whatever it holds."""
TRIAL = 2
"""Tries (this run's and the prior's) before a way is judged by its rate."""


class Moves:
    """The tries and pays of each way forward in this run, and the batch's prior."""

    def __init__(self, prior: Ways | None = None) -> None:
        self.counts: dict[str, dict[str, int]] = {m: {"tried": 0, "paid": 0} for m in MOVES}
        self.prior = {m: dict((prior or {}).get(m, {})) for m in MOVES}

    def tried(self, move: Move) -> None:
        self.counts[move]["tried"] += 1

    def paid(self, move: Move) -> None:
        self.counts[move]["paid"] += 1

    def seen(self, move: Move) -> int:
        """How often this way was tried, here and in the batch's finished tasks."""
        return self.counts[move]["tried"] + max(0, self.prior[move].get("tried", 0))

    def rate(self, move: Move) -> float:
        """The estimated share of this way's tries that raise the best."""
        prior = self.prior[move]
        tried, paid = max(0, prior.get("tried", 0)), max(0, prior.get("paid", 0))
        weight = min(1.0, PRIOR_WEIGHT / tried) if tried else 0.0
        own = self.counts[move]
        hits = own["paid"] + weight * min(paid, tried) + 1.0
        return hits / (own["tried"] + weight * tried + 2.0)

    def choose(self, improved: bool, last: Move | None, fed: bool = False) -> Move:
        """The next way: feedback again when it just paid, else the one likelier to pay.
        `fed`: the best already had its feedback (asked at temperature 0, the same request
        would bring the same reply), so only a fresh sample can move it."""
        if fed:
            return "restart"
        if improved and last == "feedback":
            return "feedback"
        hope = {m: 1.0 if self.seen(m) < TRIAL else self.rate(m) for m in MOVES}
        return "restart" if hope["restart"] > hope["feedback"] else "feedback"

    def ways(self) -> dict[str, dict[str, int]]:
        return {m: dict(c) for m, c in self.counts.items()}


def pooled(many: list[Ways]) -> dict[str, dict[str, int]]:
    """The tries and pays of several runs, way by way (a batch's prior)."""
    total: dict[str, dict[str, int]] = {m: {"tried": 0, "paid": 0} for m in MOVES}
    for ways in many:
        for move in MOVES:
            for key in ("tried", "paid"):
                total[move][key] += int(ways.get(move, {}).get(key, 0))
    return total
