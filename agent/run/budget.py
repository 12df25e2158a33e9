"""What every model call of a run shares: the budget it is charged to and the record.

    budget = Budget(task.config)
    ask = Caller(model, budget, run_dir.append)
    reply = ask(messages, "plan", temperature=0.0)

`LimitsExceeded` is how a run stops when a budget runs out; `reason` names it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent.model import ChatModel, Completion, Message
from agent.run.events import ModelCall, Record
from agent.task import TaskConfig

__all__ = ["Budget", "Caller", "LimitsExceeded"]


class LimitsExceeded(Exception):
    """A budget ran out; `reason` names which one."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Budget:
    """Tokens, cost, malformed replies and wall clock of one run; thread-safe enough
    for the parallel generation (ints under the GIL, checked after each call)."""

    config: TaskConfig
    started: float = field(default_factory=time.monotonic)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    malformed: int = 0
    calls: int = 0
    asked: int = 0
    """Calls begun (parallel ones included), for `max_calls`."""

    def charge(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if self.cost is not None:
            self.cost = None if completion.cost is None else self.cost + completion.cost
        self.check()

    def check(self) -> None:
        cfg = self.config
        if self.prompt_tokens + self.completion_tokens > cfg.max_tokens:
            raise LimitsExceeded("tokens", f"{cfg.max_tokens} tokens spent")
        if cfg.max_cost is not None and self.cost is not None and self.cost > cfg.max_cost:
            raise LimitsExceeded("cost", f"${cfg.max_cost} spent")
        if time.monotonic() - self.started > cfg.wall_seconds:
            raise LimitsExceeded("wall", f"{cfg.wall_seconds} s passed")

    def before_call(self) -> None:
        """Refuse a call beyond `max_calls` (the calls of a restart start together, so each
        is counted as it begins)."""
        limit = self.config.max_calls
        if limit is not None and self.asked >= limit:
            raise LimitsExceeded("calls", f"{limit} model calls made")
        self.asked += 1

    def bad_reply(self) -> None:
        self.malformed += 1
        if self.malformed >= self.config.max_malformed:
            raise LimitsExceeded("malformed", f"{self.malformed} replies could not be used")


class Caller:
    """One model call: ask, record it in the trajectory, charge the budget."""

    def __init__(self, model: ChatModel, budget: Budget, record: Record) -> None:
        self.model, self.budget, self.record = model, budget, record

    def __call__(self, messages: list[Message], purpose: str, **opts: Any) -> str:
        self.budget.before_call()
        completion = self.model.complete(messages, **opts)
        self.record(
            ModelCall(
                purpose=purpose,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                latency=round(completion.latency, 3),
                finish_reason=completion.finish_reason,
                cost=completion.cost,
                reply=completion.text,
            )
        )
        self.budget.charge(completion)
        return completion.text
