"""Record and replay: a run's model calls in a JSONL cassette.

`RecordingModel` appends one line per call as it happens (flushed per line, so
a crash loses at most the call in flight). `ReplayModel` answers from a
cassette by a stable hash of the request (the messages and the options the
caller passed), with no model at all; a request that is not there raises
`ReplayMiss` showing the closest recorded request and where it differs.
The same request recorded several times (sampling) replays in recorded order.
`ResumingModel` continues a killed run: what its cassette holds is answered from
it, anything else goes to the live model.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import stat
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from agent.errors import ConfigError, ReplayMiss
from agent.model.base import ChatModel, Completion, CompletionOpts, Message

__all__ = [
    "MAX_CASSETTE_BYTES",
    "Cassette",
    "CassetteEntry",
    "RecordingModel",
    "ReplayModel",
    "ResumingModel",
    "check_cassette",
    "request_key",
]

log = logging.getLogger(__name__)

_FORMAT = 1
_DIFF_LINES = 20
MAX_CASSETTE_BYTES = 64 * 1024 * 1024
"""The largest cassette --replay reads: far above a long run's, far below what hurts memory."""
_RECORD_FIX = "give the cassette.jsonl of an earlier run, or record one by running without --replay"


def check_cassette(path: Path) -> None:
    """Refuse a replay cassette that is missing, not a regular file, or over the cap.

    Decided by `os.stat`, before anything opens it: a FIFO would block the open,
    a device like /dev/zero would be read without end.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as e:
        raise ConfigError(f"replay cassette {path} not found", fix=_RECORD_FIX) from e
    except OSError as e:
        raise ConfigError(f"cannot read cassette {path}: {e.strerror}", fix=_RECORD_FIX) from e
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"replay cassette {path} is {_kind(info.st_mode)}, not a regular file", fix=_RECORD_FIX
        )
    if info.st_size > MAX_CASSETTE_BYTES:
        raise ConfigError(
            f"replay cassette {path} is {info.st_size} bytes, over the "
            f"{MAX_CASSETTE_BYTES}-byte cap",
            fix="replay a shorter run, or split the cassette",
        )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket or other special file"


def _read_cassette(path: Path) -> str:
    """The cassette's text, read only once `check_cassette` passed, and never past the cap.

    O_NONBLOCK and the second look: should a FIFO be swapped in after the check,
    the open does not block and the file is refused unread.
    """
    check_cassette(path)
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ConfigError(f"replay cassette {path} is not a regular file", fix=_RECORD_FIX)
        data = f.read(MAX_CASSETTE_BYTES + 1)
    if len(data) > MAX_CASSETTE_BYTES:
        raise ConfigError(
            f"replay cassette {path} grew over the {MAX_CASSETTE_BYTES}-byte cap",
            fix="replay a shorter run, or split the cassette",
        )
    return data.decode("utf-8")


def _normal_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The options that change an answer, in a canonical JSON-able form."""
    out: dict[str, Any] = {}
    if opts.get("temperature") is not None:
        out["temperature"] = float(opts["temperature"])
    for name in ("max_tokens", "seed"):
        if opts.get(name) is not None:
            out[name] = int(opts[name])
    if opts.get("stop"):
        out["stop"] = [str(s) for s in opts["stop"]]
    if opts.get("code"):
        out["code"] = str(opts["code"])
    if opts.get("json_schema"):
        # through JSON, so a recorded schema and the asked one compare as equals
        out["json_schema"] = json.loads(json.dumps(opts["json_schema"], sort_keys=True))
    return out


def request_key(messages: Sequence[Message], opts: Mapping[str, Any]) -> str:
    """A stable hash of a request: its messages and the options that change the answer."""
    canonical = json.dumps(
        {"messages": [m.to_dict() for m in messages], "opts": _normal_opts(opts)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class CassetteEntry:
    """One recorded call."""

    key: str
    messages: tuple[Message, ...]
    opts: Mapping[str, Any]
    completion: Completion
    model: str
    """The name of the model that was recorded."""


class Cassette:
    """A JSONL file of recorded calls; appending is thread-safe."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(
        self, model: str, messages: Sequence[Message], opts: Mapping[str, Any], c: Completion
    ) -> None:
        line = {
            "v": _FORMAT,
            "key": request_key(messages, opts),
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "model": model,
            "request": {"messages": [m.to_dict() for m in messages], "opts": _normal_opts(opts)},
            "completion": c.to_dict(),
        }
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(text)
                f.flush()

    def entries(self) -> list[CassetteEntry]:
        """Every recorded call; a truncated last line (a crash mid-write) is skipped."""
        try:
            lines = _read_cassette(self.path).splitlines()
        except UnicodeDecodeError as e:
            raise ConfigError(f"cassette {self.path} is not UTF-8 text", fix=_RECORD_FIX) from e
        except OSError as e:
            raise ConfigError(f"cannot read cassette {self.path}: {e.strerror}") from e
        entries = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entries.append(_parse_line(line))
            except (ValueError, KeyError, TypeError) as e:
                if number == len(lines):
                    log.warning("%s: skipping a truncated last line", self.path)
                    continue
                raise ConfigError(f"cassette {self.path}, line {number}: not a record ({e})") from e
        return entries


def _parse_line(line: str) -> CassetteEntry:
    data = json.loads(line)
    request = data["request"]
    messages = tuple(Message(m["role"], m["content"]) for m in request["messages"])
    return CassetteEntry(
        key=str(data["key"]),
        messages=messages,
        opts=dict(request.get("opts", {})),
        completion=Completion.from_dict(data["completion"]),
        model=str(data.get("model", "")),
    )


class RecordingModel:
    """Wraps a model; every answered call is appended to the cassette as it happens."""

    def __init__(self, inner: ChatModel, cassette: Cassette | Path | str) -> None:
        self.inner = inner
        self.cassette = cassette if isinstance(cassette, Cassette) else Cassette(cassette)
        self.name: str = inner.name

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        completion = self.inner.complete(messages, **opts)
        self.cassette.append(self.name, messages, opts, completion)
        return completion


class _Recorded:
    """A cassette's completions, each served once, found by one or more keys in turn
    (`keyings`: how an entry's key is made for each), in recorded order."""

    def __init__(
        self, entries: Sequence[CassetteEntry], keyings: Sequence[Callable[[CassetteEntry], str]]
    ) -> None:
        self._entries = entries
        self._tables: list[dict[str, deque[int]]] = [{} for _ in keyings]
        for index, entry in enumerate(entries):
            for table, keying in zip(self._tables, keyings, strict=True):
                table.setdefault(keying(entry), deque()).append(index)
        self._served: set[int] = set()
        self._lock = threading.Lock()

    def take(self, keys: Sequence[str]) -> Completion | None:
        """The first recorded completion not yet served under the first key that has one
        (keys in the order of the keyings); None when there is none."""
        with self._lock:
            for table, key in zip(self._tables, keys, strict=True):
                queue = table.get(key, deque())
                while queue:
                    index = queue.popleft()
                    if index not in self._served:
                        self._served.add(index)
                        return self._entries[index].completion
        return None

    def served(self, key: str) -> int:
        """How many completions recorded under this exact request were served."""
        with self._lock:
            return sum(1 for i in self._served if self._entries[i].key == key)


def _exact(entry: CassetteEntry) -> str:
    return entry.key


class ReplayModel:
    """Answers from a cassette: the recorded completion, identical, for the same request."""

    def __init__(self, cassette: Cassette | Path | str) -> None:
        self.cassette = cassette if isinstance(cassette, Cassette) else Cassette(cassette)
        self._entries = self.cassette.entries()
        self._recorded = _Recorded(self._entries, [_exact])
        recorded = next((e.model for e in self._entries if e.model), "empty")
        self.name: str = f"replay:{recorded}"

    def __len__(self) -> int:
        return len(self._entries)

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        key = request_key(messages, opts)
        completion = self._recorded.take([key])
        if completion is not None:
            return completion
        served = self._recorded.served(key)
        if served:
            raise ReplayMiss(
                f"request asked {served + 1} times under replay of {self.cassette.path}, "
                f"recorded {served} times",
                fix="re-record the run without --replay",
            )
        raise ReplayMiss(
            self._explain_miss(messages, opts),
            fix="undo the change to the prompt, or re-record the run without --replay",
        )

    def _explain_miss(self, messages: Sequence[Message], opts: Mapping[str, Any]) -> str:
        head = f"request not in cassette {self.cassette.path} ({len(self._entries)} recorded calls)"
        if not self._entries:
            return head
        best = max(self._entries, key=lambda e: _similarity(e.messages, messages))
        index = self._entries.index(best) + 1
        return f"{head}\nclosest recorded call (#{index}): {_difference(best, messages, opts)}"


_VOLATILE = re.compile(r"0x[0-9a-fA-F]+|\d+")
"""What a test run's output holds that no code decides: object addresses, durations, counts
of a random seed... (every number, to be safe: the rest of the request must match)."""


def _loose_key(messages: Sequence[Message], opts: Mapping[str, Any]) -> str:
    """The request's key with its numbers and addresses set aside."""
    loose = [Message(m.role, _VOLATILE.sub("#", m.content)) for m in messages]
    return request_key(loose, opts)


def _loose_entry(entry: CassetteEntry) -> str:
    return _loose_key(entry.messages, entry.opts)


class ResumingModel:
    """A killed run's cassette first, then the live model: a request the cassette holds
    (not yet served) is answered from it, for nothing; any other goes to `inner`.

    A resumed run asks what the killed one asked, in the same order where it matters,
    until it passes the point of the kill: from there every request is new. The test
    output a request quotes can differ in what no code decides (`<Cart object at
    0x7f0c...>`, "in 0.53s"), so a request the cassette does not hold exactly is matched
    with its numbers set aside, in recorded order. `replayed` and `live` count the two
    kinds of answer."""

    def __init__(self, inner: ChatModel, earlier: Cassette | Path | str) -> None:
        self.inner = inner
        cassette = earlier if isinstance(earlier, Cassette) else Cassette(earlier)
        entries = cassette.entries()
        self.recorded = len(entries)
        """How many calls the killed run's cassette holds."""
        self._recorded = _Recorded(entries, [_exact, _loose_entry])
        self.name: str = inner.name
        self.replayed = 0
        self.live = 0
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        keys = [request_key(messages, opts), _loose_key(messages, opts)]
        completion = self._recorded.take(keys)
        with self._lock:
            if completion is None:
                self.live += 1
            else:
                self.replayed += 1
        return completion if completion is not None else self.inner.complete(messages, **opts)


def _similarity(recorded: Sequence[Message], asked: Sequence[Message]) -> tuple[int, bool, float]:
    same = _common_prefix(recorded, asked)
    ratio = 1.0
    if same < min(len(recorded), len(asked)):
        a, b = recorded[same].content, asked[same].content
        ratio = difflib.SequenceMatcher(None, a[:4000], b[:4000]).quick_ratio()
    return same, len(recorded) == len(asked), ratio


def _common_prefix(a: Sequence[Message], b: Sequence[Message]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _difference(entry: CassetteEntry, messages: Sequence[Message], opts: Mapping[str, Any]) -> str:
    same = _common_prefix(entry.messages, messages)
    if same == len(entry.messages) == len(messages):
        return (
            f"same messages, different options: recorded {dict(entry.opts)}, "
            f"asked {_normal_opts(opts)}"
        )
    if same >= min(len(entry.messages), len(messages)):
        return (
            f"the first {same} messages match; recorded {len(entry.messages)} messages, "
            f"asked {len(messages)}"
        )
    old, new = entry.messages[same], messages[same]
    diff = difflib.unified_diff(
        f"{old.role}: {old.content}".splitlines(),
        f"{new.role}: {new.content}".splitlines(),
        "recorded",
        "asked",
        lineterm="",
        n=1,
    )
    lines = list(diff)
    if len(lines) > _DIFF_LINES:
        lines = [*lines[:_DIFF_LINES], f"... ({len(lines) - _DIFF_LINES} more diff lines)"]
    return f"message {same + 1} ({new.role}) differs:\n" + "\n".join(lines)
