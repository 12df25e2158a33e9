"""Test several candidates at once: each in its own folder, all in one sandbox exec.

    reports = run_pytest_together(sandbox, ["candidate-0", "candidate-1"], args, timeout)

Each folder holds one candidate project (its files and the acceptance tests).
Every candidate goes through `sandbox.testrun.run_pytest`, the one route from
a pytest run to a `TestReport`, with the same canaries, the same report
channel on fd 3 and the same checks as a run alone: that function runs in one
thread per candidate against a stand-in sandbox (`_Member`) whose workspace is
the candidate's folder. The stand-ins do not run their commands themselves:
they hand them to a shared round, and when every candidate still running has
handed in its command, the round runs them all in one exec.

The round's exec is itself a report command (`run_report`): in it a small
runner (`_ROUND`) starts every member in its folder with fd 3 onto a pipe of
its own, its output onto another, under its own timeout (its process group
killed when over), and waits for them all. Then the runner alone writes one
JSON document onto the round's own channel: each member's exit code, duration,
output and channel bytes. A member never holds the round's channel, nor any
other member's: what its code writes to fd 3 lands in its own channel, where
`run_pytest` sees it beside its judge's document (forged), exactly as in a
run alone. The runner makes itself non-dumpable, so no member can open
`/proc/<runner>/fd` (nor, since each member's judge and pytest process do the
same, another member's); nothing about the round is secret in its argv. A
round channel that is anything but the runner's one document (a second
document, bytes around it) marks every member's report tampered; a round
whose runner did not exit 0 (killed, timed out) is lost, never judged.

Why one exec and not several at once: the Docker sandbox kills whatever is
left of a command's processes when it ends (its reaper), which would kill the
other candidates' test runs still going.

Candidates share the sandbox user: one candidate's code could meddle with
another's run. A caller that acts on a green from here confirms it alone
first (`agent.run.loop` does).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

from sandbox.base import ExecResult, Suite, TestReport
from sandbox.config import SandboxConfig
from sandbox.testrun import REPORT_CAP, run_pytest
from sandbox.toolchains import toolchain

__all__ = ["FOLDER", "run_projects_together", "run_pytest_together", "workspace_root"]

log = logging.getLogger(__name__)

_SLACK = 15.0
"""Seconds the round's exec may run beyond its longest member's timeout."""
_MEMBER_OUTPUT = 320 * 1024
"""Output kept per member (its head)."""
_LINGER = 2.0
"""Seconds the runner waits for a member's pipes to close after its process ended."""
_SHARE_OVER = 1024
"""Arguments this long travel once per round, not once per member."""
FOLDER = "candidate-{}"
"""The workspace folder of the i-th project `run_projects_together` tests."""

# Runs inside the sandbox as `python3 -c`, argv[1] the round as JSON. Its fd 3 is the
# round's report channel; nothing it starts inherits it (close_fds).
_ROUND = """\
import base64, json, os, signal, subprocess, sys, threading, time
try:
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
except (OSError, AttributeError):
    pass
spec = json.loads(sys.argv[1])
SHARED = sys.argv[2:]  # long arguments every member shares (the judge's programs), once
def word(arg):
    return SHARED[arg["shared"]] if isinstance(arg, dict) else arg
MOVE = "import os,sys\\nos.dup2(int(sys.argv[1]),3)\\nos.execvp(sys.argv[2],sys.argv[2:])"

def drain(fd, cap, box):
    data = box["data"]
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        if len(data) <= cap:
            data += chunk[: cap + 1 - len(data)]
        box["over"] = len(data) > cap
    box["eof"] = True

def encoded(box, cap):
    return base64.b64encode(bytes(box["data"][:cap])).decode()

members = []
for m in spec["members"]:
    report_r, report_w = os.pipe()
    out_r, out_w = os.pipe()
    box = {"start": time.monotonic(), "report": {}, "out": {}}
    try:
        box["proc"] = subprocess.Popen(
            [sys.executable, "-c", MOVE, str(report_w), *map(word, m["argv"])], cwd=m["folder"],
            stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(report_w,),
            start_new_session=True)
    except OSError as exc:
        box["proc"], box["error"] = None, str(exc)
    os.close(report_w)
    os.close(out_w)
    for fd, key in ((report_r, "report"), (out_r, "out")):
        cap = spec[key + "_cap"]
        box[key] = {"data": bytearray(), "over": False}
        threading.Thread(target=drain, args=(fd, cap, box[key]), daemon=True).start()
    box["timeout"] = m["timeout"]
    members.append(box)

def kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass

results = []
for box in members:
    proc, timed_out = box["proc"], False
    if proc is None:
        rc, end = 127, time.monotonic()
    else:
        try:
            rc = proc.wait(max(0.0, box["start"] + box["timeout"] - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(proc)
            rc, timed_out = proc.wait(), True
        end = time.monotonic()
        linger = end + spec["linger"]
        while time.monotonic() < linger and not all(box[k].get("eof") for k in ("report", "out")):
            time.sleep(0.02)
        kill(proc)
    rc = 128 - rc if rc < 0 else rc
    box["out"]["data"] += box.get("error", "").encode()
    results.append({
        "rc": -1 if timed_out else rc, "timed_out": timed_out, "duration": end - box["start"],
        "output": encoded(box["out"], spec["out_cap"]), "truncated": box["out"]["over"],
        "channel": None if box["report"]["over"] else encoded(box["report"], spec["report_cap"]),
    })
doc = json.dumps({"round": 1, "members": results}).encode()
while doc:
    doc = doc[os.write(3, doc):]
os.close(3)
"""


class _Host(Protocol):
    """What a round needs of the real sandbox."""

    config: SandboxConfig

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult: ...

    def write(self, files: Mapping[str, str | bytes]) -> None: ...

    def run_report(
        self, argv: Sequence[str], timeout: float
    ) -> tuple[ExecResult, bytes | None]: ...


def workspace_root(sandbox: Any) -> str:
    """Where the sandbox's workspace is, as its commands see it (the local one: its folder)."""
    root = getattr(sandbox, "root", None)
    return str(root) if root is not None else str(sandbox.config.workdir)


def run_projects_together(
    sandbox: Any,
    projects: Sequence[Mapping[str, str]],
    args: Sequence[str],
    timeout: float,
    suites: Sequence[Suite] | None = None,
) -> list[TestReport]:
    """Empty the workspace, write each project into its own folder, test them all at once
    (`suites`: each project's tests to disguise and files to watch, folder-relative).
    A toolchain other than Python's judges one project at a time, each alone in the
    emptied workspace: the round above is pytest's (its judge, its report channel)."""
    if not toolchain(_toolchain_of(sandbox)).together:
        chosen = list(suites) if suites is not None else [Suite()] * len(projects)
        reports = []
        for files, suite in zip(projects, chosen, strict=True):
            sandbox.reset()
            sandbox.write(dict(files))
            reports.append(sandbox.run_tests(list(args), timeout=timeout, suite=suite))
        return reports
    folders = [FOLDER.format(i) for i in range(len(projects))]
    sandbox.reset()
    sandbox.write(
        {
            f"{folder}/{path}": text
            for folder, files in zip(folders, projects, strict=True)
            for path, text in files.items()
        }
    )
    return run_pytest_together(sandbox, folders, args, timeout, suites)


def _toolchain_of(sandbox: Any) -> str:
    """The toolchain of `sandbox` (through the wrappers that hold an `inner` one)."""
    while getattr(sandbox, "config", None) is None and getattr(sandbox, "inner", None):
        sandbox = sandbox.inner
    config = getattr(sandbox, "config", None)
    return str(getattr(config, "toolchain", "python") or "python")


def run_pytest_together(
    sandbox: Any,
    folders: Sequence[str],
    args: Sequence[str] = (),
    timeout: float = 120.0,
    suites: Sequence[Suite] | None = None,
) -> list[TestReport]:
    """One report per folder (workspace-relative), from one exec that tests them all."""
    if not folders:
        return []
    base = workspace_root(sandbox).rstrip("/")
    rounds = _Rounds(sandbox, list(folders))
    members = [_Member(sandbox, rounds, i, f, base) for i, f in enumerate(folders)]
    chosen = list(suites) if suites is not None else [Suite()] * len(members)

    def one(member: _Member) -> TestReport:
        try:
            suite = chosen[member.index]
            report = run_pytest(member, args, timeout, root=member.root, suite=suite)
        finally:
            rounds.leave(member.index)
        if rounds.forged:
            log.warning("tampered round of candidates: %s", rounds.forged)
            return replace(report, tampered=rounds.forged)
        return report

    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return list(pool.map(one, members))


class _Member:
    """A stand-in sandbox for one candidate: its folder is the workspace."""

    def __init__(self, host: _Host, rounds: _Rounds, index: int, folder: str, base: str) -> None:
        self.root = f"{base}/{folder}"
        self.config = host.config.model_copy(update={"workdir": self.root})
        self.host, self.folder = host, folder
        self.rounds, self.index = rounds, index

    def run_report(self, argv: Sequence[str], timeout: float) -> tuple[ExecResult, bytes | None]:
        """Hand the command to the round; this member's result and its own channel."""
        return self.rounds.run(self.index, list(argv), timeout)


_Result = tuple[ExecResult, bytes | None]


class _Rounds:
    """Collects each running member's next command; the last to hand one in runs the round."""

    def __init__(self, sandbox: _Host, folders: list[str]) -> None:
        self.sandbox, self.folders = sandbox, folders
        self.active = len(folders)
        self.pending: dict[int, tuple[list[str], float]] = {}
        self.done: dict[int, _Result | BaseException] = {}
        self.forged = ""
        self.cond = threading.Condition()

    def run(self, index: int, argv: list[str], timeout: float) -> _Result:
        with self.cond:
            self.pending[index] = (argv, timeout)
            self._fire_when_full()
            while index not in self.done:
                self.cond.wait()
            result = self.done.pop(index)
        if isinstance(result, BaseException):
            raise result
        return result

    def leave(self, index: int) -> None:
        with self.cond:
            self.active -= 1
            self._fire_when_full()

    def _fire_when_full(self) -> None:
        """Run the round once every active member waits in it (called under the lock)."""
        if not self.pending or len(self.pending) < self.active:
            return
        batch, self.pending = self.pending, {}
        try:
            results: dict[int, _Result | BaseException] = dict(self._exec(batch))
        except Exception as exc:  # every waiting member re-raises it
            results = dict.fromkeys(batch, exc)
        self.done.update(results)
        self.cond.notify_all()

    def _exec(self, batch: dict[int, tuple[list[str], float]]) -> dict[int, _Result]:
        order = sorted(batch)
        output_cap = min(_MEMBER_OUTPUT, max(4096, self.sandbox.config.output_bytes))
        shared: list[str] = []
        spec = {
            "members": [
                {
                    "folder": self.folders[i],
                    "argv": _sharing(batch[i][0], shared),
                    "timeout": batch[i][1],
                }
                for i in order
            ],
            "out_cap": output_cap,
            "linger": _LINGER,
            "report_cap": REPORT_CAP * 3 // (4 * len(order)) - output_cap - 4096,
        }
        limit = max(t for _, t in batch.values()) + _SLACK
        result, channel = self.sandbox.run_report(
            ["python3", "-s", "-P", "-c", _ROUND, json.dumps(spec), *shared], limit
        )
        members, why = _read_round(channel, result, len(order))
        if why:
            self.forged = why
        if members is None:
            return {i: (_lost(result), b"") for i in batch}
        return dict(zip(order, members, strict=True))


def _sharing(argv: Sequence[str], shared: list[str]) -> list[str | dict[str, int]]:
    """`argv` with each long argument replaced by its index in `shared` (added once): one
    argument may hold at most 128 KiB, and every member carries the judge's programs."""
    out: list[str | dict[str, int]] = []
    for arg in argv:
        if len(arg) < _SHARE_OVER:
            out.append(arg)
            continue
        if arg not in shared:
            shared.append(arg)
        out.append({"shared": shared.index(arg)})
    return out


def _read_round(
    channel: bytes | None, result: ExecResult, count: int
) -> tuple[list[_Result] | None, str]:
    """Each member's result from the round's channel, and why it is forged ("" if not).

    A round whose runner did not exit 0 (killed, timed out) is lost, not judged.
    """
    if channel is None:
        return None, "the round's report channel was over the size cap: something else wrote to it"
    text = channel.strip()
    if result.timed_out or result.exit_code != 0:
        return None, ""
    try:
        doc = json.loads(text)
        members = doc["members"] if doc.get("round") == 1 else None
        if not isinstance(members, list) or len(members) != count:
            raise ValueError("not the runner's document")
        return [_member_result(m) for m in members], ""
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return None, (
            f"the round's report channel held something other than the runner's one "
            f"document ({len(text)} bytes): something else wrote to it"
        )


def _member_result(m: Mapping[str, Any]) -> _Result:
    channel = m["channel"]
    output = base64.b64decode(str(m["output"]), validate=True).decode("utf-8", "replace")
    return (
        ExecResult(
            output=output,
            exit_code=int(m["rc"]),
            timed_out=bool(m["timed_out"]),
            duration=float(m["duration"]),
            truncated=bool(m["truncated"]),
        ),
        None if channel is None else base64.b64decode(str(channel), validate=True),
    )


def _lost(result: ExecResult) -> ExecResult:
    """A member whose result is missing (the round timed out, or its channel was unusable)."""
    return ExecResult(
        output=result.output[-2000:],
        exit_code=-1 if result.timed_out else (result.exit_code or 1),
        timed_out=result.timed_out,
        oom_killed=result.oom_killed,
        duration=result.duration,
        truncated=True,
    )
