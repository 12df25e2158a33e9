"""The plan: which files to write, what each offers the others, how to test them.

The model answers the planning prompt with JSON; `parse_plan` finds it in the
reply (fenced, wrapped in prose, with trailing commas or comments) and
validates it, raising `PlanInvalid` with a message meant for the model. What
the acceptance tests import is then forced into the plan by
`enforce_requirements`; when the model cannot produce a valid plan within its
budget, `fallback_plan` is the plan the tests imply.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.edits.base import check_path
from agent.errors import FormatError, PathRejected
from agent.extract import fenced_blocks, normalize_newlines
from agent.model.base import Message
from agent.requirements import Requirements, requirements_text

__all__ = [
    "DEFAULT_TEST_COMMAND",
    "PLAN_INSTRUCTIONS",
    "Plan",
    "PlanInvalid",
    "PlannedFile",
    "enforce_requirements",
    "fallback_plan",
    "parse_plan",
    "plan_prompt",
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


PLAN_INSTRUCTIONS = f"""\
You plan a small Python project. Answer with one JSON object and nothing else:

{{
  "files": [
    {{"path": "pkg/mod.py", "purpose": "what this file is for",
     "interface": ["def add(a: int, b: int) -> int"]}}
  ],
  "test_command": "{DEFAULT_TEST_COMMAND}",
  "packages": [],
  "test_files": []
}}

- "files": every source file to write, with relative paths; "interface" lists the
  functions and classes the other files or the tests use, as signatures.
- "packages": third-party packages to pip install; leave out the standard library.
- "test_files": only when told there are no acceptance tests: the pytest files to write.
"""


def _string_step(char: str, escaped: bool) -> tuple[bool, bool]:
    """Inside a JSON string: (still inside, next char escaped) after `char`."""
    if escaped:
        return True, False
    if char == "\\":
        return True, True
    return char != '"', False


def _top_level_objects(text: str) -> list[str]:
    """Every balanced `{...}` that is not inside another, by brace matching outside strings."""
    found: list[str] = []
    depth, start, in_string, escaped = 0, -1, False, False
    for index, char in enumerate(text):
        if in_string:
            in_string, escaped = _string_step(char, escaped)
        elif char == '"' and depth:
            in_string = True
        elif char == "{":
            start = index if depth == 0 else start
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append(text[start : index + 1])
    return found


def _relax(text: str) -> str:
    """Drop `//` comments and trailing commas, outside strings."""
    out: list[str] = []
    in_string, escaped, index = False, False, 0
    while index < len(text):
        char = text[index]
        if in_string:
            in_string, escaped = _string_step(char, escaped)
        elif char == '"':
            in_string = True
        elif text.startswith("//", index):
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
            continue
        elif char == "," and re.match(r"\s*[}\]]", text[index + 1 :]):
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _load(candidate: str) -> Any:
    for attempt in (candidate, _relax(candidate)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            continue
    try:  # a Python dict: single quotes, True/None
        return ast.literal_eval(candidate)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


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
    candidates += _top_level_objects(text)
    first_error: ValidationError | None = None
    for candidate in dict.fromkeys(candidates):
        data = _load(candidate.strip())
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


def _title(spec: str) -> str:
    for line in spec.splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text[:120]
    return "the spec"


def fallback_plan(reqs: Requirements, spec: str) -> Plan:
    """The plan the tests imply: one file per required module (or `main.py` with tests)."""
    title = _title(spec)
    if reqs.modules:
        first = PlannedFile(path=reqs.modules[0].path, purpose=title)
        return enforce_requirements(Plan(files=[first]), reqs)
    main = PlannedFile(path="main.py", purpose=title)
    written = (
        []
        if reqs.test_files
        else [
            PlannedFile(path="tests/test_main.py", purpose=f"pytest tests of main.py for: {title}")
        ]
    )
    return enforce_requirements(Plan(files=[main], test_files=written), reqs)


def plan_prompt(spec: str, reqs: Requirements, has_tests: bool) -> list[Message]:
    """The planning conversation: instructions, then the spec and the tests' requirements."""
    parts = [f"## Spec\n\n{spec.strip()}"]
    required = requirements_text(reqs)
    if required:
        parts.append(f"## Requirements (from the acceptance tests; keep these names)\n\n{required}")
    if has_tests:
        parts.append(
            "Acceptance tests exist: leave `test_files` empty and never plan to edit them."
        )
    else:
        parts.append(
            "There are no acceptance tests: name the pytest files to write in `test_files`."
        )
    parts.append("Answer with the JSON plan only.")
    return [Message.system(PLAN_INSTRUCTIONS), Message.user("\n\n".join(parts))]
