"""A batch's ledger: what a try, a task and the whole batch leave on disk, typed.

    record = TaskRecord.of_tries("fizzbuzz", [TryRecord(1, "try-1", result)], price)
    write_json(folder / "result.json", record.to_json())
    again = TaskRecord.from_json(json.loads(text))      # ValueError when it is no record
    summary = BatchSummary.over(names, {"fizzbuzz": record}, tries=2)

A try is one `run_new` of the task: its `RunResult`, its number and its folder
(`try-<n>`). A task's status says how its last try went, in the batch's words:
passed (green), failed (red) or error. The JSON is what `result.json` and
`summary.json` have always held, so a batch written before these types resumes
and reports as before; keys a record does not know are dropped on reading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, Self, cast

from agent.model import Price
from agent.run.moves import Ways
from agent.run.record import RunResult
from sandbox.base import TestCounts

__all__ = ["FINISHED", "BatchSummary", "TaskRecord", "TaskStatus", "TryRecord"]

TaskStatus = Literal["passed", "failed", "error"]
FINISHED: tuple[TaskStatus, ...] = ("passed", "failed", "error")
_BY_RUN: dict[str, TaskStatus] = {"green": "passed", "red": "failed"}
_TOTALS = ("total", "done", "passed", "failed", "errors", "pending", "tries", "pass_at",
           "prompt_tokens", "completion_tokens", "cost", "tasks")  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _known(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The items of `data` that are fields of the dataclass `cls`."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class TryRecord:
    """One try of a task: the run's result, the try's number and its folder."""

    number: int
    out: str
    """The try's folder under the task's folder: `try-<number>`."""
    result: RunResult

    @property
    def green(self) -> bool:
        return self.result.status == "green"

    def to_json(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "try": self.number, "out": self.out}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """A try as `to_json` wrote it; ValueError when a field is missing or malformed."""
        try:
            values = {"run_id": "", "run_dir": "", "model": "", **_known(RunResult, data)}
            tests = values.get("tests", {})
            values["tests"] = TestCounts(**_known(TestCounts, tests))
            return cls(int(data["try"]), str(data["out"]), RunResult(**values))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a try's record: {exc}") from exc


@dataclass(frozen=True)
class TaskRecord:
    """A finished task: how it ended, its tries, what it cost."""

    name: str
    status: TaskStatus
    passed_at: int | None = None
    """The try that went green; None when none did."""
    tries: tuple[TryRecord, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    """US dollars, from the price table; None when the price is unknown."""
    wall: float = 0.0
    error: str = ""
    finished: str = field(default_factory=_now)
    """UTC time, ISO 8601."""
    node: str = ""
    """The cluster node it ran on ("" on the local pool)."""
    shipped_bytes: int | None = None
    """What it sent back from its node (a Ray task)."""
    reruns: tuple[str, ...] = ()
    """Why it was run again (its node was lost), one line each."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def ways(self) -> list[Ways]:
        """Each try's tries and pays per way forward (`RunResult.ways`)."""
        return [t.result.ways for t in self.tries]

    @classmethod
    def of_tries(cls, name: str, tries: Sequence[TryRecord], price: Price | None) -> Self:
        """A task's record from its tries (the last one says how it ended)."""
        prompt = sum(t.result.tokens["prompt"] for t in tries)
        completion = sum(t.result.tokens["completion"] for t in tries)
        last = tries[-1].result
        return cls(
            name=name,
            status=_BY_RUN.get(last.status, "error"),
            passed_at=next((t.number for t in tries if t.green), None),
            tries=tuple(tries),
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=None if price is None else round(price.cost(prompt, completion), 6),
            wall=round(sum(t.result.wall for t in tries), 3),
            error=last.error,
        )

    @classmethod
    def failed_outside(cls, name: str, message: str) -> Self:
        """The record of a task whose job failed outside any run (no try ran)."""
        return cls(name=name, status="error", error=message)

    def but(self, **changes: Any) -> Self:
        """This record with `changes` (e.g. `status="error", error=...`)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "passed_at": self.passed_at,
            "tries": [t.to_json() for t in self.tries],
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost": self.cost,
            "wall": self.wall,
            "error": self.error,
            "finished": self.finished,
        }
        if self.node:
            data["node"] = self.node
        if self.shipped_bytes is not None:
            data["shipped_bytes"] = self.shipped_bytes
        if self.reruns:
            data["reruns"] = list(self.reruns)
        return data

    @classmethod
    def from_json(cls, data: object) -> Self:
        """A record as `to_json` wrote it; ValueError when it is not one."""
        if not isinstance(data, Mapping) or data.get("status") not in FINISHED:
            raise ValueError("not a task's record: no finished status")
        try:
            tokens = data.get("tokens") or {}
            cost = data.get("cost")
            shipped = data.get("shipped_bytes")
            return cls(
                name=str(data["name"]),
                status=cast(TaskStatus, data["status"]),
                passed_at=None if data.get("passed_at") is None else int(data["passed_at"]),
                tries=tuple(TryRecord.from_json(t) for t in data.get("tries") or []),
                prompt_tokens=int(tokens.get("prompt", 0)),
                completion_tokens=int(tokens.get("completion", 0)),
                cost=None if cost is None else float(cost),
                wall=float(data.get("wall", 0.0)),
                error=str(data.get("error", "")),
                finished=str(data.get("finished", "")),
                node=str(data.get("node", "")),
                shipped_bytes=None if shipped is None else int(shipped),
                reruns=tuple(str(r) for r in data.get("reruns") or []),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a task's record: {exc}") from exc


@dataclass(frozen=True)
class BatchSummary:
    """A batch's totals (`summary.json`): over its tasks, then how this run of it went."""

    total: int
    done: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    pending: int = 0
    tries: int = 1
    pass_at: tuple[float, ...] = ()
    """Tasks passed by try k (k = 1..tries), as fractions of all tasks."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    tasks: dict[str, str] = field(default_factory=dict)
    """Each task's status, or "pending"."""
    stopped_by_budget: bool = False
    interrupted: bool = False
    budget: dict[str, float | None] = field(default_factory=dict)
    """{"tokens": ..., "cost": ...}: what the whole batch could spend (None: no limit)."""
    model: str = "?"
    executor: str = ""
    workers: int = 0
    wall: float | None = None
    """Seconds the batch ran, in its last session (None: not recorded)."""
    updated: str = field(default_factory=_now)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def over(cls, names: Sequence[str], records: Mapping[str, TaskRecord], tries: int) -> Self:
        """The totals over `names` (a name without a record is pending)."""
        done = [records[n] for n in names if n in records]
        total = len(names)
        costs = [r.cost for r in done if r.cost is not None]
        pass_at = tuple(
            round(sum(1 for r in done if r.passed_at and r.passed_at <= k) / total, 4)
            if total
            else 0.0
            for k in range(1, tries + 1)
        )
        return cls(
            total=total,
            done=len(done),
            passed=sum(r.status == "passed" for r in done),
            failed=sum(r.status == "failed" for r in done),
            errors=sum(r.status == "error" for r in done),
            pending=total - len(done),
            tries=tries,
            pass_at=pass_at,
            prompt_tokens=sum(r.prompt_tokens for r in done),
            completion_tokens=sum(r.completion_tokens for r in done),
            cost=round(sum(costs), 6) if costs else None,
            tasks={n: records[n].status if n in records else "pending" for n in names},
        )

    def but(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def recounted(self, fresh: BatchSummary) -> Self:
        """How this batch ran, with the totals counted again in `fresh`."""
        return self.but(**{name: getattr(fresh, name) for name in _TOTALS})

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["pass_at"] = list(self.pass_at)
        data["tokens"] = self.tokens
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """A summary as `to_json` wrote it; fields it lacks take their defaults."""
        values = _known(cls, data)
        values.setdefault("total", 0)
        values["pass_at"] = tuple(values.get("pass_at") or ())
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"not a batch summary: {exc}") from exc
