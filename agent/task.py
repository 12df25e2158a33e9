"""Loading tasks: what to build (`spec.md`), how it is judged (`tests/`), and the budgets.

A task is a folder::

    spec.md        what to build (required, non-empty Markdown)
    tests/         the acceptance tests (optional; one language's: at least one `test_*.py`,
                   one `*.test.js|mjs|cjs|ts` that imports node:test, one `*_test.go`, or
                   one `tests/*.rs` with `#[test]`s; and their helpers)
    starter/       files the project begins from (optional; laid out as in the project)
    task.toml      test command, budgets and sandbox limits (optional; see `TaskConfig`)

`load_task` also accepts a single Markdown spec file (no tests, no starter,
default budgets), and `load_tasks_jsonl` reads many tasks from a JSONL file.
Every error is a `UsageError` (or subclass) whose message names the fix.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import ConfigError, PathRejected, UsageError
from sandbox.paths import MAX_FILE_BYTES, MAX_FILES, refuse_bidi, safe_path
from sandbox.testrun import check_command

__all__ = [
    "CAPS",
    "MAX_SPEC_BYTES",
    "MAX_TEST_BYTES",
    "SPEC_FILE",
    "STARTER_DIR",
    "TASK_TOML",
    "TESTS_DIR",
    "Task",
    "TaskConfig",
    "TaskLimits",
    "check_command",
    "load_task",
    "load_tasks_jsonl",
    "override_config",
]

SPEC_FILE = "spec.md"
TASK_TOML = "task.toml"
TESTS_DIR = "tests"
STARTER_DIR = "starter"
MAX_SPEC_BYTES = 256 * 1024
MAX_TEST_BYTES = 256 * 1024
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_EXAMPLE = "see tasks/01-fizzbuzz/ for an example"

CAPS: Mapping[str, float] = MappingProxyType(
    {
        "max_iterations": 100,
        "max_malformed": 100,
        "max_tokens": 10_000_000,
        "max_calls": 10_000,
        "max_cost": 1_000.0,
        "wall_seconds": 24 * 3600.0,
        "stuck_after": 100,
        "timeout": 3600.0,
        "memory_mb": 64 * 1024,
        "pids": 4096,
    }
)
"""The highest value each budget and limit of task.toml may take (`candidates` is capped
at 16 by its field). Above them a run would not end within a day, or would ask the
sandbox for more than a machine has: a typo, most likely (an extra zero)."""


class TaskLimits(BaseModel):
    """Sandbox limits for one task (`[limits]` in task.toml); None keeps the sandbox default."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    memory_mb: int | None = Field(default=None, ge=64, le=CAPS["memory_mb"])
    """Memory limit of the sandbox in MiB."""
    pids: int | None = Field(default=None, ge=16, le=CAPS["pids"])
    """Processes and threads the sandbox may hold at once."""


class TaskConfig(BaseModel):
    """Test command and budgets of a task: the keys of `task.toml`, all optional."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    test_command: str = "python -m pytest -q"
    """Command that runs the acceptance tests, from the project root (else the language's
    own: `node --test`, `go test ./...`, `cargo test`)."""
    language: str | None = None
    """The language of the project and its tests (`sandbox.toolchains`); unset, it is told
    by the test files (`.py`: python; `.js`, `.mjs`, `.cjs`, `.ts`: javascript, which
    takes TypeScript too; `.go`: go; `.rs`: rust), and python when there are none."""
    max_iterations: int = Field(default=6, ge=1, le=CAPS["max_iterations"])
    """Test runs (feedback rounds and restarts together) before giving up."""
    max_malformed: int = Field(default=3, ge=1, le=CAPS["max_malformed"])
    """Model replies that cannot be parsed or applied before giving up."""
    max_tokens: int = Field(default=60_000, ge=1, le=CAPS["max_tokens"])
    """Total token budget, prompt and completion, over the whole run."""
    max_calls: int | None = Field(default=None, ge=1, le=CAPS["max_calls"])
    """Model calls over the whole run (the plan, each file, each feedback request, each fresh
    sample); None means no limit. What a run costs a small model is its calls, not its test
    runs: a restart of four samples is four calls and one test run."""
    max_cost: float | None = Field(default=None, gt=0, le=CAPS["max_cost"], allow_inf_nan=False)
    """Cost budget in US dollars; None means no cost limit (tokens still apply)."""
    wall_seconds: float = Field(default=600, gt=0, le=CAPS["wall_seconds"], allow_inf_nan=False)
    """Wall-clock budget of the whole run, in seconds."""
    candidates: int = Field(default=4, ge=1, le=16)
    """Fresh samples a restart draws and tests together in one sandbox exec (each seeded)."""
    stuck_after: int = Field(default=2, ge=1, le=CAPS["stuck_after"])
    """Stop as stuck when the same set of failing tests repeats this many times in a row."""
    timeout: float = Field(default=60, gt=0, le=CAPS["timeout"], allow_inf_nan=False)
    """Timeout of one test run in the sandbox, in seconds."""
    limits: TaskLimits = Field(default_factory=TaskLimits)
    """Sandbox limits (`[limits]` table)."""

    @field_validator("test_command")
    @classmethod
    def _command_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("test_command is empty; give the command, e.g. 'python -m pytest -q'")
        check_command(value, "test_command")
        return value

    @field_validator("language")
    @classmethod
    def _language_known(cls, value: str | None) -> str | None:
        from sandbox.toolchains import NAMES

        if value is not None and value not in NAMES:
            known = ", ".join(NAMES)
            raise ValueError(f"language {value!r} is not one greenloop knows: one of {known}")
        return value


@dataclass(frozen=True)
class Task:
    """One loaded task. Paths in `tests` and `starter` are relative to the project root."""

    name: str
    """Task name: the folder name, the spec file's stem, or the JSONL `name`."""
    root: Path
    """The task folder; for a lone spec file or a JSONL line, the folder holding that file."""
    spec: str
    """The spec text (Markdown)."""
    tests: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Acceptance tests: `tests/test_x.py` -> content. Empty when the tests are to be generated."""
    starter: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Files to begin from: project-relative path -> content."""
    config: TaskConfig = field(default_factory=TaskConfig)
    """Test command and budgets."""
    source: Path | None = None
    """The file the task was read from (spec.md, the .md file, or the .jsonl file)."""

    @property
    def has_tests(self) -> bool:
        """True when the task brings its own acceptance tests."""
        return bool(self.tests)

    @property
    def language(self) -> str:
        """The toolchain the task runs in: task.toml's `language`, else its tests'."""
        return self.config.language or "python"

    @property
    def language_shown(self) -> str:
        """The language a report shows: the toolchain's, but `typescript` for a
        JavaScript task whose tests are TypeScript."""
        from agent.languages import language_of

        for path in sorted(self.tests):
            found = language_of(path)
            if found is not None and found.toolchain == self.language:
                return found.fence
        return self.language


def load_task(path: Path) -> Task:
    """Load a task folder, or a single Markdown spec file, from `path`.

    A file named `spec.md` inside a task folder (one with `tests/` or
    `task.toml`) loads that folder, so its acceptance tests are not lost.
    Raises UsageError, ConfigError or PathRejected with a message naming the fix.
    """
    path = Path(path)
    refuse_bidi(path, "task path", fix="rename the file or folder without that character")
    if not path.exists():
        raise UsageError(
            f"no task at {path}: give a task folder holding {SPEC_FILE}, or a spec .md file"
        )
    if path.is_file():
        parent = path.parent
        if path.name == SPEC_FILE and (
            (parent / TESTS_DIR).exists() or (parent / TASK_TOML).exists()
        ):
            return _load_folder(parent)
        return _load_spec_file(path)
    if path.is_dir():
        return _load_folder(path)
    raise UsageError(
        f"{path} is neither a folder nor a file: give a task folder or a spec .md file"
    )


def _load_spec_file(path: Path) -> Task:
    if path.suffix.lower() not in (".md", ".markdown"):
        hint = " (for a JSONL file of tasks, use batch)" if path.suffix == ".jsonl" else ""
        raise UsageError(
            f"{path} is not a Markdown spec: give a .md file or a task folder "
            f"holding {SPEC_FILE}{hint}"
        )
    if path.is_symlink():
        raise PathRejected(f"{path} is a symlink: pass the file it points to instead")
    spec = _read_spec(path)
    return Task(name=path.stem, root=path.parent.resolve(), spec=spec, source=path.resolve())


def _load_folder(folder: Path) -> Task:
    root = folder.resolve()
    refuse_bidi(root.name, "task folder name")
    spec_path = _entry(root, SPEC_FILE)
    if spec_path is None:
        raise UsageError(
            f"task folder {folder} has no {SPEC_FILE}: add {SPEC_FILE} saying what to build "
            f"({_EXAMPLE})"
        )
    spec = _read_spec(spec_path)
    toml_path = _entry(root, TASK_TOML)
    config = _read_config(toml_path) if toml_path is not None else TaskConfig()
    tests = _read_tests(root, config.language)
    config = with_language(config, tests, str(toml_path or root / TASK_TOML))
    starter = _read_starter(root)
    overlap = sorted(set(tests) & set(starter))
    if overlap:
        raise UsageError(
            f"{folder}: {overlap[0]} is both an acceptance test and a starter file: "
            f"remove it from {STARTER_DIR}/"
        )
    return Task(
        name=root.name,
        root=root,
        spec=spec,
        tests=MappingProxyType(tests),
        starter=MappingProxyType(starter),
        config=config,
        source=spec_path,
    )


def _entry(root: Path, rel: str) -> Path | None:
    """`root/rel` when it exists as a regular file; refuses symlinks and other file kinds."""
    try:
        info = (root / rel).lstat()
    except FileNotFoundError:
        return None
    _check_regular(root / rel, info)
    return safe_path(root, rel)


def _check_regular(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise PathRejected(
            f"{path} is a symlink; task folders may not contain symlinks: "
            "replace it with a copy of the file it points to"
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file: replace it with a regular file")


def _read_text(path: Path, cap: int, what: str) -> str:
    size = path.lstat().st_size
    if size > cap:
        raise UsageError(
            f"{path} is {size} bytes, over the {cap}-byte cap for {what}: shrink or split it"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8") from exc


def _read_spec(path: Path) -> str:
    spec = _read_text(path, MAX_SPEC_BYTES, "a spec")
    if not spec.strip():
        raise UsageError(f"spec {path} is empty: write in it what to build")
    return spec


def _read_config(path: Path) -> TaskConfig:
    try:
        data = tomllib.loads(_read_text(path, MAX_SPEC_BYTES, "task.toml"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix the syntax ({_EXAMPLE})") from exc
    return _validate_config(data, str(path))


def _validate_config(data: Any, where: str) -> TaskConfig:
    try:
        return TaskConfig.model_validate(data)
    except ValidationError as exc:
        known = ", ".join(TaskConfig.model_fields)
        raise ConfigError(
            f"{where}: invalid task config: {_describe(exc)}; "
            f"fix or remove the keys named; the known keys are: {known} "
            f"(and memory_mb, pids under [limits])"
        ) from exc


def override_config(config: TaskConfig, values: Mapping[str, Any], where: str) -> TaskConfig:
    """`config` with `values` in place of its own, checked as task.toml is (caps included)."""
    try:
        return TaskConfig.model_validate({**config.model_dump(), **values})
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: {_describe(exc)}", fix="give a value within the bound named"
        ) from exc


def _describe(exc: ValidationError) -> str:
    """Pydantic's messages, one line per problem, without the documentation links."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        got = "" if error["type"] == "missing" else f" (got {_short(error['input'])})"
        lines.append(f"{where}: {error['msg']}{got}")
    return "; ".join(lines)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _walk(base: Path) -> list[tuple[str, Path]]:
    """(path relative to `base`, absolute path) of every regular file under `base`, sorted.

    Cache folders are skipped; symlinks and special files are refused.
    """
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in [*dirnames, *filenames]:
            full = here / name
            info = full.lstat()
            if stat.S_ISDIR(info.st_mode):
                continue
            _check_regular(full, info)
            rel = full.relative_to(base).as_posix()
            found.append((rel, safe_path(base, rel)))
        if len(found) > MAX_FILES:
            raise UsageError(
                f"{base} holds more than {MAX_FILES} files: keep only what the task needs"
            )
    return sorted(found)


def _subdir(root: Path, name: str) -> Path | None:
    path = root / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise PathRejected(
            f"{path} is a symlink; task folders may not contain symlinks: "
            f"make {name}/ a real folder"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is not a folder: make {name}/ a folder of files")
    return safe_path(root, name)


def _test_sources() -> dict[str, tuple[str, ...]]:
    """Each language's source files' extensions (`sandbox.toolchains`)."""
    from sandbox.toolchains import toolchains

    return {chain.name: chain.extensions for chain in toolchains()}


def _read_tests(root: Path, language: str | None = None) -> dict[str, str]:
    base = _subdir(root, TESTS_DIR)
    if base is None:
        return {}
    sources = _test_sources()
    allowed = sources.get(language or "", tuple(x for v in sources.values() for x in v))
    tests: dict[str, str] = {}
    for rel, full in _walk(base):
        if not rel.endswith(allowed):
            raise UsageError(
                f"{full} is not a {language or 'source'} file: {TESTS_DIR}/ "
                f"holds only test files ({', '.join(allowed)}) and their helpers; "
                f"move it to {STARTER_DIR}/ or out of the task"
            )
        tests[f"{TESTS_DIR}/{rel}"] = _read_text(full, MAX_TEST_BYTES, "a test file")
    return tests


def with_language(config: TaskConfig, tests: Mapping[str, str], where: str) -> TaskConfig:
    """`config` with its language told by the tests when task.toml names none (and the
    language's own test command when task.toml gives none); the tests checked to be that
    language's. A mix, or tests of no language greenloop knows: UsageError naming
    task.toml's `language`."""
    from sandbox.toolchains import detect, toolchain

    language: str | None = config.language
    if tests:
        language = language or _by_extension(tests) or detect(list(tests)).name
        _require_test_file(tests, language, where)
    if language is None:
        return config
    update: dict[str, Any] = {"language": language}
    if "test_command" not in config.model_fields_set:
        update["test_command"] = toolchain(language).default_command
    return config.model_copy(update=update)


def _by_extension(tests: Mapping[str, str]) -> str | None:
    """The one language all the test folder's files are written in, if there is one."""
    sources = _test_sources().items()
    found = {lang for path in tests for lang, exts in sources if path.endswith(exts)}
    return found.pop() if len(found) == 1 else None


def _require_test_file(tests: Mapping[str, str], language: str, where: str) -> None:
    from sandbox.toolchains import toolchain

    chain = toolchain(language)
    if not any(chain.runs_test(rel, text) for rel, text in tests.items()):
        named = chain.test_hint
        raise UsageError(
            f"{where}: the tests hold no {named} file: name the test files {named} "
            f"(or remove {TESTS_DIR}/ to have the tests generated)"
        )


def _read_starter(root: Path) -> dict[str, str]:
    base = _subdir(root, STARTER_DIR)
    if base is None:
        return {}
    return {rel: _read_text(full, MAX_FILE_BYTES, "a starter file") for rel, full in _walk(base)}


class _JsonlTask(BaseModel):
    """One line of a tasks JSONL file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    spec: str
    tests: dict[str, str] = Field(default_factory=dict)
    starter: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


def load_tasks_jsonl(path: Path) -> list[Task]:
    """Load every task of a JSONL file: one JSON object per line, blank lines skipped.

    Each line: {"name", "spec", "tests": {path: content}, "starter": {...}, "config": {...}};
    test paths look like `tests/test_x.py`. Errors name the file and line number.
    """
    path = Path(path)
    refuse_bidi(path, "tasks file path", fix="rename the file without that character")
    if not path.is_file():
        raise UsageError(f"no JSONL file at {path}: give a file with one task per line")
    text = _read_text(path, 64 * MAX_FILE_BYTES, "a tasks file")
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        task = _jsonl_task(line, where, path.parent.resolve(), path.resolve())
        if task.name in seen:
            raise ConfigError(
                f"{where}: task name {task.name!r} is already used on line {seen[task.name]}: "
                "give each task its own name"
            )
        seen[task.name] = lineno
        tasks.append(task)
    if not tasks:
        raise UsageError(f"{path} holds no tasks: write one JSON object per line")
    return tasks


def _jsonl_task(line: str, where: str, root: Path, source: Path) -> Task:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc}): fix this line") from exc
    try:
        item = _JsonlTask.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: invalid task: {_describe(exc)}; "
            'each line needs "name" and "spec", and may have "tests", "starter", "config"'
        ) from exc
    if "/" in item.name or item.name.startswith("."):
        raise ConfigError(f"{where}: task name {item.name!r} must be a plain folder name")
    safe_path(root, item.name)
    if not item.spec.strip():
        raise UsageError(f"{where}: the spec of {item.name!r} is empty: write what to build")
    size = len(item.spec.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise ConfigError(
            f"{where}: the spec of {item.name!r} is {size} bytes, over the {MAX_SPEC_BYTES}-byte "
            "cap a spec.md has: shrink or split it"
        )
    for rel, content in item.tests.items():
        _check_jsonl_test(rel, content, where, root)
    config = with_language(_validate_config(item.config, where), item.tests, where)
    for rel in item.starter:
        safe_path(root, rel)
    return Task(
        name=item.name,
        root=root,
        spec=item.spec,
        tests=MappingProxyType(dict(item.tests)),
        starter=MappingProxyType(dict(item.starter)),
        config=config,
        source=source,
    )


def _check_jsonl_test(rel: str, content: str, where: str, root: Path) -> None:
    try:
        safe_path(root, rel)
    except PathRejected as exc:
        raise PathRejected(f"{where}: {exc}") from exc
    sources = tuple(x for v in _test_sources().values() for x in v)
    if not (rel.startswith(f"{TESTS_DIR}/") and rel.endswith(sources)):
        raise UsageError(
            f"{where}: test path {rel!r} must be a test file under {TESTS_DIR}/, "
            f"e.g. {TESTS_DIR}/test_x.py or {TESTS_DIR}/x.test.js"
        )
    size = len(content.encode())
    if size > MAX_TEST_BYTES:
        raise UsageError(
            f"{where}: {rel} is {size} bytes, over the {MAX_TEST_BYTES}-byte cap "
            "for a test file: shrink or split it"
        )
