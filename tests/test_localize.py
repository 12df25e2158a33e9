"""Fault localization without a sandbox: names resolved through imports, the signals
combined, the definitions shown within the budget (agent.symbols, agent.localize,
agent.excerpts, agent.fix_context)."""

from __future__ import annotations

import pytest
from localize_repos import almanac_files, buggy_line

from agent.excerpts import fix_context
from agent.fix_context import edited_lines
from agent.localize import Suspect, failing_tests, localize
from agent.repomap import estimate_tokens
from agent.symbols import Span, SymbolIndex
from sandbox.spectrum import Spectrum, _parse

LIB = {
    "src/pkg/__init__.py": "from .core import Engine\nfrom .util import *\n",
    "src/pkg/core.py": (
        "from . import util\nfrom .base import Base\n\n\nclass Engine(Base):\n"
        "    def __init__(self, n):\n        self.n = n\n\n"
        "    def run(self):\n        return self.helper() + util.double(self.n)\n\n"
        "    def helper(self):\n        return 1\n"
    ),
    "src/pkg/base.py": "class Base:\n    def describe(self):\n        return 'base'\n",
    "src/pkg/util.py": "def double(x):\n    return x * 2\n\n\ndef triple(x):\n    return x * 3\n",
    "tests/conftest.py": (
        "import pytest\n\nfrom pkg import Engine\n\n\n@pytest.fixture()\n"
        "def engine():\n    return Engine(2)\n"
    ),
    "tests/test_engine.py": (
        "import pkg.util as u\nfrom pkg import Engine, triple\n\n\n"
        "def test_run():\n    e = Engine(3)\n    assert e.run() == 7\n\n\n"
        "def test_fixture(engine):\n    assert engine.describe() == 'base'\n\n\n"
        "def test_modules():\n    assert u.double(2) + triple(1) == 7\n\n\n"
        "class TestSetup:\n    def setup_method(self):\n        self.e = Engine(1)\n\n"
        "    def test_it(self):\n        assert self.e.n == 1\n"
    ),
}


def _names(found: list[Suspect]) -> dict[str, dict[str, float]]:
    return {s.span.name: s.signals for s in found}


def test_names_resolve_through_reexports_relative_imports_and_src_layouts() -> None:
    index = SymbolIndex(LIB)
    engine = index.lookup("tests/test_engine.py", "Engine")
    assert isinstance(engine, Span) and (engine.path, engine.kind) == ("src/pkg/core.py", "class")
    triple = index.lookup("tests/test_engine.py", "triple")  # through a star import
    assert isinstance(triple, Span) and triple.path == "src/pkg/util.py"
    assert index.chain("tests/test_engine.py", "u.double") == Span(
        "src/pkg/util.py", "double", "function", 1, 2
    )
    inherited = index.member(engine, "describe")
    assert inherited is not None and inherited.name == "Base.describe"


def test_static_reaches_methods_of_built_objects_then_one_level_further() -> None:
    found = _names(localize(LIB, ["tests/test_engine.py::test_run"]))
    assert found["Engine.__init__"] == {"static": 1.0}
    assert found["Engine.run"] == {"static": 1.0}  # e = Engine(3); e.run()
    assert found["Engine.helper"] == {"static": 0.5}  # self.helper() inside run
    assert found["double"] == {"static": 0.5}  # util.double inside run
    assert "triple" not in found


def test_static_reads_fixtures_and_setup_methods() -> None:
    fixture = _names(localize(LIB, ["tests/test_engine.py::test_fixture"]))
    assert fixture["Engine.__init__"]["static"] == pytest.approx(0.8)  # built by the fixture
    assert fixture["Base.describe"]["static"] == pytest.approx(0.4)  # engine.describe()
    setup = _names(localize(LIB, ["tests/test_engine.py::TestSetup::test_it"]))
    assert setup["Engine.__init__"] == {"static": 1.0}


def test_a_traceback_frame_names_the_function_it_is_in() -> None:
    trace = "src/pkg/core.py:10: in run\n    return self.helper() + util.double(self.n)\n" \
        "src/pkg/util.py:2: TypeError"  # fmt: skip
    found = localize(LIB, ["tests/test_engine.py::test_modules"], trace)
    assert found[0].span.name == "double" and found[0].signals["traceback"] == 1.0
    assert _names(found)["Engine.run"]["traceback"] == 0.8
    assert found[0].focus == (2,)


def test_ochiai_ranks_what_only_the_failing_tests_run() -> None:
    spectrum = Spectrum(
        lines={"src/pkg/util.py": {2: (1, 0), 6: (1, 3)}, "src/pkg/core.py": {13: (1, 1)}},
        failed=("tests/test_engine.py::test_modules",),
    )
    assert spectrum.ochiai("src/pkg/util.py", 2) == 1.0
    assert spectrum.ochiai("src/pkg/util.py", 6) == pytest.approx(0.5)
    found = localize(LIB, [], spectrum=spectrum)
    assert [(s.span.name, s.signals["dynamic"]) for s in found] == [
        ("double", 1.0), ("Engine.helper", pytest.approx(0.707, abs=1e-3)), ("triple", 0.5)
    ]  # fmt: skip


def test_a_broken_coverage_report_is_a_note_not_an_error() -> None:
    for bad in (b"not json", b"[1]", b'{"files": {"a.py": {"x": [1, 2]}}}', b'{"failed": 3}',
                b'{"files": {"a.py": {"2": [1]}}}'):  # fmt: skip
        assert _parse(bad, 1.0).note.startswith("unreadable coverage report"), bad
    missing = _parse(b'{"error": "coverage.py is not installed in the sandbox image"}', 0.5)
    assert missing.lines == {} and "not installed" in missing.note
    assert _parse(b'{"failed": [], "passed": 3, "files": {}}', 0.1).note == (
        "no test failed under coverage"
    )


def test_edited_lines_are_the_changed_lines_of_the_current_text() -> None:
    before = {"a.py": "x = 1\ny = 2\nz = 3\n", "b.py": "same\n"}
    after = {"a.py": "x = 1\ny = 20\nw = 0\nz = 3\n", "b.py": "same\n", "new.py": "n = 1\n"}
    assert edited_lines(before, after) == {"a.py": [2, 3]}
    assert localize(LIB, [], edited={"src/pkg/util.py": [6]})[0].signals == {"edited": 1.0}


@pytest.mark.parametrize("budget", [300, 800, 2000, 6000])
def test_the_context_fits_the_budget_and_holds_the_top_suspect(budget: int) -> None:
    files = almanac_files("cache")
    index = SymbolIndex(files)
    test = "tests/test_cache.py::test_least_recent_is_evicted"
    suspects = localize(files, [test], index=index)
    context = fix_context(files, suspects, failing_tests(index, [test]), budget)
    assert context.tokens <= budget
    if budget >= 800:
        assert buggy_line("cache") in context.text
        assert "almanac/cache.py, whole file" in context.text  # 30 lines: small, shown whole
        assert context.whole == ["almanac/cache.py", "tests/test_cache.py"]


def test_a_long_function_is_cut_to_the_lines_around_its_strongest_signal() -> None:
    body = "".join(f"    total += {k}\n" for k in range(400))
    files = {"big.py": f"def long(total):\n{body}    return total\n", "tests/test_big.py": ""}
    spectrum = Spectrum(lines={"big.py": {200: (1, 0)}}, failed=("t",))
    suspects = localize(files, [], spectrum=spectrum)
    assert suspects[0].focus == (200,)
    context = fix_context(files, suspects, [], 600)
    assert "big.py, lines 185-215 (long):" in context.text and "total += 198" in context.text
    assert context.tokens <= 600 and estimate_tokens(context.text) == context.tokens


def test_subscripts_and_len_reach_the_methods_they_call() -> None:
    files = {
        "box.py": (
            "class Box:\n    def __init__(self):\n        self.d = {}\n\n"
            "    def __setitem__(self, k, v):\n        self._put(k, v)\n\n"
            "    def _put(self, k, v):\n        self.d[k] = v\n\n"
            "    def __len__(self):\n        return len(self.d)\n\n"
            "    def other(self):\n        return 0\n"
        ),
        "tests/test_box.py": (
            "from box import Box\n\n\ndef test_box():\n    b = Box()\n    b['k'] = 1\n"
            "    assert len(b) == 1\n"
        ),
    }
    found = _names(localize(files, ["tests/test_box.py::test_box"]))
    assert found["Box.__setitem__"] == {"static": 1.0} and found["Box.__len__"] == {"static": 1.0}
    assert found["Box._put"] == {"static": 0.5}  # called by __setitem__
    assert "Box.other" not in found


def test_module_level_frames_and_collection_errors_show_the_lines_around() -> None:
    files = {
        "pkg/conf.py": (
            "import os\n\nLIMIT = os.environ['NOPE']\n\n\ndef limit():\n    return LIMIT\n"
        ),
        "tests/test_conf.py": "from pkg.conf import limit\n\n\ndef test_limit():\n    pass\n",
    }
    trace = "tests/test_conf.py:1: in <module>\npkg/conf.py:3: in <module>\nE   KeyError: 'NOPE'"
    found = localize(files, ["tests/test_conf.py"], trace)
    assert found[0].span.kind == "region" and (found[0].span.start, found[0].span.end) == (1, 7)
    index = SymbolIndex(files)
    (head,) = failing_tests(index, ["tests/test_conf.py"])
    assert (head.path, head.kind, head.start, head.end) == ("tests/test_conf.py", "region", 1, 5)
    context = fix_context(files, found, [head], 500)
    assert (
        "LIMIT = os.environ['NOPE']" in context.text
        and "from pkg.conf import limit" in context.text
    )
