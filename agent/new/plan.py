"""The plan: which files to write, what each offers the others, how to test them.

The model answers the planning prompt with JSON; `parse_plan` finds it in the
reply (fenced, wrapped in prose, with trailing commas or comments) and
validates it, raising `PlanInvalid` with a message meant for the model. Where
the backend can, decoding is constrained to `plan_schema` so the reply is the
JSON and nothing else. What the acceptance tests import is then forced into
the plan by `enforce_requirements`; when the model cannot produce a valid plan
within its budget, `fallback_plan` is the plan the tests imply. When the tests
already imply the complete plan and the spec names nothing more,
`implied_plan` gives it and no model is asked at all.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.edits.base import check_path
from agent.edits.extract import fenced_blocks, normalize_newlines
from agent.errors import FormatError, PathRejected
from agent.new.plan_schema import closed_prefix, load_lenient, top_level_objects
from agent.new.requirements import Requirements
from agent.new.speccode import read_spec_code
from sandbox.packages import THIRD_PARTY

__all__ = [
    "DEFAULT_TEST_COMMAND",
    "EXAMPLE_PATH",
    "Plan",
    "PlanInvalid",
    "PlannedFile",
    "enforce_requirements",
    "fallback_plan",
    "implied_plan",
    "parse_plan",
    "plan_schema",
    "plan_size",
    "without_example",
]

log = logging.getLogger(__name__)

DEFAULT_TEST_COMMAND = "python -m pytest -q"
# A pip requirement, nothing a shell could read more into.
_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?"
    r"(\s*(==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!-]+\s*,?)*$"
)
_PREINSTALLED = frozenset({"pytest"})


class PlanInvalid(FormatError):
    """The reply holds no valid plan; the message says why, for the model."""


class PlannedFile(BaseModel):
    """One file the plan will write."""

    model_config = ConfigDict(extra="forbid")

    path: str
    """Relative POSIX path inside the project, e.g. `pkg/mod.py`."""
    purpose: str = ""
    """One or two sentences: what the file is for."""
    interface: list[str] = Field(default_factory=list)
    """What it offers the other files: signatures like `def add(a: int, b: int) -> int`."""

    @field_validator("path")
    @classmethod
    def _safe(cls, value: str) -> str:
        try:
            return check_path(value.strip())
        except PathRejected as exc:
            raise ValueError(str(exc)) from exc


class Plan(BaseModel):
    """The files to write and how to test them."""

    model_config = ConfigDict(extra="forbid")

    files: list[PlannedFile] = Field(min_length=1)
    """The source files, in the order they should be written."""
    test_command: str = Field(default=DEFAULT_TEST_COMMAND, min_length=1)
    """The command that runs the tests from the project root."""
    packages: list[str] = Field(default_factory=list)
    """Third-party distributions to install (pip requirement strings)."""
    test_files: list[PlannedFile] = Field(default_factory=list)
    """Tests the model writes itself: used only when there are no acceptance tests."""

    @field_validator("files", "test_files")
    @classmethod
    def _merge_duplicates(cls, files: list[PlannedFile]) -> list[PlannedFile]:
        merged: dict[str, PlannedFile] = {}
        for item in files:
            first = merged.get(item.path)
            if first is None:
                merged[item.path] = item
            else:
                extra = [sig for sig in item.interface if sig not in first.interface]
                merged[item.path] = first.model_copy(
                    update={"interface": [*first.interface, *extra]}
                )
        return list(merged.values())

    @field_validator("packages")
    @classmethod
    def _real_packages(cls, packages: list[str]) -> list[str]:
        kept: list[str] = []
        for raw in packages:
            name = raw.strip()
            if not _REQUIREMENT.match(name):
                raise ValueError(f"{raw!r} is not a pip requirement like `requests>=2`")
            base = re.split(r"[\[<>=!~ ]", name, maxsplit=1)[0]
            if base in sys.stdlib_module_names or base.lower() in _PREINSTALLED:
                log.debug("dropping %r from packages: standard library or preinstalled", raw)
            elif name not in kept:
                kept.append(name)
        return kept


EXAMPLE_PATH = "pkg/mod.py"
"""The path the plan's example shows; a plan that copies it is not taken at its word."""


_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,99}$"
_PACKAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}((==|>=|<=|~=|!=|>|<)[0-9][0-9.]{0,15})?$"


def _file_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "path": {"type": "string", "pattern": _PATH_PATTERN, "maxLength": 100},
            "purpose": {"type": "string", "maxLength": 200},
            "interface": {
                "type": "array",
                "items": {"type": "string", "maxLength": 160},
                "maxItems": 12,
            },
        },
        "required": ["path", "purpose", "interface"],
        "additionalProperties": False,
    }


def plan_schema(has_tests: bool, max_files: int = 12) -> dict[str, Any]:
    """The plan's JSON schema for constrained decoding.

    Every field is required and nothing else allowed (what strict endpoints demand);
    strings and lists are bounded, so a decoder that starts repeating itself still
    closes the JSON within a few hundred tokens. With acceptance tests, `test_files`
    can only be empty.
    """
    return {
        "title": "Plan",
        "type": "object",
        "properties": {
            "files": {
                "type": "array",
                "items": _file_schema(),
                "minItems": 1,
                "maxItems": max(1, max_files),
            },
            "test_command": {"type": "string", "minLength": 1, "maxLength": 80},
            "packages": {
                "type": "array",
                "items": {"type": "string", "pattern": _PACKAGE_PATTERN},
                "maxItems": 8,
            },
            "test_files": {
                "type": "array",
                "items": _file_schema(),
                "maxItems": 0 if has_tests else 6,
            },
        },
        "required": ["files", "test_command", "packages", "test_files"],
        "additionalProperties": False,
    }


_TOP_ALIASES = {
    "test_cmd": "test_command",
    "command": "test_command",
    "dependencies": "packages",
    "requirements": "packages",
    "tests": "test_files",
}
_FILE_ALIASES = {
    "file": "path",
    "filename": "path",
    "name": "path",
    "description": "purpose",
    "functions": "interface",
    "signatures": "interface",
    "interfaces": "interface",
}


def _rename(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    return {aliases.get(k, k) if aliases.get(k, k) not in data else k: v for k, v in data.items()}


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the usual variations of weaker models: aliases, strings for lists."""
    if set(data) == {"plan"} and isinstance(data["plan"], dict):
        data = data["plan"]
    data = _rename(data, _TOP_ALIASES)
    for key in ("files", "test_files"):
        if isinstance(data.get(key), list):
            data[key] = [_normalize_file(item) for item in data[key]]
    if isinstance(data.get("packages"), str):
        data["packages"] = re.split(r"[\s,]+", data["packages"].strip())
    return data


def _normalize_file(item: Any) -> Any:
    if isinstance(item, str):
        return {"path": item}
    if not isinstance(item, dict):
        return item
    item = _rename(item, _FILE_ALIASES)
    if isinstance(item.get("interface"), str):
        item["interface"] = [item["interface"]]
    return item


def _errors_text(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "plan"
        lines.append(f"- {where}: {error['msg']}")
    return "\n".join(lines)


def parse_plan(reply: str) -> Plan:
    """The plan in `reply`; PlanInvalid (with the reason, for the model) when there is none."""
    text = normalize_newlines(reply)
    candidates = [b.body for b in fenced_blocks(text) if "{" in b.body]
    candidates += top_level_objects(text)
    salvaged = closed_prefix(text)
    if salvaged is not None:
        candidates.append(salvaged)
    first_error: ValidationError | None = None
    for candidate in dict.fromkeys(candidates):
        data = load_lenient(candidate.strip())
        if not isinstance(data, dict):
            continue
        try:
            return Plan.model_validate(_normalize(data))
        except ValidationError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise PlanInvalid(f"the plan is invalid:\n{_errors_text(first_error)}")
    raise PlanInvalid("no JSON object found in the reply: answer with one JSON object only")


def _mentions(interface: list[str], name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return any(pattern.search(line) for line in interface)


def enforce_requirements(plan: Plan, reqs: Requirements) -> Plan:
    """The plan with every file and name the tests require, and no acceptance test in it."""
    tests = set(reqs.test_files)
    files = {f.path: f for f in plan.files if f.path not in tests}
    for module in reqs.modules:
        signatures = [(name.name, name.signature()) for name in module.names]
        planned = files.get(module.path)
        if planned is None:
            used_by = ", ".join(f"`{t}`" for t in module.used_by)
            purpose = f"module `{module.module}`, imported by {used_by}"
            files[module.path] = PlannedFile(
                path=module.path, purpose=purpose, interface=[sig for _, sig in signatures]
            )
            continue
        missing = [sig for name, sig in signatures if not _mentions(planned.interface, name)]
        if missing:
            interface = [*planned.interface, *missing]
            files[module.path] = planned.model_copy(update={"interface": interface})
    packages = [*plan.packages, *(p for p in reqs.packages if p not in plan.packages)]
    return Plan(
        files=list(files.values()),
        test_command=plan.test_command,
        packages=packages,
        test_files=[] if tests else plan.test_files,
    )


def without_example(plan: Plan, spec: str) -> Plan:
    """The plan without the instructions' example file, which small models copy, unless
    the spec names it (the tests' files were enforced already)."""
    kept = [f for f in plan.files if f.path != EXAMPLE_PATH or EXAMPLE_PATH in spec]
    if not kept or len(kept) == len(plan.files):
        return plan
    return plan.model_copy(update={"files": kept})


def _title(spec: str) -> str:
    for line in spec.splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text[:120]
    return "the spec"


def _spec_signatures(plan: Plan, signatures: Mapping[str, str]) -> Plan:
    """Interface lines the tests guessed (`add(arg1, arg2)`) replaced by the spec's own
    (`def add(a: int, b: int) -> int`) where the spec shows the function."""

    def better(line: str) -> str:
        name = line.split("(", 1)[0].strip()
        spec_line = signatures.get(name, "")
        if "(" in line and spec_line.lstrip().startswith(("def ", "async def ")):
            return spec_line.strip().removesuffix(":")
        return line

    files = [
        f.model_copy(update={"interface": [better(line) for line in f.interface]})
        for f in plan.files
    ]
    return plan.model_copy(update={"files": files})


def fallback_plan(reqs: Requirements, spec: str) -> Plan:
    """The plan the tests imply: one file per required module (or `main.py` with tests)."""
    title = _title(spec)
    if reqs.modules:
        first = PlannedFile(path=reqs.modules[0].path, purpose=title)
        plan = enforce_requirements(Plan(files=[first]), reqs)
        return _spec_signatures(plan, read_spec_code(spec).signatures)
    main = PlannedFile(path="main.py", purpose=title)
    written = (
        []
        if reqs.test_files
        else [
            PlannedFile(path="tests/test_main.py", purpose=f"pytest tests of main.py for: {title}")
        ]
    )
    return enforce_requirements(Plan(files=[main], test_files=written), reqs)


def _unplanned(spec: str, reqs: Requirements) -> list[str]:
    """What the spec names that the tests do not require: files, local or new modules."""
    required = set(reqs.paths())
    tests = set(reqs.test_files) | {t.rsplit("/", 1)[-1] for t in reqs.test_files}
    code = read_spec_code(spec)
    extra = [f for f in code.files if f not in required and f not in tests]
    local = {m.module for m in reqs.modules} | {m.module.split(".")[0] for m in reqs.modules}
    for module in code.modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or module in local:
            continue
        if top in THIRD_PARTY and THIRD_PARTY[top] in (None, *reqs.packages):
            continue
        extra.append(f"module {module}")
    return extra


def plan_size(spec: str, reqs: Requirements) -> int:
    """How many files a plan may list: what the tests require and the spec names, and a
    few more (helpers), so a decoder that repeats entries stops early."""
    named = {f for f in read_spec_code(spec).files if f.endswith(".py")}
    return len(named | set(reqs.paths())) + 3


def implied_plan(spec: str, reqs: Requirements, has_tests: bool) -> tuple[Plan, str] | None:
    """The plan, with no model asked, when the acceptance tests imply all of it: they
    import the modules to write and the names in them, and the spec names no other file
    or module. Returns the plan and why it was not asked for; None: ask the model."""
    if not has_tests or not reqs.modules or not any(m.names for m in reqs.modules):
        return None
    extra = _unplanned(spec, reqs)
    if extra:
        log.debug("the spec names more than the tests require: %s", ", ".join(extra))
        return None
    names = [f"{m.path} ({', '.join(n.name for n in m.names)})" for m in reqs.modules if m.names]
    reason = f"the tests import {'; '.join(names)} and the spec names no other file or module"
    return fallback_plan(reqs, spec), reason
