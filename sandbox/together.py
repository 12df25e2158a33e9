"""Test several candidates at once: each in its own folder, all in one sandbox exec.

    reports = run_pytest_together(sandbox, ["cand-0", "cand-1", "cand-2"], args, timeout)

Each folder holds one candidate project (its files and the acceptance tests).
Every candidate still goes through `sandbox.testrun.run_pytest`, the one route
from a pytest run to a `TestReport`: that function runs in one thread per
candidate against a stand-in sandbox whose workspace is the candidate's folder.
The stand-ins do not run their commands themselves: they hand them to a
shared round, and when every candidate still running has handed in its next
command, the round runs them all in parallel in one exec (each under its own
`timeout -s KILL`, in its own folder, its output kept apart) and gives each its
own `ExecResult`.

Why one exec and not several at once: the Docker sandbox kills whatever is
left of a command's processes when it ends (its reaper), which would kill the
other candidates' test runs still going.

Candidates share the sandbox user: one candidate's code could meddle with
another's run. A caller that acts on a green from here confirms it alone
first (`agent.loop` does).
"""

from __future__ import annotations

import logging
import shlex
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.base import ExecResult, TestReport
from sandbox.config import SandboxConfig
from sandbox.testrun import JUNIT_DIR, run_pytest

__all__ = ["FOLDER", "run_projects_together", "run_pytest_together", "workspace_root"]

log = logging.getLogger(__name__)

_SLACK = 15.0
"""Seconds the round's exec may run beyond its longest member's timeout."""
_MEMBER_BYTES = 320 * 1024
"""Output kept per member: pytest's own output plus its inline JUnit report."""
_NO_START = 96
FOLDER = "candidate-{}"
"""The workspace folder of the i-th project `run_projects_together` tests."""


def workspace_root(sandbox: Any) -> str:
    """Where the sandbox's workspace is, as its commands see it (the local one: its folder)."""
    root = getattr(sandbox, "root", None)
    return str(root) if root is not None else str(sandbox.config.workdir)


def run_projects_together(
    sandbox: Any, projects: Sequence[Mapping[str, str]], args: Sequence[str], timeout: float
) -> list[TestReport]:
    """Empty the workspace, write each project into its own folder, test them all at once."""
    folders = [FOLDER.format(i) for i in range(len(projects))]
    sandbox.run(["find", ".", "-mindepth", "1", "-delete"], 30)
    sandbox.write(
        {
            f"{folder}/{path}": text
            for folder, files in zip(folders, projects, strict=True)
            for path, text in files.items()
        }
    )
    return run_pytest_together(sandbox, folders, args, timeout)


def run_pytest_together(
    sandbox: Any, folders: Sequence[str], args: Sequence[str] = (), timeout: float = 120.0
) -> list[TestReport]:
    """One report per folder (workspace-relative), from one exec that tests them all."""
    if not folders:
        return []
    base = workspace_root(sandbox).rstrip("/")
    rounds = _Rounds(sandbox, list(folders), base)
    members = [_Member(sandbox.config, rounds, i, f, f"{base}/{f}") for i, f in enumerate(folders)]

    def one(member: _Member) -> TestReport:
        try:
            return run_pytest(member, args, timeout, root=member.root)
        finally:
            rounds.leave(member.index)

    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return list(pool.map(one, members))


class _Member:
    """A stand-in sandbox for one candidate: its folder is the workspace."""

    def __init__(
        self, config: SandboxConfig, rounds: _Rounds, index: int, folder: str, root: str
    ) -> None:
        self.config = config.model_copy(update={"workdir": root})
        self.rounds, self.index, self.folder, self.root = rounds, index, folder, root

    def run(self, cmd: str | Sequence[str], timeout: float) -> ExecResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return self.rounds.run(self.index, argv, timeout)

    def read_optional(self, rel: str) -> bytes | None:
        data: bytes | None = self.rounds.sandbox.read_optional(f"{self.folder}/{rel}")
        return data


class _Rounds:
    """Collects each running member's next command; the last to hand one in runs the round."""

    def __init__(self, sandbox: Any, folders: list[str], base: str) -> None:
        self.sandbox, self.folders, self.base = sandbox, folders, base
        self.active = len(folders)
        self.pending: dict[int, tuple[list[str], float]] = {}
        self.done: dict[int, ExecResult | BaseException] = {}
        self.cond = threading.Condition()

    def run(self, index: int, argv: list[str], timeout: float) -> ExecResult:
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
            results: dict[int, ExecResult | BaseException] = dict(self._exec(batch))
        except Exception as exc:  # every waiting member re-raises it
            results = dict.fromkeys(batch, exc)
        self.done.update(results)
        self.cond.notify_all()

    def _exec(self, batch: dict[int, tuple[list[str], float]]) -> dict[int, ExecResult]:
        marker = f"@@greenloop-together-{uuid.uuid4().hex}@@"
        cap = min(_MEMBER_BYTES, max(4096, self.sandbox.config.output_bytes // len(batch) - 512))
        out = f"{self.base}/{JUNIT_DIR}/together-{uuid.uuid4().hex[:12]}"
        script = _script(batch, self.folders, out, marker, cap)
        limit = max(t for _, t in batch.values()) + _SLACK
        result = self.sandbox.run(["sh", "-c", script], limit)
        parsed = _split(result, marker, cap, {i: t for i, (_, t) in batch.items()})
        return {i: parsed.get(i, _lost(result)) for i in batch}


def _script(
    batch: dict[int, tuple[list[str], float]], folders: list[str], out: str, marker: str, cap: int
) -> str:
    """Start every member in its folder in the background, wait, then print each apart."""
    q = shlex.quote
    lines = [f"mkdir -p {q(out)} || exit {_NO_START}"]
    for i, (argv, timeout) in batch.items():
        rc, log_file = q(f"{out}/{i}.rc"), q(f"{out}/{i}.out")
        lines.append(
            f"{{ cd {q(folders[i])} || exit {_NO_START}; s=$(date +%s%N); "
            f"timeout -s KILL {timeout:g} {shlex.join(argv)}; rc=$?; e=$(date +%s%N); "
            f'echo "$rc $s $e" > {rc}; }} > {log_file} 2>&1 < /dev/null &'
        )
    lines.append("wait")
    for i in batch:
        rc, log_file = q(f"{out}/{i}.rc"), q(f"{out}/{i}.out")
        lines.append(
            f"printf '\\n%s %s\\n' {q(marker)} {i}; cat {rc} 2>/dev/null || echo {_NO_START} 0 0; "
            f"printf '%s\\n' {q(marker + '-out')}; head -c {cap} {log_file} 2>/dev/null"
        )
    lines.append(f"rm -rf {q(out)}")
    return "\n".join(lines)


def _split(
    result: ExecResult, marker: str, cap: int, timeouts: dict[int, float]
) -> dict[int, ExecResult]:
    """Each member's ExecResult from the round's output."""
    found: dict[int, ExecResult] = {}
    for part in result.output.split(f"\n{marker} ")[1:]:
        head, sep, output = part.partition(f"\n{marker}-out\n")
        words = head.split()
        if not sep or len(words) < 4 or not all(w.lstrip("-").isdigit() for w in words[:4]):
            continue
        index, code, start, end = (int(w) for w in words[:4])
        duration = max(0.0, (end - start) / 1e9) if start and end else result.duration
        killed = code == 137 and duration >= timeouts.get(index, 0.0) - 0.05
        found[index] = ExecResult(
            output=output,
            exit_code=-1 if killed else code,
            timed_out=killed,
            duration=duration,
            truncated=len(output.encode()) >= cap,
        )
    return found


def _lost(result: ExecResult) -> ExecResult:
    """A member whose part of the output is missing (the round timed out or was cut)."""
    return ExecResult(
        output=result.output[-2000:],
        exit_code=-1 if result.timed_out else (result.exit_code or 1),
        timed_out=result.timed_out,
        oom_killed=result.oom_killed,
        duration=result.duration,
        truncated=True,
    )
