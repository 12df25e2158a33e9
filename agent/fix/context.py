"""The code a `greenloop fix` prompt shows, localized afresh for every prompt.

    localizer = Localizer(sandbox, original=snapshot.code, tests=snapshot.tests,
                          flaky=baseline.flaky, timeout=60, record=record)
    context = localizer(files, report, budget=4000)   # a FixContext; one `localize` event

Each call localizes from the failure at hand (`agent.fix.localize`): the failing
tests' bodies, their tracebacks, the lines the candidate's edits changed (their
current text is always shown), and a coverage run in the sandbox of the
failing tests plus a bounded sample of the passing tests of the same files
(`sandbox.spectrum`), at most `timeout` seconds. A run is made once per
candidate (a restart's prompt for the untouched repository reuses the first).
When coverage gives nothing (no coverage.py in the image, a timeout), the
event says why and the static and traceback signals still work.

A JavaScript repository (`toolchain="javascript"`) is localized by
`agent.fix.js_localize`: the same static, traceback and edited signals, no coverage; its
traces are each failure's text and, when a test file failed to load, what node wrote on
stderr. A Go or Rust one by `agent.fix.native_localize`, from each failure's text.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from agent.fix.excerpts import FixContext, fix_context
from agent.fix.js_localize import js_localize, node_errors
from agent.fix.localize import failing_tests, localize
from agent.fix.native_localize import native_localize
from agent.fix.native_outline import NATIVE_SOURCES
from agent.fix.repomap import TagCache
from agent.fix.symbols import Span, SymbolIndex
from agent.run.events import Localized, Record
from sandbox.base import TestReport
from sandbox.spectrum import Spectrum, SpectrumHost, collect_spectrum
from sandbox.toolchains.js_runner_files import JS_SOURCES

__all__ = ["MAX_FAILING", "MAX_PASSING", "Localizer", "edited_lines"]

log = logging.getLogger(__name__)

MAX_FAILING = 20
MAX_PASSING = 80
"""Passing tests run under coverage beside the failing ones (a spread sample when more)."""
_SHOWN_TESTS = 3


def edited_lines(original: Mapping[str, str], files: Mapping[str, str]) -> dict[str, list[int]]:
    """Per file changed from `original`, the 1-based lines of its current text that changed."""
    out: dict[str, list[int]] = {}
    for path, text in files.items():
        before = original.get(path)
        if before is None or before == text:
            continue
        now = text.splitlines()
        matcher = difflib.SequenceMatcher(None, before.splitlines(), now, autojunk=False)
        lines: list[int] = []
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                lines.extend(range(j1 + 1, j2 + 1) if j2 > j1 else [min(j1 + 1, len(now))])
        out[path] = sorted(set(lines))
    return out


def _digest(files: Mapping[str, str]) -> str:
    blob = "\0".join(f"{p}\0{t}" for p, t in sorted(files.items()))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _sample(items: list[str], most: int) -> list[str]:
    if len(items) <= most:
        return items
    step = len(items) / most
    return [items[int(k * step)] for k in range(most)]


class Localizer:
    """Localize, choose what to show, and record why; one instance per fix run."""

    def __init__(
        self,
        sandbox: SpectrumHost | None,
        *,
        original: Mapping[str, str],
        tests: Mapping[str, str],
        flaky: Collection[str] = (),
        timeout: float = 60.0,
        record: Record | None = None,
        cache: TagCache | None = None,
        toolchain: str = "python",
    ) -> None:
        self.sandbox, self.original, self.tests = sandbox, dict(original), dict(tests)
        self.toolchain = toolchain
        self.flaky, self.timeout = frozenset(flaky), timeout
        self.record: Record = record or (lambda event: None)
        self.cache = cache
        self._spectra: dict[str, Spectrum] = {}
        self._sampled = (0, 0)
        """(passing tests run under coverage, passing tests of the failing tests' files)"""
        self._original_digest = _digest(self.original)

    def __call__(self, files: Mapping[str, str], report: TestReport, budget: int) -> FixContext:
        started = time.monotonic()
        everything = {**files, **self.tests}
        failing = sorted(t for t in report.failing_ids if t not in self.flaky)
        edited = edited_lines(self.original, files)
        spectrum: Spectrum | None = None
        reused = False
        if self.toolchain == "javascript":
            traces = _traces(report, failing, everything)
            suspects, tests = js_localize(everything, failing, traces, edited)
            suffixes: tuple[str, ...] = JS_SOURCES
        elif self.toolchain != "python":
            traces = _traces(report, failing, everything, node=False)
            suspects, tests = native_localize(everything, failing, traces, edited)
            suffixes = NATIVE_SOURCES
        else:
            index = SymbolIndex(everything)
            cases = [c for c in (*report.collection_errors, *report.tests) if c.id in failing]
            tracebacks = "\n".join(f"{c.message}\n{c.traceback}" for c in cases)
            spectrum, reused = self._spectrum(files, report, failing)
            suspects = localize(everything, failing, tracebacks, spectrum, edited, index)
            tests = failing_tests(index, failing)
            suffixes = (".py",)
        tests = tests[:_SHOWN_TESTS]
        context = fix_context(everything, suspects, tests, budget, cache=self.cache,
                              suffixes=suffixes)  # fmt: skip
        self.record(
            Localized(
                failing=len(failing),
                tests=tuple(_test_id(t, self.toolchain) for t in tests),
                shown=tuple(context.shown),
                whole=tuple(context.whole),
                edited={p: lines[:20] for p, lines in edited.items()},
                coverage=self._describe(spectrum, reused),
                tokens={"context": context.tokens, "map": context.map_tokens, "budget": budget},
                seconds=round(time.monotonic() - started, 3),
            )
        )
        return context

    def _spectrum(
        self, files: Mapping[str, str], report: TestReport, failing: list[str]
    ) -> tuple[Spectrum | None, bool]:
        """The spectrum of `files` (run once per candidate), and whether it was reused."""
        if self.sandbox is None:
            return None, False
        digest = _digest(files)
        if digest in self._spectra:
            return self._spectra[digest], True
        targets = [t for t in failing if "::" in t][:MAX_FAILING]
        if not targets:
            return Spectrum(note="no failing test to run under coverage"), False
        homes = {t.split("::", 1)[0] for t in targets}
        passing = [t.id for t in report.tests if t.outcome == "passed" and t.id not in self.flaky
                   and t.id.split("::", 1)[0] in homes]  # fmt: skip
        sampled = _sample(sorted(passing), MAX_PASSING)
        self._sampled = (len(sampled), len(passing))
        passing = sampled
        if digest != self._original_digest or self._spectra:
            # the sandbox holds whatever was tested last: put these files there first
            self.sandbox.reset()
            self.sandbox.write({**files, **self.tests})
        spectrum = collect_spectrum(self.sandbox, targets, passing, self.timeout)
        if spectrum.note:
            log.warning("fault localization without coverage: %s", spectrum.note)
        self._spectra[digest] = spectrum
        return spectrum, False

    def _describe(self, spectrum: Spectrum | None, reused: bool) -> dict[str, Any]:
        if self.toolchain != "python":
            why = f"no coverage for {self.toolchain}'s runner yet: static and traces only"
            return {"ran": False, "note": why}
        if spectrum is None:
            return {"ran": False, "note": "no sandbox to run coverage in"}
        return {
            "ran": not reused and bool(spectrum.lines),
            "reused": reused,
            "tests": spectrum.asked,
            "failed": len(spectrum.failed),
            "passed": spectrum.passed,
            "passing_sampled": list(self._sampled),
            "seconds": round(spectrum.seconds, 3),
            "cap_seconds": self.timeout,
            "note": spectrum.note,
        }


def _test_id(test: Span, toolchain: str) -> str:
    return f"{test.path}::{test.name.replace('.', '::') if toolchain == 'python' else test.name}"


def _traces(
    report: TestReport, failing: Collection[str], files: Collection[str], node: bool = True
) -> list[str]:
    """Each failure's text; and node's stderr when a test file failed to load (its
    error is there, not in a report)."""
    cases = [c for c in (*report.collection_errors, *report.tests) if c.id in failing]
    traces = [f"{c.message}\n{c.traceback}" for c in cases if c.message or c.traceback]
    loaded = not any(c.id in failing for c in report.collection_errors)
    if node and report.exec is not None and not loaded:
        traces.extend(node_errors(report.exec.output, files))
    return traces
