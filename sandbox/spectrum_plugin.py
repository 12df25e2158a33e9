"""A pytest plugin that runs inside the sandbox: which lines the failing tests run.

    GREENLOOP_SPECTRUM=.greenloop/spectrum-x.json \
        python3 -m pytest -p greenloop_spectrum tests/test_a.py::test_b ...

`sandbox.spectrum` writes this file into the workspace as
`.greenloop/greenloop_spectrum.py` and puts that folder on `PYTHONPATH`. It
imports only the standard library, pytest and coverage.py (whatever versions
the image has), measures the repository with one `Coverage` whose dynamic
context is switched to each test's node id, and at the end writes a small
JSON: per file, per line run by at least one failing test, how many failing
and how many passing tests ran it (what spectrum-based fault localization
needs, and no more, so the file stays small on a big repository). Without
coverage.py it writes an `error` and lets the tests run as usual.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from typing import Any

import pytest

_OUT = "GREENLOOP_SPECTRUM"
_OMIT = ["*/.greenloop*", "*/site-packages/*", "*/dist-packages/*"]


def _write(payload: dict[str, Any]) -> None:
    path = os.environ.get(_OUT, ".greenloop/spectrum.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


class _Spectrum:
    """Switches the coverage context per test and tallies the outcomes."""

    def __init__(self, root: str) -> None:
        import coverage

        self.root = root
        self.cov = coverage.Coverage(
            data_file=None, source=[root], omit=_OMIT, branch=False, config_file=False
        )
        self.outcomes: dict[str, str] = {}
        self.cov.start()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Generator[None, None, None]:
        self.cov.switch_context(item.nodeid)
        yield
        self.cov.switch_context("")

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped:
            self.outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, "passed")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any) -> None:
        self.cov.stop()
        data = self.cov.get_data()
        failed = {t for t, o in self.outcomes.items() if o == "failed"}
        passed = {t for t, o in self.outcomes.items() if o == "passed"}
        files: dict[str, dict[str, list[int]]] = {}
        for path in data.measured_files():
            rel = os.path.relpath(path, self.root).replace(os.sep, "/")
            if rel.startswith(".."):
                continue
            lines: dict[str, list[int]] = {}
            for line, contexts in (data.contexts_by_lineno(path) or {}).items():
                ran = set(contexts)
                bad = len(ran & failed)
                if bad:
                    lines[str(line)] = [bad, len(ran & passed)]
            if lines:
                files[rel] = lines
        _write({"failed": sorted(failed), "passed": len(passed), "files": files})


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: Any) -> None:
    try:
        import coverage  # noqa: F401
    except ImportError:
        _write({"error": "coverage.py is not installed in the sandbox image"})
        return
    config.pluginmanager.register(_Spectrum(str(config.rootpath)), "greenloop-spectrum-run")
