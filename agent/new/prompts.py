"""The prompts `greenloop new` sends: the plan, each file, a syntax correction, feedback.

Short on purpose: every token is paid for, and small models follow short, concrete
instructions best. What `new` and `fix` share (the system prompt, the fence, how a
failure reads) is `agent.run.prompts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.edits.extract import fenced_blocks
from agent.languages import language_of
from agent.model import Message
from agent.new.plan import DEFAULT_TEST_COMMAND, EXAMPLE_PATH, Plan, PlannedFile
from agent.new.requirements import Requirements, requirements_text
from agent.new.speccode import read_spec_code
from agent.run.prompts import (
    MAX_FAILURES,
    failing,
    failure,
    fence,
    pointed_at,
    system_for,
)
from sandbox.base import TestReport

__all__ = [
    "PLAN_INSTRUCTIONS",
    "code_to_complete",
    "completion_messages",
    "feedback_messages",
    "file_messages",
    "plan_prompt",
    "syntax_fix_messages",
]

_MAX_TEST_CHARS = 6000
_MAX_FILE_CHARS = 12000
_DEFINED = re.compile(r"^\s*(?:async\s+def\s+|def\s+|class\s+)?([A-Za-z_]\w*)")
_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.M)
_PYTHON = frozenset({"", "python", "py", "python3", "py3"})
_JS_DEFINES = re.compile(
    r"^(?:export\s+(?:default\s+)?)?(?:(?:async\s+)?function\s*\*?\s*|class\s+"
    r"|(?:const|let|var)\s+)([A-Za-z_$][\w$]*)",
    re.M,
)
_GO_DEFINES = re.compile(r"^(?:func|type)\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)", re.M)
_RUST_DEFINES = re.compile(
    r"^(?:pub(?:\([^)]*\))?\s+)?(?:const\s+|async\s+|unsafe\s+)*(?:fn|struct|enum|trait|type)\s+"
    r"([A-Za-z_]\w*)",
    re.M,
)
_FENCES = {
    "python": _PYTHON,
    "javascript": frozenset({"javascript", "js", "mjs", "cjs", "jsx"}),
    "typescript": frozenset({"typescript", "ts", "mts", "tsx"}),
    "go": frozenset({"go", "golang"}),
    "rust": frozenset({"rust", "rs"}),
}
_DEFINES_BY_FENCE = {"go": _GO_DEFINES, "rust": _RUST_DEFINES}
_FENCED = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(?P<body>.*?)^[ \t]*\1[ \t]*$\n?", re.M | re.S)


def _defines(fence: str) -> re.Pattern[str]:
    """What a top-level definition of a name looks like in the language of `fence`."""
    if fence == "python":
        return _DEFINES
    return _DEFINES_BY_FENCE.get(fence, _JS_DEFINES)


def _interfaces(plan: Plan, skip: str) -> str:
    lines = []
    for other in plan.files:
        if other.path != skip and other.interface:
            lines.append(f"- {other.path}: " + "; ".join(other.interface))
    return "\n".join(lines)


def _tests_touching(path: str, tests: Mapping[str, str]) -> dict[str, str]:
    """The tests that import this file's module (all of them when none names it)."""
    module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    leaf = module.rsplit(".", 1)[-1]
    hits = {p: t for p, t in tests.items() if module in t or leaf in t}
    return hits or dict(tests)


def _starting_point(spec: str, target: PlannedFile) -> str:
    """The spec's own import lines and signatures of what the file must define, if any."""
    code = read_spec_code(spec)
    names = {m.group(1) for line in target.interface if (m := _DEFINED.match(line))}
    signatures = [line for name, line in code.signatures.items() if name in names]
    if not signatures:
        return ""
    imports = [i.text for i in code.imports]
    head = "\n".join(imports) + "\n\n\n" if imports else ""
    return f"Start from the spec's code:\n```python\n{head}" + "\n".join(signatures) + "\n```"


def code_to_complete(spec: str, target: PlannedFile) -> str:
    """The spec's code in `target`'s language, when it already shows every name `target`
    must define (a skeleton to fill in): the blocks that define those names, joined; ""
    otherwise."""
    names = {m.group(1) for line in target.interface if (m := _DEFINED.match(line))}
    language = language_of(target.path)
    if not names or language is None:
        return ""
    defines = _defines(language.fence)
    fences = _FENCES[language.fence]
    blocks = [b.body.strip("\n") for b in fenced_blocks(spec) if b.language in fences]
    defined = [(b, {m.group(1) for m in defines.finditer(b)}) for b in blocks]
    mine = [(b, found) for b, found in defined if found & names]  # not the other files' code
    shown = set().union(*(found for _, found in mine))
    return "\n\n\n".join(b for b, _ in mine) if names <= shown else ""


def _prose(spec: str, code: str) -> str:
    """The spec without the blocks of `code`: what it says around that code (other
    blocks, such as test output or examples, stay)."""
    shown = {part.strip("\n") for part in code.split("\n\n\n")}
    text = _FENCED.sub(lambda m: "" if m.group("body").strip("\n") in shown else m.group(), spec)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def completion_messages(
    spec: str, plan: Plan, target: PlannedFile, code: str, bare: bool = False
) -> list[Message]:
    """Ask to complete the spec's own code (`code_to_complete`): the words around it, the
    code, one instruction. Small models complete code they are shown far better than
    they follow a long brief.

    `bare` asks as the naive HumanEval baseline does: the code alone, no path, no
    prose. A restart's samples alternate the two (`Generator.write_one`), because
    each phrasing solves problems the other misses: on HumanEval 40-79, 8 samples
    of the bare one solved 66 at the first, and 18 of the full one never did; the
    full one solved 49, which 8 bare ones missed."""
    language = language_of(target.path)
    name, fence = (language.name, language.fence) if language else ("Python", "python")
    defines = _defines(fence)
    if bare:
        what = "function" if len(defines.findall(code)) == 1 else "code"
        parts = [
            f"Complete this {name} {what}. Reply with the whole {what} in one ```{fence} block."
        ]
    else:
        parts = [
            f"Complete this {name} code: `{target.path}`. Reply with the whole code in one "
            f"```{fence} block."
        ]
        prose = _prose(spec, code)
        if prose:
            parts.append(prose)
    others = _interfaces(plan, target.path)
    if others:
        parts.append(f"Other files of the project offer:\n{others}")
    parts.append(f"```{fence}\n{code}\n```")
    return [Message.system(system_for([target.path])), Message.user("\n\n".join(parts))]


def file_messages(
    spec: str, plan: Plan, target: PlannedFile, tests: Mapping[str, str], requirements: str
) -> list[Message]:
    """Ask for one whole file: the spec, its duty, the others' interfaces, its tests."""
    parts = [f"Spec:\n{spec.strip()}", f"Write the file `{target.path}`: {target.purpose}"]
    if target.interface:
        parts.append("It must define:\n" + "\n".join(f"- {s}" for s in target.interface))
    start = _starting_point(spec, target) if target.path.endswith(".py") else ""
    if start:
        parts.append(start)
    if requirements:
        parts.append(f"Hard requirements from the tests:\n{requirements}")
    others = _interfaces(plan, target.path)
    if others:
        parts.append(f"Other files of the project offer:\n{others}")
    budget = _MAX_TEST_CHARS
    for path, text in _tests_touching(target.path, tests).items():
        if budget <= 0:
            break
        parts.append("The tests it must pass:\n" + fence(path, text[:budget]))
        budget -= len(text)
    parts.append(f"Reply with the complete `{target.path}` in one ```{_fence(target.path)} block.")
    return [Message.system(system_for([target.path])), Message.user("\n\n".join(parts))]


def _fence(path: str) -> str:
    """The info string a reply carrying `path` is asked in (python, javascript, ...)."""
    language = language_of(path)
    return language.fence if language else "python"


def syntax_fix_messages(path: str, source: str, problems: str) -> list[Message]:
    """Send a file that does not parse back, with the error's line."""
    return [
        Message.system(system_for([path])),
        Message.user(
            f"`{path}` has a syntax error:\n{problems}\n\n{fence(path, source)}\n\n"
            f"Reply with the corrected complete `{path}` in one ```{_fence(path)} block."
        ),
    ]


def feedback_messages(
    spec: str,
    files: Mapping[str, str],
    report: TestReport,
    edit_instructions: str,
    refused: str = "",
) -> list[Message]:
    """The failing tests, their tracebacks and the files they point at; ask for edits."""
    failed = failing(report)
    parts = [f"Spec:\n{spec.strip()}", "The code:"]
    budget = _MAX_FILE_CHARS
    for path in pointed_at(report, files):
        if budget <= 0:
            parts.append(f"({path} not shown)")
            continue
        parts.append(fence(path, files[path][:budget]))
        budget -= len(files[path])
    summary = f"{report.passed} passed, {report.failed} failed, {report.errors} errors"
    if report.timed_out:
        summary += " (the run TIMED OUT: look for infinite loops)"
    parts.append(f"Test results: {summary}")
    parts.extend(failure(c) for c in failed[:MAX_FAILURES])
    if report.note and not failed:
        parts.append(report.note)
    if refused:
        parts.append(f"Your previous edits were NOT applied:\n{refused}")
    parts.append("Fix the code so the tests pass. The tests may not be changed.")
    parts.append(edit_instructions)
    return [Message.system(system_for(files)), Message.user("\n\n".join(parts))]


# ---------------------------------------------------------------- the plan

PLAN_INSTRUCTIONS = f"""\
You plan a small Python project. Answer with one JSON object and nothing else:

{{
  "files": [
    {{"path": "{EXAMPLE_PATH}", "purpose": "what this file is for",
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
