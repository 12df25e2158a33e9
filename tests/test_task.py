"""Loading tasks: the example folders, a lone spec file, JSONL, and every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.errors import ConfigError, PathRejected, UsageError
from agent.task import (
    MAX_TEST_BYTES,
    Task,
    TaskConfig,
    TaskLimits,
    load_task,
    load_tasks_jsonl,
)
from sandbox.toolchains import toolchain

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
TASK_NAMES = sorted(p.name for p in TASKS_DIR.iterdir() if p.is_dir())
TEST = "from m import f\n\n\ndef test_f():\n    assert f() == 1\n"


def make_task(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (relative path -> content) under root and return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_there_are_at_least_six_tasks() -> None:
    assert len(TASK_NAMES) >= 6
    assert TASK_NAMES[0] == "00-add"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_example_tasks_load(name: str) -> None:
    task = load_task(TASKS_DIR / name)
    assert task.name == name
    assert task.root == (TASKS_DIR / name).resolve()
    assert task.spec.strip()
    assert task.has_tests
    chain = toolchain(task.language)
    assert all(chain.runs_test(rel, text) for rel, text in task.tests.items())
    assert task.config.test_command.split()[:2] == chain.default_command.split()[:2]
    if task.language == "python":
        assert all(rel.startswith("tests/test_") and rel.endswith(".py") for rel in task.tests)
    assert task.config.max_iterations >= 1


def test_a_tasks_language_is_told_by_its_tests_and_its_command_follows(tmp_path: Path) -> None:
    js = "import test from 'node:test';\ntest('a', () => {});\n"
    root = make_task(tmp_path / "js", {"spec.md": "x", "tests/a.test.mjs": js})
    task = load_task(root)
    assert (task.language, task.config.test_command) == ("javascript", "node --test")
    given = make_task(
        tmp_path / "given",
        {
            "spec.md": "x",
            "tests/a.test.mjs": js,
            "task.toml": 'test_command = "node --test tests"\n',
        },
    )
    assert load_task(given).config.test_command == "node --test tests"
    jest = make_task(tmp_path / "jest", {"spec.md": "x", "tests/a.test.js": "test('a', () => {})"})
    with pytest.raises(UsageError, match="importing node:test"):
        load_task(jest)
    mixed = make_task(
        tmp_path / "mixed",
        {"spec.md": "x", "tests/a.test.mjs": js, "tests/test_a.py": "def test_a(): pass\n"},
    )
    with pytest.raises(UsageError, match=r"language in task\.toml"):
        load_task(mixed)


def test_fizzbuzz_is_tiny() -> None:
    task = load_task(TASKS_DIR / "01-fizzbuzz")
    assert list(task.tests) == ["tests/test_fizzbuzz.py"]
    assert task.tests["tests/test_fizzbuzz.py"].count("assert ") <= 4
    assert "def fizzbuzz(n: int) -> str" in task.spec


def test_todo_task_has_limits() -> None:
    config = load_task(TASKS_DIR / "06-todo-cli").config
    assert config.limits == TaskLimits(memory_mb=512, pids=128)


def test_full_folder(tmp_path: Path) -> None:
    root = make_task(
        tmp_path / "calc",
        {
            "spec.md": "# Calc\nBuild m.py.\n",
            "tests/test_m.py": TEST,
            "tests/helpers/util.py": "X = 1\n",
            "tests/__pycache__/test_m.cpython-311.pyc": b"\x00junk",
            "starter/m.py": "def f():\n    return 0\n",
            "starter/pkg/data.txt": "hello\n",
            "task.toml": 'test_command = "pytest -x"\nmax_iterations = 3\nmax_cost = 0.5\n',
        },
    )
    task = load_task(root)
    assert task.name == "calc"
    assert task.spec == "# Calc\nBuild m.py.\n"
    assert dict(task.tests) == {"tests/helpers/util.py": "X = 1\n", "tests/test_m.py": TEST}
    assert dict(task.starter) == {"m.py": "def f():\n    return 0\n", "pkg/data.txt": "hello\n"}
    assert task.config.test_command == "pytest -x"
    assert task.config.max_iterations == 3
    assert task.config.max_cost == 0.5
    assert task.config.max_tokens == 60_000
    assert task.source == root.resolve() / "spec.md"


def test_folder_with_spec_only(tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "t", {"spec.md": "Build it."}))
    assert (dict(task.tests), dict(task.starter), task.config) == ({}, {}, TaskConfig())
    assert not task.has_tests


def test_single_spec_file(tmp_path: Path) -> None:
    make_task(tmp_path, {"calc.md": "# Calc\n", "tests/test_m.py": TEST, "task.toml": "bad = 1"})
    task = load_task(tmp_path / "calc.md")
    assert task.name == "calc"
    assert task.root == tmp_path.resolve()
    assert (dict(task.tests), dict(task.starter), task.config) == ({}, {}, TaskConfig())


def test_spec_md_inside_task_folder_loads_the_folder() -> None:
    task = load_task(TASKS_DIR / "01-fizzbuzz" / "spec.md")
    assert task.name == "01-fizzbuzz"
    assert "tests/test_fizzbuzz.py" in task.tests


def test_defaults() -> None:
    config = TaskConfig()
    assert config.test_command == "python -m pytest -q"
    assert (config.max_iterations, config.max_malformed, config.stuck_after) == (6, 3, 2)
    assert (config.max_tokens, config.max_cost) == (60_000, None)
    assert (config.wall_seconds, config.timeout) == (600, 60)
    assert config.candidates == 4
    assert config.limits == TaskLimits()


def test_every_config_field_is_documented() -> None:
    for model in (TaskConfig, TaskLimits):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"


def test_task_is_frozen(tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "t", {"spec.md": "x", "tests/test_m.py": TEST}))
    with pytest.raises(AttributeError):
        task.spec = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        task.tests["tests/evil.py"] = ""  # type: ignore[index]
    assert isinstance(task, Task)


BAD_FOLDERS: list[tuple[str, dict[str, str | bytes], type[Exception], str]] = [
    ("no spec", {"tests/test_m.py": TEST}, UsageError, "has no spec.md: add spec.md"),
    ("empty spec", {"spec.md": "  \n\t\n"}, UsageError, "is empty: write in it what to build"),
    ("binary spec", {"spec.md": b"\xff\xfe\x00"}, UsageError, "save it as UTF-8"),
    (
        "bad toml",
        {"spec.md": "x", "task.toml": "max_iterations = = 3"},
        ConfigError,
        "is not valid TOML",
    ),
    (
        "unknown key",
        {"spec.md": "x", "task.toml": "max_iteration = 3"},
        ConfigError,
        "Extra inputs are not permitted",
    ),
    (
        "unknown limit",
        {"spec.md": "x", "task.toml": "[limits]\ncpu = 2"},
        ConfigError,
        "fix or remove the keys",
    ),
    (
        "bad value",
        {"spec.md": "x", "task.toml": "max_iterations = 0"},
        ConfigError,
        "greater than or equal to 1",
    ),
    (
        "blank command",
        {"spec.md": "x", "task.toml": 'test_command = "  "'},
        ConfigError,
        "give the command",
    ),
    (
        "data file in tests",
        {"spec.md": "x", "tests/test_m.py": TEST, "tests/data.json": "{}"},
        UsageError,
        "and their helpers; move it to starter/",
    ),
    (
        "binary test",
        {"spec.md": "x", "tests/test_m.py": b"\x80\x81"},
        UsageError,
        "save it as UTF-8",
    ),
    (
        "huge test",
        {"spec.md": "x", "tests/test_m.py": "#" * (MAX_TEST_BYTES + 1)},
        UsageError,
        "shrink or split it",
    ),
    (
        "no test_ file",
        {"spec.md": "x", "tests/helpers.py": "X = 1"},
        UsageError,
        "name the test files test_*.py",
    ),
    ("tests is a file", {"spec.md": "x", "tests": "oops"}, UsageError, "make tests/ a folder"),
    (
        "test also starter",
        {"spec.md": "x", "tests/test_m.py": TEST, "starter/tests/test_m.py": TEST},
        UsageError,
        "remove it from starter/",
    ),
    ("binary starter", {"spec.md": "x", "starter/a.bin": b"\xff"}, UsageError, "UTF-8"),
]


@pytest.mark.parametrize(
    ("files", "error", "fix"),
    [case[1:] for case in BAD_FOLDERS],
    ids=[case[0] for case in BAD_FOLDERS],
)
def test_bad_folder(
    tmp_path: Path, files: dict[str, str | bytes], error: type[Exception], fix: str
) -> None:
    root = make_task(tmp_path / "task", files)
    with pytest.raises(error) as info:
        load_task(root)
    assert fix in str(info.value)
    assert isinstance(info.value, UsageError)


def test_config_error_names_the_file(tmp_path: Path) -> None:
    root = make_task(tmp_path / "t", {"spec.md": "x", "task.toml": "nope = true"})
    with pytest.raises(ConfigError) as info:
        load_task(root)
    assert str(root.resolve() / "task.toml") in str(info.value)
    assert "nope" in str(info.value)
    assert "the known keys are: test_command" in str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_task(tmp_path / "nowhere")
    assert "give a task folder holding spec.md, or a spec .md file" in str(info.value)


def test_file_that_is_not_markdown(tmp_path: Path) -> None:
    make_task(tmp_path, {"tasks.jsonl": "{}"})
    with pytest.raises(UsageError) as info:
        load_task(tmp_path / "tasks.jsonl")
    assert "give a .md file or a task folder" in str(info.value)
    assert "use batch" in str(info.value)


@pytest.mark.parametrize(
    ("files", "link", "target"),
    [
        ({"tests/test_m.py": TEST}, "spec.md", "outside/spec.md"),
        ({"spec.md": "x"}, "task.toml", "outside/task.toml"),
        ({"spec.md": "x", "tests/test_m.py": TEST}, "tests/test_link.py", "outside/t/test_a.py"),
        ({"spec.md": "x"}, "tests", "outside/t"),
        ({"spec.md": "x", "tests/test_m.py": TEST}, "tests/sub", "outside/t"),
    ],
    ids=["spec", "toml", "test file", "tests dir", "dir inside tests"],
)
def test_symlinks_are_refused(
    tmp_path: Path, files: dict[str, str | bytes], link: str, target: str
) -> None:
    make_task(tmp_path / "outside", {"spec.md": "x", "task.toml": "", "t/test_a.py": TEST})
    root = make_task(tmp_path / "task", files)
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path / target, root / link)
    with pytest.raises(PathRejected) as info:
        load_task(root)
    assert "may not contain symlinks" in str(info.value)


def test_symlink_inside_starter_is_refused(tmp_path: Path) -> None:
    root = make_task(tmp_path / "task", {"spec.md": "x", "starter/a.py": ""})
    os.symlink(root / "starter" / "a.py", root / "starter" / "b.py")
    with pytest.raises(PathRejected) as info:
        load_task(root)
    assert "replace it with a copy" in str(info.value)


def test_symlinked_spec_file_is_refused(tmp_path: Path) -> None:
    make_task(tmp_path, {"real.md": "# spec"})
    os.symlink(tmp_path / "real.md", tmp_path / "link.md")
    with pytest.raises(PathRejected) as info:
        load_task(tmp_path / "link.md")
    assert "pass the file it points to" in str(info.value)


def jsonl(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


GOOD_LINE = {
    "name": "add",
    "spec": "Write m.py with f() returning 1.",
    "tests": {"tests/test_m.py": TEST},
    "config": {"max_iterations": 2, "limits": {"pids": 64}},
}


def test_jsonl_loads_tasks(tmp_path: Path) -> None:
    path = jsonl(tmp_path, GOOD_LINE, "", {"name": "b", "spec": "Anything."})
    first, second = load_tasks_jsonl(path)
    assert (first.name, first.spec) == ("add", GOOD_LINE["spec"])
    assert dict(first.tests) == {"tests/test_m.py": TEST}
    assert first.config.max_iterations == 2
    assert first.config.limits.pids == 64
    assert first.source == path.resolve()
    assert (second.name, dict(second.tests), second.config) == ("b", {}, TaskConfig())


BAD_LINES: list[tuple[str, object, type[Exception], str]] = [
    ("not json", "{oops", ConfigError, "not valid JSON"),
    ("missing spec", {"name": "x"}, ConfigError, 'each line needs "name" and "spec"'),
    ("unknown field", {**GOOD_LINE, "extra": 1}, ConfigError, "Extra inputs are not permitted"),
    ("empty spec", {"name": "x", "spec": " "}, UsageError, "write what to build"),
    (
        "bad config",
        {**GOOD_LINE, "config": {"max_tokenz": 5}},
        ConfigError,
        "the known keys are",
    ),
    (
        "escaping test path",
        {**GOOD_LINE, "tests": {"../evil.py": "x"}},
        PathRejected,
        "'..' and '.git' are not allowed",
    ),
    (
        "test outside tests/",
        {**GOOD_LINE, "tests": {"test_m.py": TEST}},
        UsageError,
        "must be a test file under tests/",
    ),
    ("name with slash", {**GOOD_LINE, "name": "a/b"}, ConfigError, "plain folder name"),
    (
        "huge test",
        {**GOOD_LINE, "tests": {"tests/test_m.py": "#" * (MAX_TEST_BYTES + 1)}},
        UsageError,
        "shrink or split it",
    ),
]


@pytest.mark.parametrize(
    ("line", "error", "fix"), [c[1:] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES]
)
def test_jsonl_bad_line_names_line_number(
    tmp_path: Path, line: object, error: type[Exception], fix: str
) -> None:
    path = jsonl(tmp_path, GOOD_LINE | {"name": "first"}, "", line)
    with pytest.raises(error) as info:
        load_tasks_jsonl(path)
    assert f"{path}:3" in str(info.value)
    assert fix in str(info.value)


def test_jsonl_duplicate_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_tasks_jsonl(jsonl(tmp_path, GOOD_LINE, GOOD_LINE))
    assert "already used on line 1: give each task its own name" in str(info.value)


def test_jsonl_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as empty:
        load_tasks_jsonl(jsonl(tmp_path, ""))
    assert "write one JSON object per line" in str(empty.value)
    with pytest.raises(UsageError) as missing:
        load_tasks_jsonl(tmp_path / "none.jsonl")
    assert "give a file with one task per line" in str(missing.value)
