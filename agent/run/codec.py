"""The trajectory's one codec: an event as a line of `trajectory.jsonl`, and lines as events.

    FORMAT_LINE                                # the first line of every trajectory
    line = encode(event, ts)                   # what `RunDir.append` writes
    entries = read_events(path, strict=True)   # [Entry(ts, event), ...]
    dicts = read_trajectory(path)              # lenient, each {"ts", "event", **fields}

A line is `{"ts": ..., "event": <kind>, **fields}`: the event's fields in the order
its class declares them, an optional one left out while it holds its default. The
first line names the format, `{"event": "format", "version": 2}`; a file without
it is format 1, written before events had classes: the same lines, a few kinds
with fewer fields (a test run without its `green`, a confirmation without its
failures), which a strict read refuses and a lenient one keeps as `Unknown`.

Read strictly, a line that is not a JSON object, of a kind no class has, or whose
fields do not fit its class (missing, unknown or mistyped) raises ValueError
naming the file and line. Read leniently (a page shows whatever a record holds),
such a line is kept as an `Unknown`: its kind (or "unreadable") and its data as
written. Either way a torn last line (the writer was killed mid-write) is
skipped with a warning, and a missing file reads as no events.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agent.run.candidates import (
    CandidateChange,
    Candidates,
    Confirm,
    ConfirmAlone,
    TestRun,
)
from agent.run.events import (
    Apply,
    BaselineRun,
    Commit,
    DefinitionsRestored,
    Event,
    Files,
    ImportsRestored,
    InvalidPlan,
    Localized,
    Malformed,
    MisnamedBlock,
    ModelCall,
    ModeSwitch,
    NotCommitted,
    PlanChosen,
    PlanSkipped,
    Refused,
    Rejected,
    Repeat,
    Restart,
    Result,
    Resumed,
    SelfImportDropped,
    Syntax,
    SyntaxTrimmed,
    Tampered,
)

__all__ = [
    "EVENTS",
    "FORMAT",
    "FORMAT_LINE",
    "Entry",
    "Unknown",
    "dumps",
    "encode",
    "event_fields",
    "read_events",
    "read_trajectory",
]

log = logging.getLogger(__name__)

FORMAT = 2
"""The trajectory format this codec writes: 1 had no format line and no event classes."""
FORMAT_LINE = (json.dumps({"event": "format", "version": FORMAT}) + "\n").encode()

EVENTS: dict[str, type[Event]] = {
    kind.name: kind
    for kind in (
        ModelCall, PlanChosen, InvalidPlan, PlanSkipped, Files, Rejected, Refused,
        Syntax, SyntaxTrimmed, MisnamedBlock, SelfImportDropped, ImportsRestored,
        DefinitionsRestored, BaselineRun, Localized, TestRun, CandidateChange,
        Candidates, ConfirmAlone, Apply, Malformed, ModeSwitch, Restart, Repeat,
        Tampered, Confirm, Commit, NotCommitted, Result, Resumed,
    )
}  # fmt: skip
"""Each kind of event by the name its lines hold."""


# ---------------------------------------------------------------- writing


def _jsonable(value: object) -> object:
    """How values that json cannot take are written (a nested event part, a path...)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    model_dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(model_dump):
        return model_dump(mode="json")
    return repr(value)


def dumps(obj: Mapping[str, Any], *, indent: int | None = None) -> str:
    """A run record's JSON (a trajectory line, `result.json`): anything written somehow."""
    return json.dumps(obj, default=_jsonable, ensure_ascii=False, indent=indent)


def _plain(value: object) -> Any:
    """`value` with JSON's shapes: a tuple as a list, a nested event part as an object."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def event_fields(event: Event) -> dict[str, Any]:
    """The event's fields as its line holds them: in order, an optional one left out while
    it holds its default, with JSON's shapes (lists, objects)."""
    return {
        f.name: _plain(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.default is dataclasses.MISSING or getattr(event, f.name) != f.default
    }


def encode(event: Event, ts: str) -> bytes:
    """The event's line, written at `ts`."""
    return (dumps({"ts": ts, "event": event.name, **event_fields(event)}) + "\n").encode()


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Unknown:
    """What a lenient read keeps of a line it cannot type: its kind ("unreadable" for a
    line that is not a JSON object) and its data as written."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """One line of a trajectory, read: when it was written, and its event."""

    ts: str
    event: Event | Unknown

    @property
    def kind(self) -> str:
        return self.event.kind if isinstance(self.event, Unknown) else self.event.name

    def as_dict(self) -> dict[str, Any]:
        """The line as a JSON object: {"ts", "event", **fields} (no "ts" where it had none)."""
        data = self.event.data if isinstance(self.event, Unknown) else event_fields(self.event)
        return {**({"ts": self.ts} if self.ts else {}), "event": self.kind, **data}


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Event]:
    """The check of a line against its class, made once a kind."""
    return TypeAdapter(EVENTS[kind])


def _why(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg'].lower()}" for e in exc.errors()
    )


def _event(obj: dict[str, Any], where: str, strict: bool) -> Entry:
    """A JSON object as an entry: typed by its kind, or (lenient) kept as it is."""
    kind, ts = str(obj.get("event", "?")), obj.get("ts")
    if strict and not isinstance(ts, str):
        raise ValueError(f"{where}: an event with no time (ts)")
    ts = ts if isinstance(ts, str) else ""
    data = {k: v for k, v in obj.items() if k not in ("ts", "event")}
    if kind not in EVENTS:
        if strict:
            raise ValueError(f"{where}: no kind of event is called {kind!r}")
        return Entry(ts, Unknown(kind, data))
    try:
        event = _adapter(kind).validate_python(data)
    except ValidationError as exc:
        if strict:
            raise ValueError(f"{where}: a {kind!r} event that does not fit: {_why(exc)}") from None
        return Entry(ts, Unknown(kind, data))
    return Entry(ts, event)


def _version(obj: object, where: str, strict: bool) -> bool:
    """Whether `obj` is a format line (the first line); refused when the format is newer."""
    if not isinstance(obj, dict) or obj.get("event") != "format":
        return False
    version = obj.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT:
        if strict:
            raise ValueError(f"{where}: format {version!r}: this greenloop reads 1 to {FORMAT}")
        log.warning("%s: format %r, read as far as it goes", where, version)
    return True


def read_events(path: Path, *, strict: bool) -> list[Entry]:
    """Every complete event in a trajectory file, in order (see the module's docstring)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    entries: list[Entry] = []
    first = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == len(lines):
                log.warning("%s: skipping a torn last line (%d bytes)", path, len(line))
                break
            if strict:
                raise ValueError(f"{where} is not a JSON line: {exc}") from exc
            obj = None
        if first:
            first = False
            if _version(obj, where, strict):
                continue
        if isinstance(obj, dict):
            entries.append(_event(obj, where, strict))
        elif strict:
            raise ValueError(f"{where} is not a JSON object")
        else:
            text = line.decode("utf-8", errors="replace")
            entries.append(Entry("", Unknown("unreadable", {"line": number, "text": text})))
    return entries


def read_trajectory(path: Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """Every complete event in a trajectory file as its JSON object, `{"ts", "event",
    **fields}`; read leniently unless `strict`."""
    return [entry.as_dict() for entry in read_events(path, strict=strict)]
