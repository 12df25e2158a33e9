"""One long tool call: the greenloop command line run as a child process, watched.

    session = Session.start(["new", spec, "--out", out, "--json"], watch=out_runs, model=m)
    outcome = await drive(session, ctx)        # an Outcome, or an InputRequiredResult

The child is the CLI itself, so every guard of the CLI holds and a cancellation is
exactly a Ctrl-C: SIGINT to its process group, then it removes its sandboxes, puts
the repository back and writes its record (it gets `GRACE` seconds, then SIGKILL).
While it runs, the call sends MCP progress notifications from its record (test runs,
counts, tokens) and, under `--model client`, answers its model requests with the
client's sampling (`agent.mcp.sampling`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import InputRequiredResult
from mcp_types.version import is_version_at_least

from agent.mcp.sampling import Ask, ClientModel, completion_of
from agent.model.serve.endpoint import Endpoint
from agent.run.candidates import Candidates, Confirm, TestRun
from agent.run.codec import Entry, read_events
from agent.run.events import BaselineRun, ModelCall

__all__ = ["GRACE", "BatchProgress", "Outcome", "Progress", "RunProgress", "Session", "drive"]

GRACE = 60.0
"""Seconds a cancelled run gets to clean up, as `greenloop batch --grace` gives tasks."""
IDLE = 900.0
"""A run waiting this long for a client that never called again is stopped."""
_POLL = 0.1
_INPUT_REQUIRED = "2026-07-28"
_CLI = "from agent.cli.app import main; main()"
_sessions: dict[str, Session] = {}


@dataclass
class Outcome:
    """How the child ended: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The JSON the child printed (`--json`); a ToolError with its message when none."""
        start = self.stdout.find("{")
        if start >= 0:
            try:
                found = json.JSONDecoder().raw_decode(self.stdout[start:])[0]
            except json.JSONDecodeError:
                found = None
            if isinstance(found, dict):
                return found
        raise ToolError(self.error())

    def error(self) -> str:
        """The CLI's own message (its "error:" and "fix:" lines), or the end of stderr."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        said = [ln for ln in lines if ln.startswith(("error:", "fix:", "  fix:"))]
        return "\n".join(said or lines[-5:]) or f"greenloop exited with {self.code}"


class RunProgress:
    """What a `new` or `fix` run did so far, from the trajectory of the run folder it
    made (or resumed) under `runs` since the call began; read again only when it grew."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.since = time.time() - 1
        self._size = -1

    def look(self) -> str | None:
        fresh = [p for p in self.runs.glob("*/trajectory.jsonl") if p.stat().st_mtime >= self.since]
        if not fresh:
            return None
        trajectory = max(fresh, key=lambda p: p.stat().st_mtime)
        size = trajectory.stat().st_size
        if size == self._size:
            return None
        self._size = size
        return _summary(read_events(trajectory, strict=False))


def _summary(entries: list[Entry]) -> str | None:
    """Test runs, the last one's counts, model calls and tokens (None: nothing yet)."""
    tests, calls, tokens, last = 0, 0, 0, "none yet"
    for entry in entries:
        event = entry.event
        if isinstance(event, ModelCall):
            calls, tokens = calls + 1, tokens + event.prompt_tokens + event.completion_tokens
        elif isinstance(event, TestRun | BaselineRun | Confirm):
            tests += 1
            last = f"{event.passed} passed, {event.failed} failed, {event.errors} errors"
        elif isinstance(event, Candidates):
            tests += 1
    if not (tests or calls):
        return None
    return f"{tests} test run(s), last {last}; {calls} model call(s), {tokens:,} tokens"


class BatchProgress:
    """How many of a batch's tasks are done (their `result.json` under `tasks`)."""

    def __init__(self, tasks: Path) -> None:
        self.tasks = tasks

    def look(self) -> str | None:
        done = sum(1 for _ in self.tasks.glob("*/result.json"))
        return f"{done} task(s) done" if done else None


Progress = RunProgress | BatchProgress


@dataclass
class Session:
    """A running child, its model bridge, where its progress is read and what it said
    last."""

    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]
    watch: Progress | None
    model: ClientModel | None
    closing: ExitStack
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pending: Ask | None = None
    last_seen: float = field(default_factory=time.monotonic)
    said: str = ""

    @classmethod
    def start(cls, args: list[str], watch: Progress | None, client_model: bool) -> Session:
        """Start `greenloop <args>`; with `client_model`, its model is the MCP client's."""
        closing = ExitStack()
        env = dict(os.environ)
        model = None
        if client_model:
            model, key = ClientModel(), secrets.token_urlsafe(24)
            url = closing.enter_context(Endpoint(model, alias="client", key=key))
            args = [*args, "--model", "client", "--base-url", url]
            env["OPENAI_API_KEY"] = key
        out = closing.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed by closing)
        err = closing.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-c", _CLI, *args], stdin=subprocess.DEVNULL, stdout=out,
            stderr=err, env=env, start_new_session=True,
        )  # fmt: skip
        return cls(proc, out, err, watch, model, closing)

    def outcome(self) -> Outcome:
        code = self.proc.wait()
        texts = []
        for stream in (self.out, self.err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", errors="replace"))
        self.closing.close()
        return Outcome(code, *texts)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the child's process group; SIGKILL after `GRACE` seconds."""
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.closing.close()

    def progress(self) -> str | None:
        """What the run did since the last look, as one line (None: nothing new)."""
        said = self.watch.look() if self.watch is not None else None
        if said is None or said == self.said:
            return None
        self.said = said
        return said


def _modern(ctx: Context[Any, Any]) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _INPUT_REQUIRED)


def resumed(ctx: Context[Any, Any]) -> Session | None:
    """The session a client's call answers (its `request_state`), with the answer given
    to the run's waiting request; None for a new call."""
    _stop_abandoned()
    token = ctx.request_state
    if not token:
        return None
    session = _sessions.pop(token, None)
    if session is None or session.pending is None:
        raise ToolError("this call answers a run that is no longer waiting (it ended or was "
                        "stopped): call the tool again to start a new run")  # fmt: skip
    ask, session.pending = session.pending, None
    answers: Mapping[str, Any] = ctx.input_responses or {}
    if ask.id in answers:
        ask.answer(completion_of(answers[ask.id], ask))
    else:
        ask.fail("the client sent no answer to the sampling request")
    return session


def _stop_abandoned() -> None:
    now = time.monotonic()
    for token, session in list(_sessions.items()):
        if now - session.last_seen > IDLE:
            del _sessions[token]
            if session.pending is not None:
                session.pending.fail("the client stopped answering")
            threading.Thread(target=session.interrupt, daemon=True).start()


async def drive(session: Session, ctx: Context[Any, Any]) -> Outcome | InputRequiredResult:
    """Watch the child to its end: progress as it goes, its model requests to the client.
    On a 2026-07-28 connection a model request ends this call with an
    `InputRequiredResult`; the client's next call (`resumed`) carries the answer and
    drives on. Cancelled: the child is interrupted as by Ctrl-C, then the call ends."""
    step = 0
    try:
        while session.proc.poll() is None:
            said = session.progress()
            if said is not None:
                step += 1
                await ctx.report_progress(step, None, said)
            ask = session.model.next_ask() if session.model else None
            if ask is not None:
                if _modern(ctx):
                    session.pending, session.last_seen = ask, time.monotonic()
                    _sessions[session.token] = session
                    return InputRequiredResult(input_requests={ask.id: ask.request()},
                                               request_state=session.token)  # fmt: skip
                await _sample(ctx, ask)
            await anyio.sleep(_POLL)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(session.interrupt)
        raise
    return await anyio.to_thread.run_sync(session.outcome)


async def _sample(ctx: Context[Any, Any], ask: Ask) -> None:
    """Ask the client mid-call (handshake-era connections)."""
    params = ask.request().params
    try:
        result = await ctx.session.create_message(
            params.messages,
            max_tokens=params.max_tokens,
            system_prompt=params.system_prompt,
            temperature=params.temperature,
            stop_sequences=params.stop_sequences,
        )
    except Exception as exc:  # the client refused or failed: the run is told why
        ask.fail(str(exc))
        return
    ask.answer(completion_of(result, ask))
