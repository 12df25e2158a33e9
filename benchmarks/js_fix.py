"""`greenloop fix` on real npm packages that ship node:test suites: one-line bugs injected
in each main module, fixed by a scripted model that sends the right edit.

    python benchmarks/js_fix.py [--sandbox local|docker] [--bugs 4] [--cache DIR]

The packages are `benchmarks/js_verdict.py`'s five (`npm pack`, kept in `--cache`). Each
is copied as published, less the test files that fail on the untouched package: bare
(they need a devDependency that is not installed: `npm install` has no place here), or
judged (fastify-plugin's tests that assert a name derived from their own file's name
see the judge's fresh name: no fix can make them pass).
For each bug (a comparison turned around, a constant off by one, in `index.js`) that
makes `node --test` red bare, the copy is made a git repository with the bug committed
on `main`, and `greenloop fix` runs on it with the package's own test script (read by
`agent.fix.js_project`) and a scripted model whose every reply is the edit that undoes
the bug. The table says, per bug: red before (the baseline has failing targets), green
after (confirmed in a fresh sandbox), committed on the fix branch (as the package was
published), the user's branch untouched (HEAD, branch, tree), and whether the buggy
line was in the first prompt (localization: it must be, for a model to fix it).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
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
from js_verdict import PACKAGES, bugs, fetch, judged  # noqa: E402

from agent.fix.repair import prepare_fix, run_fix  # noqa: E402
from agent.model.scripted import ScriptedModel  # noqa: E402
from agent.run.record import read_trajectory  # noqa: E402
from agent.run.settings import RunSettings  # noqa: E402
from agent.task import TaskConfig  # noqa: E402
from sandbox import SandboxConfig  # noqa: E402
from sandbox.base import SandboxKind  # noqa: E402
from sandbox.toolchains.javascript import is_js_test, uses_node_test  # noqa: E402

LIMITS = TaskConfig(max_iterations=3, stuck_after=2, max_tokens=400_000, wall_seconds=600,
                    timeout=120)  # fmt: skip


@dataclass
class Row:
    package: str
    bug: str
    red: bool = False
    green: bool = False
    committed: bool = False
    untouched: bool = False
    shown: bool = False
    fails_by: str = ""
    note: str = ""
    seconds: float = 0.0


def node_red(folder: Path, *files: str) -> bool:
    return bool(bare(folder, *files)[0])


def bare(folder: Path, *files: str) -> tuple[bool, str]:
    """Whether `node --test` is red, and how it fails: on an assertion, or by an error."""
    done = subprocess.run(["node", "--test", *files], cwd=folder, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    how = "assertion" if "ERR_ASSERTION" in done.stdout + done.stderr else "error"
    return done.returncode != 0, how


def clean_copy(package: str, cache: Path, into: Path, kind: SandboxKind) -> Path:
    """The package as published, less the test files that fail untouched: bare (a
    devDependency missing), or judged (a test that reads its own file's name sees the
    judge's fresh one)."""
    shutil.copytree(fetch(package, cache), into)
    for path in sorted(into.rglob("*")):
        rel = path.relative_to(into).as_posix()
        if not path.is_file() or not is_js_test(rel):
            continue
        if uses_node_test(path.read_text("utf-8", "replace")) and node_red(into, rel):
            path.unlink()
            print(f"  ({package}: {rel} fails bare untouched: left out)", file=sys.stderr)
    report = judged(into, kind)
    for rel in sorted({i.partition("::")[0] for i in report.failing_ids}):
        (into / rel).unlink(missing_ok=True)
        print(f"  ({package}: {rel} fails judged untouched: left out)", file=sys.stderr)
    return into


def fix_one(package: str, clean: Path, line: int, changed: str, kind: SandboxKind) -> Row:
    source = (clean / "index.js").read_text()
    row = Row(package, f"index.js:{line + 1} `{changed.strip()[:48]}`")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(clean, work)
        lines = source.splitlines(keepends=True)
        lines[line] = changed + "\n"
        (work / "index.js").write_text("".join(lines))
        red, row.fails_by = bare(work)
        if not red:
            row.note = "not red bare: dropped"
            return row
        repo = git.Repo.init(work, initial_branch="main")
        with repo.config_writer() as config:
            config.set_value("user", "name", "Bench")
            config.set_value("user", "email", "b@example.com")
        repo.git.add("--all")
        repo.git.commit("-q", "-m", "the package, with a bug")
        before = state(repo)
        reply = undo("index.js", source, line, changed)
        model = ScriptedModel(lambda messages: reply, name="undo")
        settings = RunSettings(run_id=f"b{time.monotonic_ns()}", model_name="undo",
                               sandbox=SandboxConfig(kind=kind), config=LIMITS)  # fmt: skip
        started = time.monotonic()
        result = run_fix(prepare_fix(work, settings), model)
        row.seconds = time.monotonic() - started
        baseline = [e for e in read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
                    if e["event"] == "baseline"]  # fmt: skip
        row.red = bool(baseline and baseline[0]["targets"])
        row.green = result.status == "green" and result.exit_reason == "green"
        if result.branch:
            fixed = repo.commit(result.branch).tree / "index.js"
            row.committed = fixed.data_stream.read().decode() == source
        row.untouched = state(repo) == before and (work / "index.js").read_text() == "".join(lines)
        first = first_prompt(model)
        row.shown = changed.strip() in first
        row.note = result.error[:80] if result.error else result.exit_reason
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", choices=["docker", "local"], default="local")
    parser.add_argument("--bugs", type=int, default=4, help="candidate bugs per package")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "gl-npm")
    parser.add_argument("--packages", nargs="*", default=list(PACKAGES))
    args = parser.parse_args()
    kind = SandboxKind(args.sandbox)
    logging.getLogger("sandbox.local").setLevel(logging.ERROR)  # its warning, once a run
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for package in args.packages:
            folder = Path(tmp) / package.replace("/", "-")
            clean = clean_copy(package, args.cache, folder, kind)
            source = (clean / "index.js").read_text()
            for line, changed in bugs(source, args.bugs):
                row = fix_one(package, clean, line, changed, kind)
                if row.note != "not red bare: dropped":
                    rows.append(row)
    print_table(rows, args.sandbox, "package")


if __name__ == "__main__":
    main()
