"""Plan, then write the planned files in parallel, each through the syntax gate.

    plan = make_plan(ask, spec, reqs, has_tests)      # model plan, else the tests' plan
    files = Generator(ask, spec, plan, tests, reqs)(temperature=0.0)

No plan is asked for when the tests already imply it (`implied_plan`); a plan
that is asked for is decoded against its JSON schema where the backend can.
One model call per file, all at once: the model's own concurrency limit bounds
how many are in flight. Each reply stops after its block, its `max_tokens`
sized from what it must hold (`agent.run.replies`). A file that does not parse goes
back to the model with the error's line before any test run is spent on it;
a file that uses a name the spec imported, without importing it, gets the
spec's import line back (`restore_imports`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from agent.edits import check_path
from agent.edits.extract import extract_file, fenced_blocks
from agent.errors import PathRejected
from agent.languages import language_of
from agent.model import Message
from agent.new.js_requirements import restore_exports
from agent.new.native_requirements import restore_go_package, restore_rust_pub
from agent.new.plan import (
    Plan,
    PlanInvalid,
    PlannedFile,
    enforce_requirements,
    fallback_plan,
    implied_plan,
    parse_plan,
    plan_schema,
    plan_size,
    without_example,
)
from agent.new.prompts import (
    code_to_complete,
    completion_messages,
    file_messages,
    plan_prompt,
    syntax_fix_messages,
)
from agent.new.requirements import Requirements, requirements_text
from agent.new.speccode import (
    drop_self_imports,
    read_spec_code,
    restore_definitions,
    restore_imports,
)
from agent.run.budget import Caller, LimitsExceeded
from agent.run.events import (
    DefinitionsRestored,
    ImportsRestored,
    InvalidPlan,
    Malformed,
    MisnamedBlock,
    PlanSkipped,
    Rejected,
    SelfImportDropped,
    Syntax,
    SyntaxTrimmed,
)
from agent.run.replies import (
    FILE_MAX,
    body_reply,
    file_reply,
    guided,
    plan_reply,
    rewrite_reply,
)
from agent.syntax import SyntaxProblem, check_python, check_source, goes_on, render_problems

__all__ = ["Generator", "make_plan"]

log = logging.getLogger(__name__)

PLAN_TRIES = 2
SYNTAX_TRIES = 2
_PYTHON = frozenset({"", "python", "py", "python3", "py3"})


def make_plan(ask: Caller, spec: str, reqs: Requirements, has_tests: bool) -> tuple[Plan, str]:
    """The plan the tests imply when that is all of it; else the model's plan with the
    tests' requirements enforced, or the tests' plan when the model gives none.

    Returns the plan and where it came from: "tests" (not asked: the trajectory's
    `plan_skipped` says why), "model" or "fallback".
    """
    implied = implied_plan(spec, reqs, has_tests)
    if implied is not None:
        plan, reason = implied
        ask.record(PlanSkipped(reason=reason))
        return plan, "tests"
    messages = plan_prompt(spec, reqs, has_tests)
    shape = plan_reply(sum(len(m.names) + 1 for m in reqs.modules))
    schema = plan_schema(has_tests, plan_size(spec, reqs))
    for attempt in range(1, PLAN_TRIES + 1):
        reply = ask(messages, "plan", temperature=0.0, json_schema=schema, **shape)
        try:
            plan = without_example(enforce_requirements(parse_plan(reply), reqs), spec)
        except PlanInvalid as exc:
            ask.record(InvalidPlan(attempt=attempt, error=str(exc)))
            messages = [
                *messages,
                Message.assistant(reply),
                Message.user(f"That plan is invalid:\n{exc}\nAnswer with the corrected JSON only."),
            ]
            continue
        if plan.files:
            return plan, "model"
    return fallback_plan(reqs, spec), "fallback"


class Generator:
    """Writes every planned file from the clean prompt; call it again for a fresh sample."""

    def __init__(
        self,
        ask: Caller,
        spec: str,
        plan: Plan,
        tests: Mapping[str, str],
        reqs: Requirements,
    ) -> None:
        self.ask, self.spec, self.plan = ask, spec, plan
        self.tests = dict(tests)
        self.reqs = reqs
        self.generated_tests: dict[str, str] = {}
        self.samples = 0
        self.spec_code = read_spec_code(spec)

    def targets(self) -> list[PlannedFile]:
        """Planned files to write now; generated tests only once (then they are fixed)."""
        files = list(self.plan.files)
        if not self.tests and not self.generated_tests:
            files += self.plan.test_files
        return files

    def __call__(self, temperature: float, seed: int | None = None) -> dict[str, str]:
        """A full set of files; each sample gets its own seed (by default its number), so a
        run can be repeated."""
        self.samples += 1
        seed = self.samples if seed is None else seed
        targets = self.targets()
        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            contents = list(pool.map(lambda f: self.write_one(f, temperature, seed), targets))
        files = {f.path: text for f, text in zip(targets, contents, strict=True)}
        written_tests = {p: files.pop(p) for p in list(files) if self._is_test(p)}
        if written_tests and not self.tests:
            self.generated_tests = written_tests
        return files

    def _is_test(self, path: str) -> bool:
        return any(path == t.path for t in self.plan.test_files)

    def write_one(self, target: PlannedFile, temperature: float, seed: int = 0) -> str:
        """One file: ask, extract, check the path, then the syntax gate."""
        try:
            check_path(target.path)
        except PathRejected as exc:
            self.ask.record(Rejected(path=target.path, reason=str(exc)))
            raise LimitsExceeded("unsafe-path", str(exc)) from exc
        required = self.reqs.for_path(target.path)
        text = requirements_text(self.reqs) if required else ""
        # A fresh sample (temperature > 0) sees the spec and the required names, not the
        # tests' code: a small model shown tests copies them instead of writing the file
        # (measured on HumanEval 40-49), and a restart's worth is being independent.
        tests = (self.tests or self.generated_tests) if temperature == 0 else {}
        code = code_to_complete(self.spec, target)
        if code:  # the spec shows the file's skeleton: complete it, as the baseline asks
            # A restart's odd samples are asked barely, the even ones in full: the two
            # phrasings solve different problems (`completion_messages`).
            bare = temperature > 0 and seed % 2 == 1
            messages = completion_messages(self.spec, self.plan, target, code, bare=bare)
            shape = body_reply(code)
        else:
            messages = file_messages(self.spec, self.plan, target, tests, text)
            shape = file_reply(self.spec, target.interface)
        reply = self.ask(
            messages,
            f"file:{target.path}",
            temperature=temperature,
            seed=seed,
            **guided(shape, target.path),
        )
        # A sample (temperature > 0) that does not parse is not mended: another sample
        # costs less than a correction, and a small model's corrections rarely parse.
        tries = SYNTAX_TRIES if temperature == 0 else 0
        # Nor is a sample with no code charged as a bad reply: it comes back empty, and
        # the restart that drew it counts as one (`Loop.restart`).
        extracted = self._extract(reply, target.path, charge=temperature == 0)
        source = self._syntax_gate(target, extracted, tries, room=shape["max_tokens"])
        return self._restore_imports(target.path, source)

    def _syntax_gate(
        self, target: PlannedFile, source: str, tries: int = SYNTAX_TRIES, room: int = FILE_MAX
    ) -> str:
        """The source, or its parseable head, or the model's correction of it (at most
        `tries` times; with none left, "": nothing to test). A correction gets no more
        room than the file was given (`room` tokens): a file that ran to its cap would
        otherwise be sent back with more, and its rewrite run to that cap too (measured:
        a 1,036-token reply rewritten to 1,745 tokens, then to 2,048, 6 minutes of one
        task on 2 cores, none of it parsing)."""
        for attempt in range(tries + 1):
            problems = check_source(target.path, source)
            if not problems:
                return source
            self.ask.record(Syntax(path=target.path, problems=tuple(str(p) for p in problems)))
            python = target.path.endswith(".py")
            trimmed = trim_to_parseable(source, problems) if python else None
            if trimmed is not None:
                kept = trimmed.count("\n")
                self.ask.record(SyntaxTrimmed(path=target.path, kept_lines=kept))
                return trimmed
            if attempt == tries:
                break
            fix = syntax_fix_messages(
                target.path, source, render_problems(target.path, source, problems)
            )
            shape = rewrite_reply(source)
            shape["max_tokens"] = min(shape["max_tokens"], room)
            reply = self.ask(
                fix, f"syntax:{target.path}", temperature=0.0, **guided(shape, target.path)
            )
            mended = self._extract(reply, target.path)
            if mended.strip() == source.strip():
                break  # the same code again: asking once more would get it a third time
            source = mended
        return source if tries else ""

    def _restore_imports(self, path: str, source: str) -> str:
        """Drop the file's import of itself; put back what the spec gave and the file
        dropped: whole helper definitions, then imports, for names it uses and never binds."""
        language = language_of(path)
        if language is not None and language.toolchain == "javascript":
            return self._restore_exports(path, source)
        if language is not None and language.toolchain in ("go", "rust"):
            return self._restore_native(path, source, language.toolchain)
        if not path.endswith(".py"):
            return source
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        source, dropped = drop_self_imports(source, module)
        if dropped:
            self.ask.record(SelfImportDropped(path=path, lines=tuple(dropped)))
        source, defined = restore_definitions(source, self.spec_code.definitions)
        if defined:
            self.ask.record(DefinitionsRestored(path=path, names=tuple(defined)))
        restored, added = restore_imports(source, self.spec_code.imports)
        if added:
            self.ask.record(ImportsRestored(path=path, lines=tuple(added)))
        return restored

    def _restore_exports(self, path: str, source: str) -> str:
        """Export what the tests import and the file defines but does not export."""
        required = self.reqs.for_path(path)
        if required is None or not source.strip():
            return source
        tests = [self.tests.get(t, "") for t in required.used_by]
        commonjs = path.endswith(".cjs") or any("require(" in t for t in tests)
        names = [n.name for n in required.names]
        restored = restore_exports(path, source, names, commonjs=commonjs)
        if restored != source:
            self.ask.record(ImportsRestored(path=path, lines=(restored.rsplit("\n", 2)[-2],)))
        return restored

    def _restore_native(self, path: str, source: str, chain: str) -> str:
        """A Go file's package clause, a Rust library's `pub` on what the tests call."""
        required = self.reqs.for_path(path)
        if required is None or not source.strip():
            return source
        if chain == "go":
            restored = restore_go_package(source, required.module)
        else:
            restored = restore_rust_pub(source, [n.name for n in required.names])
        if restored != source:
            added = [line for line in restored.splitlines() if line not in source.splitlines()]
            self.ask.record(ImportsRestored(path=path, lines=tuple(added[:5])))
        return restored

    def _extract(self, reply: str, path: str, charge: bool = True) -> str:
        required = self.reqs.for_path(path)
        names = [n.name for n in required.names] if required else []
        source = extract_file(reply, path, names)
        if source is None and path.endswith(".py"):
            source = misnamed_block(reply, names)
            if source is not None:
                self.ask.record(MisnamedBlock(path=path))
        if source is None:
            self.ask.record(Malformed(path=path, reply=reply[:500]))
            if charge:
                self.ask.budget.bad_reply()
            return ""
        return source if source.endswith("\n") else source + "\n"

    def all_tests(self) -> dict[str, str]:
        """The tests the candidate is judged by: acceptance, else the generated ones."""
        return self.tests or self.generated_tests


def misnamed_block(reply: str, names: Sequence[str]) -> str | None:
    """The one Python block of a reply that names another file (`# test_add.py` on its
    first line) yet is the file asked for: it defines every required name, or it is the
    only block. None when there is no such block."""
    blocks = [b for b in fenced_blocks(reply) if b.language in _PYTHON and b.body.strip()]
    if names:
        blocks = [
            b
            for b in blocks
            if all(re.search(rf"^(?:async\s+def|def|class)\s+{re.escape(n)}\b", b.body, re.M)
                   or re.search(rf"^{re.escape(n)}\s*[:=]", b.body, re.M) for n in names)
        ]  # fmt: skip
    if not blocks or (not names and len(blocks) > 1):
        return None
    return max(blocks, key=lambda b: len(b.body)).body


def trim_to_parseable(source: str, problems: list[SyntaxProblem]) -> str | None:
    """The source cut before the top-level statement holding the first error, if that
    parses; else, for code cut off mid-statement, its longest parseable head of lines.

    A reply cut off at the token limit, or trailed by junk after the code, usually
    has a good head: keeping it costs nothing, asking the model again costs a call.
    A function cut at the cap keeps the lines it had (measured on HumanEval 40-119: a
    third of the replies failing the gate ran to their cap inside their one function,
    most of them repeating themselves after a whole body). Code broken in its middle is
    not cut: its tail was meant to run, and a correction may mend it.
    """
    lines = source.splitlines(keepends=True)
    first = max(1, min(p.line for p in problems))
    cut = first - 1
    while cut > 0 and (not lines[cut].strip() or lines[cut][:1] in (" ", "\t", "#")):
        cut -= 1
    head = "".join(lines[:cut]).rstrip() + "\n"
    if cut > 0 and head.strip() and not check_python(head):
        return head
    return _cut_off_head(lines)


CUT_OFF_LINES = 400
"""Heads of a cut-off file tried, longest first, before giving up."""


def _cut_off_head(lines: list[str]) -> str | None:
    """The longest head of whole lines that parses and keeps the last top-level
    statement begun, where all but the last line could still go on (the file was cut,
    not broken), or None."""
    if len(lines) < 2 or not goes_on("".join(lines[:-1])):
        return None
    begun = max(
        (i for i, line in enumerate(lines) if line.strip() and line[:1] not in (" ", "\t", "#")),
        default=0,
    )
    for end in range(len(lines) - 1, max(begun, len(lines) - 1 - CUT_OFF_LINES), -1):
        head = "".join(lines[:end]).rstrip() + "\n"
        if not check_python(head):
            return head
    return None
