"""The test spectrum: which lines the failing tests run, and the passing ones too.

    spectrum = collect_spectrum(sandbox, failing, passing, timeout=60)
    spectrum.ochiai("pkg/mod.py", 12)       # 1.0: run by every failing test, no passing one

Runs the chosen tests once under coverage.py inside the sandbox (the plugin in
`sandbox/spectrum_plugin.py`, written into the workspace for the run) and reads
back, per line run by a failing test, how many failing and passing tests ran
it. Ochiai's suspiciousness of a line is `ef / sqrt(F * (ef + ep))` (F: the
failing tests); lines only failing tests run score 1.

Nothing here raises for a sandbox that cannot do it: an image without
coverage.py, a run that times out or leaves no usable report gives an empty
spectrum whose `note` says why, and the caller falls back on other signals.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Protocol

from sandbox.base import ExecResult
from sandbox.errors import PathRejected

__all__ = ["PLUGIN", "Spectrum", "SpectrumHost", "collect_spectrum"]

log = logging.getLogger(__name__)

PLUGIN = "greenloop_spectrum"
_FOLDER = ".greenloop"


class SpectrumHost(Protocol):
    """What `collect_spectrum` needs from a sandbox."""

    def write(self, files: Mapping[str, str | bytes]) -> None: ...

    def run(self, cmd: str | Sequence[str], timeout: float | None = None) -> ExecResult: ...

    def read_optional(self, rel: str) -> bytes | None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class Spectrum:
    """Per file and line run by a failing test: (failing tests, passing tests) that ran it."""

    lines: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    failed: tuple[str, ...] = ()
    """The tests that failed under coverage."""
    passed: int = 0
    asked: int = 0
    """The tests the run was asked to run."""
    seconds: float = 0.0
    note: str = ""
    """Why the spectrum is empty or partial, when it is."""

    def ochiai(self, path: str, line: int) -> float:
        """Suspiciousness of one line, 0 to 1."""
        counts = self.lines.get(path, {}).get(line)
        if not counts or not self.failed:
            return 0.0
        ef, ep = counts
        return ef / math.sqrt(len(self.failed) * (ef + ep))


def _plugin_source() -> str:
    return resources.files("sandbox").joinpath("spectrum_plugin.py").read_text("utf-8")


def collect_spectrum(
    sandbox: SpectrumHost,
    failing: Sequence[str],
    passing: Sequence[str],
    timeout: float,
) -> Spectrum:
    """Run `failing` and `passing` (pytest node ids) once under coverage; never raises."""
    spectrum = _collect(sandbox, failing, passing, timeout)
    return replace(spectrum, asked=len(failing) + len(passing))


def _collect(
    sandbox: SpectrumHost, failing: Sequence[str], passing: Sequence[str], timeout: float
) -> Spectrum:
    token = uuid.uuid4().hex[:12]
    out = f"{_FOLDER}/spectrum-{token}.json"
    sandbox.write({f"{_FOLDER}/{PLUGIN}.py": _plugin_source()})
    script = (
        f'PYTHONPATH="$PWD/{_FOLDER}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f"GREENLOOP_SPECTRUM={shlex.quote(out)} "
        f'python3 -m pytest -q -p no:cacheprovider --color=no -p {PLUGIN} "$@" >/dev/null 2>&1; '
        "exit 0"
    )
    result = sandbox.run(["sh", "-c", script, "sh", *failing, *passing], timeout)
    if result.timed_out:
        return Spectrum(seconds=result.duration, note=f"coverage timed out after {timeout:g} s")
    try:
        raw = sandbox.read_optional(out)
    except PathRejected as exc:
        return Spectrum(seconds=result.duration, note=f"the coverage report was refused: {exc}")
    if raw is None:
        return Spectrum(seconds=result.duration, note="the coverage run wrote no report")
    return _parse(raw, result.duration)


def _parse(raw: bytes, seconds: float) -> Spectrum:
    """The plugin's JSON, read as untrusted: anything malformed gives a note."""
    try:
        data: Any = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        if data.get("error"):
            return Spectrum(seconds=seconds, note=str(data["error"])[:200])
        lines = {
            str(path): {int(n): (int(c[0]), int(c[1])) for n, c in dict(by_line).items()}
            for path, by_line in dict(data.get("files") or {}).items()
        }
        failed = tuple(str(t) for t in list(data.get("failed") or ()))
        passed = int(data.get("passed") or 0)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        return Spectrum(seconds=seconds, note=f"unreadable coverage report: {exc}"[:200])
    note = "" if failed else "no test failed under coverage"
    return Spectrum(lines, failed, passed, seconds=seconds, note=note)
