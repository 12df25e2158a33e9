"""Which files the model may not write: runner configs, hooks, start-up code, shadowing modules."""

from __future__ import annotations

import pytest

from agent.edits import FORMATS
from agent.edits.base import Edit
from sandbox.runner_files import added_test_reason, keep_trusted, model_written, runner_reason

HOOK = (
    "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
)


@pytest.mark.parametrize(
    "path",
    [
        "conftest.py",
        "tests/conftest.py",
        "pkg/deep/conftest.py",
        "pytest.ini",
        ".pytest.ini",
        "pytest.toml",
        "tox.ini",
        "sitecustomize.py",
        "lib/usercustomize.py",
        "evil.pth",
        "pytest.py",
        "_pytest/__init__.py",
        "pluggy.py",
        "pytest_evil.py",
        "tempfile.py",
        "json/__init__.py",
        "tests/shlex.py",
        "src/json.py",
        "glplug-1.0.dist-info/entry_points.txt",
        "glplug-1.0.dist-info/METADATA",
        "src/glplug.egg-info/entry_points.txt",
        "glplug.egg-link",
        "fizzbuzz.pyc",
        "__pycache__/fizzbuzz.cpython-311.pyc",
        "native.so",
    ],
)
def test_runner_files_are_refused(path: str) -> None:
    assert runner_reason(path, None, "x = 1\n", ["mod.py", "tests/test_mod.py"]) != ""


@pytest.mark.parametrize(
    "path",
    ["fizzbuzz.py", "pkg/json.py", "pkg/sub/types.py", "tests/helpers.txt", "README.md",
     "test/data.json", "src/app.py", "templates/email/welcome.html", "textstats/tokenize.py"],
)  # fmt: skip
def test_ordinary_files_are_taken(path: str) -> None:
    paths = ["pkg/__init__.py", "pkg/sub/__init__.py"]
    assert runner_reason(path, None, "x = 1\n", paths) == ""


def test_an_existing_module_may_be_edited_whatever_its_name() -> None:
    assert runner_reason("src/logging.py", "x = 1\n", "x = 2\n", []) == ""
    assert runner_reason("src/logging.py", None, "x = 2\n", []) != ""


PYPROJECT = '[project]\nname = "shop"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'


def test_pyproject_may_change_but_not_its_pytest_section() -> None:
    deps = PYPROJECT.replace('name = "shop"', 'name = "shop"\ndependencies = ["attrs"]')
    assert runner_reason("pyproject.toml", PYPROJECT, deps, []) == ""
    addopts = PYPROJECT + 'addopts = "--deselect tests/test_cart.py::test_total"\n'
    assert "pytest section" in runner_reason("pyproject.toml", PYPROJECT, addopts, [])
    new_table = PYPROJECT + "\n[tool.pytest]\nminversion = '9'\n"
    assert runner_reason("pyproject.toml", PYPROJECT, new_table, []) != ""


def test_setup_cfg_pytest_section_is_refused_other_sections_taken() -> None:
    old = "[metadata]\nname = shop\n"
    assert runner_reason("setup.cfg", old, old + "version = 2\n", []) == ""
    assert runner_reason("setup.cfg", old, old + "[tool:pytest]\naddopts = -p evil\n", []) != ""


def test_new_files_among_the_tests_are_test_edits() -> None:
    tests = ["tests/test_cart.py"]
    assert added_test_reason("tests/helpers.py", ["shop.py"], tests) != ""
    assert added_test_reason("test_extra.py", ["shop.py"], tests) != ""
    assert added_test_reason("shop/util.py", ["shop.py"], tests) == ""
    assert added_test_reason("tests/helpers.py", ["shop.py"], []) == ""  # test edits allowed


def test_keep_trusted_keeps_the_projects_own_and_drops_the_models() -> None:
    trusted = {"conftest.py": "# the task's own\n", "app.py": "x = 1\n"}
    files = {"conftest.py": HOOK, "app.py": "x = 2\n", "pytest.ini": "[pytest]\n"}
    clean, refused = keep_trusted(files, trusted, ["tests/test_app.py"])
    assert clean == {"conftest.py": "# the task's own\n", "app.py": "x = 2\n"}
    assert sorted(refused) == ["conftest.py", "pytest.ini"]


@pytest.mark.parametrize("fmt", ["search-replace", "whole"])
@pytest.mark.parametrize("path", ["conftest.py", "tests/conftest.py", "pytest.ini"])
def test_edit_formats_refuse_runner_files_unless_allowed(fmt: str, path: str) -> None:
    files = {"app.py": "x = 1\n", "tests/test_app.py": "def test_x():\n    pass\n"}
    edit = Edit(path, "" if fmt == "search-replace" else None, HOOK)
    protected = frozenset({"tests/test_app.py"})
    result = FORMATS[fmt].apply(files, [edit], protected=protected)
    assert path not in result.files and not result.changed
    assert "not taken from you" in result.failed[0].reason
    allowed = FORMATS[fmt].apply(files, [edit], allow_runner=True)
    assert allowed.files[path] == HOOK


HONEST = "import gc\n\n\ndef add(a, b):\n    gc.collect()\n    return a + b\n"
REACHES = HONEST + "\n\nfor _o in gc.get_objects():\n    pass\n"


def test_code_that_reaches_into_the_judge_is_refused_for_what_the_write_adds() -> None:
    why = runner_reason("calc.py", None, REACHES, [])
    assert "line 9" in why and "gc.get_objects" in why
    assert runner_reason("calc.py", None, HONEST, []) == ""
    # a repository that already had it keeps it; an edit elsewhere in the file is taken
    assert runner_reason("calc.py", REACHES, REACHES.replace("a + b", "b + a"), []) == ""


def test_the_model_s_files_are_watched_but_a_repo_s_own_frame_tricks_are_not() -> None:
    trusted = {"app.py": "def f():\n    return 1\n", "frames.py": "import sys\nsys._getframe(0)\n"}
    files = {"app.py": "def f():\n    return 2\n", "frames.py": trusted["frames.py"] + "x = 1\n",
             "new.py": "y = 1\n", "tests/test_app.py": "def test_f():\n    pass\n",
             "README.md": "hi\n"}  # fmt: skip
    watched = model_written(files, trusted, {"tests/test_app.py"})
    assert watched == {"app.py", "new.py"}
