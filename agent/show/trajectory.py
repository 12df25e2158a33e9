"""A run's record read back as steps a person can follow: what the trajectory page shows.

    run = load_run(Path(".greenloop/runs/<run-id>"))    # trajectory + cassette + result
    for block in blocks(run): ...                       # one Block per event, in order

Each event becomes a `Block`: a title, a few facts, list items (refused edits
with their reasons, failing tests) and folds (prompt, reply, traceback, diff),
which the HTML page and the plain-text rendering both draw. The record is read
leniently, by the one reader (`agent.run.codec`), each event as its JSON object:
a damaged line, an event of a kind this module does not draw, or one whose
fields do not fit (an older record) is shown as it is, never an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, UsageError
from agent.model.cassette import Cassette, CassetteEntry
from agent.run.codec import read_trajectory
from agent.run.record import RUNS_DIR, read_result

__all__ = ["Block", "Fold", "RunRecord", "blocks", "find_run", "load_run", "mapping"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """A text that may be long: shown folded, never cut."""

    label: str
    text: str
    kind: str = "text"
    """text, diff (lines coloured by +/-) or prompt (the plain-text view shows only the label)."""


@dataclass(frozen=True)
class Block:
    """One event, ready to draw."""

    anchor: str
    kind: str
    """model, test, edit, candidate, switch, plan, result or other: how it is styled."""
    title: str
    status: str = ""
    """ok, bad or "": the colour of the title."""
    facts: tuple[tuple[str, str], ...] = ()
    items: tuple[str, ...] = ()
    folds: tuple[Fold, ...] = ()
    time: str = ""


@dataclass(frozen=True)
class RunRecord:
    """A run dir's events, its model calls' requests, and its result."""

    path: Path
    events: list[dict[str, Any]]
    result: dict[str, Any]
    requests: dict[int, CassetteEntry] = field(default_factory=dict)
    """Index of a `model` event -> the cassette entry of that call."""
    has_cassette: bool = False


def find_run(path: Path) -> Path:
    """The run dir `path` names: a run dir itself, or a project whose newest run is taken."""
    path = Path(path)
    if (path / "trajectory.jsonl").is_file() or (path / "result.json").is_file():
        return path
    if (path / "batch.json").is_file():
        raise UsageError(
            f"{path} is a batch: `greenloop report {path}` links each task's trajectory page"
        )
    runs = path / RUNS_DIR
    found = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if not found:
        raise UsageError(
            f"{path} holds no run record: name a run dir (.greenloop/runs/<run-id>) "
            "or a project greenloop ran in"
        )
    return found[-1]


def _pair(events: list[dict[str, Any]], entries: list[CassetteEntry]) -> dict[int, CassetteEntry]:
    """Match each `model` event to its cassette entry by the reply, in order."""
    unused = list(range(len(entries)))
    pairs: dict[int, CassetteEntry] = {}
    for index, event in enumerate(events):
        if event.get("event") != "model":
            continue
        reply = event.get("reply")
        match = next((i for i in unused if entries[i].completion.text == reply), None)
        if match is not None:
            unused.remove(match)
            pairs[index] = entries[match]
    return pairs


def load_run(path: Path) -> RunRecord:
    """Read a run dir (see `find_run`): trajectory, cassette (if any) and result."""
    run = find_run(path)
    events = read_trajectory(run / "trajectory.jsonl")
    try:
        result = read_result(run) or {}
    except (ValueError, OSError) as exc:
        log.warning("%s: result.json unreadable (%s)", run, exc)
        result = {}
    cassette = run / "cassette.jsonl"
    entries: list[CassetteEntry] = []
    if cassette.is_file():
        try:
            entries = Cassette(cassette).entries()
        except ConfigError as exc:
            log.warning("%s", exc)
    return RunRecord(run, events, result, _pair(events, entries), cassette.is_file())


# ---------------------------------------------------------------- blocks


def mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (records are read leniently)."""
    return value if isinstance(value, Mapping) else {}


def _n(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _tests_line(data: Mapping[str, Any]) -> str:
    text = f"{_n(data, 'passed')} passed, {_n(data, 'failed')} failed, {_n(data, 'errors')} errors"
    return text + (", TIMED OUT" if data.get("timed_out") else "")


def _prompt(run: RunRecord, index: int) -> Fold:
    entry = run.requests.get(index)
    if entry is None:
        why = "not in the cassette" if run.has_cassette else "not recorded (no cassette.jsonl)"
        return Fold("prompt: " + why, "", "prompt")
    text = "\n\n".join(f"──── {m.role} ────\n{m.content}" for m in entry.messages)
    opts = ", ".join(f"{k}={v}" for k, v in entry.opts.items())
    label = f"prompt as sent: {len(entry.messages)} messages, {len(text):,} chars"
    return Fold(label + (f" ({opts})" if opts else ""), text, "prompt")


def _model(run: RunRecord, index: int, d: Mapping[str, Any], call: int) -> Block:
    cost = d.get("cost")
    facts = [
        (
            "tokens",
            f"{_n(d, 'prompt_tokens'):,} prompt + {_n(d, 'completion_tokens'):,} completion",
        ),
        ("latency", f"{d.get('latency', '?')} s"),
        ("finish reason", str(d.get("finish_reason", "?"))),
        ("cost", "unknown" if cost is None else f"${float(cost):.6f}"),
    ]
    reply = str(d.get("reply", ""))
    folds = (_prompt(run, index), Fold(f"reply: {len(reply):,} chars", reply))
    status = "bad" if d.get("finish_reason") == "length" else ""
    title = f"model call {call}: {d.get('purpose', '?')}"
    return Block("", "model", title, status, tuple(facts), folds=folds)


def _old_green(d: Mapping[str, Any]) -> bool:
    """Green where the record stores no verdict (a baseline; a test run written before
    test events stored the job's)."""
    return _n(d, "passed") > 0 and not (_n(d, "failed") or _n(d, "errors") or d.get("timed_out"))


def _test(d: Mapping[str, Any], title: str) -> Block:
    green = bool(d["green"]) if "green" in d else _old_green(d)
    failures = [f for f in d.get("failures", []) if isinstance(f, Mapping)]
    folds = tuple(
        Fold(
            f"{f.get('outcome', 'failed')}: {f.get('id', '?')}",
            "\n\n".join(str(f[k]) for k in ("message", "traceback") if f.get(k)),
        )
        for f in failures
    )
    shown = {f.get("id") for f in failures}
    items = tuple(f"failing: {i}" for i in d.get("failing", []) if i not in shown)
    facts = [("duration", f"{d['duration']} s")] if "duration" in d else []
    if d.get("targets"):
        items += tuple(f"target: {t}" for t in d["targets"])
    if d.get("note"):
        folds += (Fold("test output note", str(d["note"])),)
    status = "ok" if green else "bad"
    return Block("", "test", f"{title}: {_tests_line(d)}", status, tuple(facts), items, folds)


def _candidate(d: Mapping[str, Any]) -> Block:
    parts = [f"{len(d.get(k, []))} {k}" for k in ("added", "changed", "removed") if d.get(k)]
    diff = str(d.get("diff", ""))
    items = tuple(f"{k}: {p}" for k in ("added", "changed", "removed") for p in d.get(k, []))
    fold = Fold(f"diff: {diff.count(chr(10)):,} lines", diff, "diff")
    title = f"candidate {d.get('iteration', '?')}: " + (", ".join(parts) or "no change")
    return Block("", "candidate", title, items=items, folds=(fold,) if diff else ())


def _apply(d: Mapping[str, Any]) -> Block:
    failed = [f for f in d.get("failed", []) if isinstance(f, Mapping)]
    items = tuple(f"refused: {f.get('path', '?')}: {f.get('reason', '?')}" for f in failed)
    items += tuple(f"changed: {p}" for p in d.get("changed", []))
    if d.get("malformed"):
        return Block("", "edit", "edits: the reply had no edit in the required format", "bad")
    title = f"edits: {_n(d, 'applied')} applied, {len(failed)} refused"
    return Block("", "edit", title, "bad" if failed or not d.get("changed") else "ok", (), items)


def _plan(d: Mapping[str, Any]) -> Block:
    plan = mapping(d.get("plan"))
    files = [f for f in plan.get("files", []) if isinstance(f, Mapping)]
    items = tuple(f"{f.get('path', '?')}: {f.get('purpose', '')}" for f in files)
    fold = Fold("the plan as JSON", json.dumps(plan, indent=2, ensure_ascii=False))
    title = f"plan ({d.get('source', '?')}): {len(files)} files"
    return Block("", "plan", title, items=items, folds=(fold,))


def _switch(event: str, d: Mapping[str, Any]) -> Block:
    if event == "mode":
        why = "the best improved" if d.get("improved") else "no improvement"
        return Block("", "switch", f"next: {d.get('mode', '?')} ({why})")
    if event == "restart":
        return Block("", "switch", f"restart: a fresh sample at temperature {d.get('temperature')}")
    repeats = d.get("repeats")
    return Block("", "switch", f"repeat: code already tested came again ({repeats} in a row)")


def _as_text(value: object) -> str:
    """A value as text: strings as they are, a short list of scalars joined, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        joined = ", ".join(map(str, value))
        if len(joined) <= 120:
            return joined
    return json.dumps(value, ensure_ascii=False, indent=2)


def _generic(event: str, d: Mapping[str, Any]) -> Block:
    """Any event: short values as facts, long or nested ones as folds."""
    facts, folds = [], []
    for key, value in d.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        text = _as_text(value)
        if "\n" in text or len(text) > 120:
            folds.append(Fold(f"{key}: {len(text):,} chars", text))
        else:
            facts.append((str(key), text))
    return Block("", "other", event, facts=tuple(facts), folds=tuple(folds))


def _result(d: Mapping[str, Any]) -> Block:
    status = str(d.get("status", "?"))
    ok = "ok" if status == "green" else "bad"
    return Block("", "result", f"result: {status} ({d.get('exit_reason', '?')})", ok)


_SIMPLE: dict[str, Callable[[Mapping[str, Any]], Block]] = {
    "test": lambda d: _test(d, f"test run {d.get('iteration', '?')}"),
    "baseline": lambda d: _test(d, "baseline test run"),
    "candidate": _candidate,
    "apply": _apply,
    "plan": _plan,
    "result": _result,
    "files": lambda d: Block(
        "", "plan", "files written", items=tuple(map(str, d.get("paths", [])))
    ),
    "commit": lambda d: Block(
        "",
        "result",
        f"committed {str(d.get('sha'))[:10]} on {d.get('branch')}",
        "ok",
        items=tuple(map(str, d.get("files", []))),
    ),
}


_SHOWN = {
    "model": {"purpose", "prompt_tokens", "completion_tokens", "latency", "finish_reason", "cost",
              "reply"},
    "test": {"iteration", "passed", "failed", "errors", "timed_out", "failing", "failures", "note",
             "duration"},
    "baseline": {"passed", "failed", "errors", "timed_out", "failing", "failures", "note",
                 "duration", "targets"},
    "candidate": {"iteration", "added", "changed", "removed", "diff"},
    "apply": {"applied", "failed", "changed", "malformed"},
    "plan": {"source", "plan"},
    "mode": {"mode", "improved", "iteration"},
    "restart": {"iteration", "temperature"},
    "repeat": {"repeats", "iteration"},
    "result": {"status", "exit_reason"},
    "files": {"paths"},
    "commit": {"sha", "branch", "files"},
}  # fmt: skip
"""The fields each known kind's block shows; any other field is added to it as it is."""


def _known(run: RunRecord, index: int, name: str, data: Mapping[str, Any], call: int) -> Block:
    if name == "model":
        return _model(run, index, data, call)
    if name in ("mode", "restart", "repeat"):
        return _switch(name, data)
    return _SIMPLE[name](data)


def _block(run: RunRecord, index: int, event: dict[str, Any], call: int) -> Block:
    name = str(event.get("event", "?"))
    data = {k: v for k, v in event.items() if k not in ("ts", "event")}
    if name not in _SHOWN:
        return _generic(name, data)
    try:
        block = _known(run, index, name, data, call)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.info("event %d (%s) shown as it is: %s", index, name, exc)
        return _generic(name, data)
    extra = _generic(name, {k: v for k, v in data.items() if k not in _SHOWN[name]})
    return replace(block, facts=block.facts + extra.facts, folds=block.folds + extra.folds)


def blocks(run: RunRecord) -> list[Block]:
    """The run's events as blocks, in order, each with a unique anchor."""
    out: list[Block] = []
    calls = 0
    for index, event in enumerate(run.events):
        calls += event.get("event") == "model"
        block = _block(run, index, event, calls)
        out.append(replace(block, anchor=f"e{index + 1}", time=str(event.get("ts", ""))))
    return out
