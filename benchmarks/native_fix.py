"""`greenloop fix` on real Go and Rust sources from Debian that ship their own tests:
one-line bugs injected, fixed by a scripted model that sends the right edit.

    python benchmarks/native_fix.py [--sandbox docker|local] [--sources strsim ...]
                                    [--cache DIR] [--check]

The sources are `benchmarks/native_sources.py`'s (Debian's `golang-*-dev` and
`librust-*-dev` packages: go-humanize, go-version, strsim, semver; `apt-get download`,
kept in `--cache`), each copied as shipped, made ready for its tests offline (a go.mod
where none is shipped; a Cargo.toml with nothing to fetch). For each bug of
`native_sources.BUGS` (a comparison turned around, a constant off by one, a wrong
operator) the copy gets the buggy line, is checked red bare with the host's toolchain
when it has one (`go test ./...`, `cargo test --tests`), is made a git repository with
the bug committed on `main`, and `greenloop fix` runs on it with the test command
`agent.fix.detect` finds (go.mod: `go test ./...`; Cargo.toml: `cargo test`) and a
scripted model whose every reply is the edit that undoes the bug. The table says, per
bug: red before (the baseline has failing tests, not only errors: a build the sandbox
refuses is no bug's red), green after (confirmed in a fresh sandbox), committed on the
fix branch (the file as shipped, and no other file changed), the user's branch
untouched (HEAD, branch, tree, the buggy file), and whether the buggy line was in the
first prompt (inside an excerpt of its file that covers its line
number: a model must see it to fix it).

`--check` stops after the bare runs: each source green untouched and each bug red, on
the host alone (no sandbox, no greenloop). `--localize` predicts the last column with no
sandbox: the failing tests and their failures' text from a host run
(`native_sources.host_failures`, the judges' test ids), localized and shown as the first
prompt would (`native_localize`, `fix_context` within `--budget` tokens, the context's
share of `context_tokens`), and says which suspects the buggy line's file had.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import git  # noqa: E402
from fix_rows import first_prompt, print_table, state, undo  # noqa: E402
from native_sources import (  # noqa: E402
    BUGS,
    SOURCES,
    Bug,
    bare,
    clean_copy,
    host_failures,
    with_bug,
)

from agent.fix.excerpts import fix_context  # noqa: E402
from agent.fix.native_localize import native_localize  # noqa: E402
from agent.fix.native_outline import NATIVE_SOURCES  # noqa: E402
from agent.fix.repair import prepare_fix, run_fix  # noqa: E402
from agent.model.scripted import ScriptedModel  # noqa: E402
from agent.run.record import read_trajectory  # noqa: E402
from agent.run.settings import RunSettings  # noqa: E402
from agent.task import TaskConfig  # noqa: E402
from sandbox import SandboxConfig  # noqa: E402
from sandbox.base import SandboxKind  # noqa: E402

LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=400_000, wall_seconds=900,
                    timeout=300)  # fmt: skip
CACHE = Path.home() / ".cache" / "greenloop-bench" / "native"


@dataclass
class Row:
    source: str
    bug: str
    fails_by: str = "?"
    red: bool = False
    green: bool = False
    committed: bool = False
    untouched: bool = False
    shown: bool = False
    note: str = ""
    seconds: float = 0.0


_EXCERPT = re.compile(
    r"^(?P<path>\S+), (?:whole file|lines (?P<start>\d+)-(?P<end>\d+))[^\n]*:\n"
    r"```[^\n]*\n(?P<body>.*?)\n```",
    re.M | re.S,
)


def shown_in(prompt: str, path: str, line: int, text: str) -> bool:
    """Whether `prompt` shows `path`'s line `line` (1-based) as `text`, in an excerpt of
    that file (`agent.fix.excerpts`' "path, lines a-b (...):" and its fenced body) that
    covers it: the same text elsewhere (another line, the failure output) does not count."""
    for found in _EXCERPT.finditer(prompt):
        if found["path"] != path:
            continue
        start = int(found["start"] or 1)
        body = found["body"].split("\n")
        if start <= line < start + len(body) and body[line - start] == text:
            return True
    return False


def fix_one(bug: Bug, clean: Path, kind: SandboxKind) -> Row:
    language = SOURCES[bug.source].language
    source = (clean / bug.path).read_text()
    buggy = with_bug(clean, bug)
    row = Row(bug.source, f"{bug.path}:{bug.line} `{bug.buggy.strip()[:48]}`")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(clean, work)
        (work / bug.path).write_text(buggy)
        if _host_has(language):
            red, row.fails_by = bare(work, language)
            if not red:
                row.note = "not red bare: dropped"
                return row
        repo = git.Repo.init(work, initial_branch="main")
        with repo.config_writer() as config:
            config.set_value("user", "name", "Bench")
            config.set_value("user", "email", "b@example.com")
        repo.git.add("--all")
        repo.git.commit("-q", "-m", "the sources, with a bug")
        before = state(repo)
        reply = undo(bug.path, source, bug.line - 1, bug.buggy)
        model = ScriptedModel(lambda messages: reply, name="undo")
        settings = RunSettings(run_id=f"b{time.monotonic_ns()}", model_name="undo",
                               sandbox=SandboxConfig(kind=kind), config=LIMITS)  # fmt: skip
        started = time.monotonic()
        result = run_fix(prepare_fix(work, settings), model)
        row.seconds = time.monotonic() - started
        baseline = [e for e in read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
                    if e["event"] == "baseline"]  # fmt: skip
        # red on its tests: a test failing, not a build that fails (the bug's red, not the
        # judge's refusal of the repository)
        row.red = bool(baseline and baseline[0]["targets"] and baseline[0]["failed"])
        row.green = result.status == "green" and result.exit_reason == "green"
        if result.branch:
            fixed = repo.commit(result.branch).tree / bug.path
            changed = repo.git.diff("--name-only", "main", result.branch).split()
            row.committed = fixed.data_stream.read().decode() == source and changed == [bug.path]
        row.untouched = state(repo) == before and (work / bug.path).read_text() == buggy
        row.shown = shown_in(first_prompt(model), bug.path, bug.line, bug.buggy)
        row.note = result.error[:80] if result.error else result.exit_reason
    return row


def _host_has(language: str) -> bool:
    """Whether the host can run the bare check (rustup puts cargo in ~/.cargo/bin)."""
    if language == "rust":
        return bool(shutil.which("cargo")) or (Path.home() / ".cargo" / "bin" / "cargo").is_file()
    return bool(shutil.which("go"))


def check(names: list[str], cache: Path) -> None:
    """Each source green bare untouched, each bug red bare, on the host."""
    print("| source | bug | bare | fails by |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            source = SOURCES[name]
            clean = clean_copy(source, cache, Path(tmp) / name)
            red, _ = bare(clean, source.language)
            print(f"| {name} | as shipped | {'red' if red else 'green'} | |")
            for bug in (b for b in BUGS if b.source == name):
                work = Path(tmp) / "work"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(clean, work)
                (work / bug.path).write_text(with_bug(clean, bug))
                red, how = bare(work, source.language)
                label = f"{bug.path}:{bug.line} `{bug.buggy.strip()[:48]}`"
                print(f"| {name} | {label} | {'red' if red else 'green'} | {how} |")


def predict(names: list[str], cache: Path, budget: int) -> None:
    """Whether the first prompt would show each bug's line, from the host's failures."""
    print("| source | bug | failing | tests shown | buggy line shown | its file's suspects |")
    print("|---|---|---|---|---|---|")
    shown_total = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            source = SOURCES[name]
            clean = clean_copy(source, cache, Path(tmp) / name)
            for bug in (b for b in BUGS if b.source == name):
                work = Path(tmp) / "work"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(clean, work)
                (work / bug.path).write_text(with_bug(clean, bug))
                failures = host_failures(work, source.language)
                files = {p.relative_to(work).as_posix(): p.read_text("utf-8", "replace")
                         for p in sorted(work.rglob("*"))
                         if p.suffix in NATIVE_SOURCES}  # fmt: skip
                failing = sorted(failures)
                suspects, tests = native_localize(files, failing, list(failures.values()))
                context = fix_context(files, suspects, tests[:3], budget, suffixes=NATIVE_SOURCES)
                shown = shown_in(context.text, bug.path, bug.line, bug.buggy)
                mine = [f"{s.span.name} {s.score:.1f}" for s in suspects if s.span.path == bug.path]
                label = f"{bug.path}:{bug.line} `{bug.buggy.strip()[:40]}`"
                print(f"| {name} | {label} | {len(failing)} | {len(tests[:3])} | "
                      f"{'yes' if shown else '**no**'} | {', '.join(mine[:4]) or '-'} |",
                      flush=True)  # fmt: skip
                shown_total += shown
                total += 1
    print(f"\nbuggy line shown: {shown_total}/{total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", choices=["docker", "local"], default="docker")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--check", action="store_true", help="only the bare runs, on the host")
    parser.add_argument(
        "--localize",
        action="store_true",
        help="predict the first prompt from the host's failures, no sandbox",
    )
    parser.add_argument("--budget", type=int, default=4500, help="--localize's context tokens")
    args = parser.parse_args()
    if args.check:
        check(args.sources, args.cache)
        return
    if args.localize:
        predict(args.sources, args.cache, args.budget)
        return
    kind = SandboxKind(args.sandbox)
    logging.getLogger("sandbox.local").setLevel(logging.ERROR)  # its warning, once a run
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sources:
            clean = clean_copy(SOURCES[name], args.cache, Path(tmp) / name)
            for bug in (b for b in BUGS if b.source == name):
                row = fix_one(bug, clean, kind)
                print(f"  {row.source} {row.bug}: {row.note} ({row.seconds:.0f} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
                if row.note != "not red bare: dropped":
                    rows.append(row)
    print_table(rows, args.sandbox, "source")


if __name__ == "__main__":
    main()
