"""Fault localization on real libraries: is the buggy line in `greenloop fix`'s first prompt?

    python benchmarks/localize.py [--cache /tmp/greenloop-sdists] [--budget 6000] [--only toolz]

Takes pure-Python sdists that ship their own test suites (downloaded on first use with
`pip download --no-deps --no-binary :all:` into `--cache`, never into the repository),
makes each a git repository in a temporary folder (the package and its tests, a
pytest config), injects one one-line bug at a time, and runs a real `greenloop fix`
on it: the Docker sandbox, real git, and a scripted model that sends the fix. Per bug:

- whether the buggy line is in the first prompt, as sent to the model, and whether
  the repo map alone (the context before localization, `map_context.build_context`,
  rebuilt from the same failures) would have shown it;
- the first prompt's tokens (characters / 4) against the budget;
- the seconds localization took for the first prompt (its coverage run included),
  against the whole run's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
from map_context import build_context

from agent.fix.repair import prepare_fix, run_fix
from agent.fix.repomap import estimate_tokens
from agent.fix.symbols import SymbolIndex
from agent.model import ScriptedModel
from agent.run.record import read_trajectory
from agent.run.settings import RunSettings
from agent.task import TaskConfig
from sandbox import SandboxConfig


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    copy: Mapping[str, str]
    """sdist folder -> folder in the repository."""
    testpaths: tuple[str, ...]
    bugs: tuple[tuple[str, str, str], ...]
    """(path, text, the same text with one line changed); `text` occurs once."""


LIBRARIES = (
    Library("cachetools", "5.5.0", {"src/cachetools": "cachetools", "tests": "tests"}, ("tests",), (
        ("cachetools/__init__.py", "            self.__counter[key] -= 1\n        return value",
         "            self.__counter[key] += 1\n        return value"),
        ("cachetools/__init__.py",
         "    def __update(self, key):\n        try:\n            self.__order.move_to_end(key)\n",
         "    def __update(self, key):\n        try:\n"
         "            self.__order.move_to_end(key, last=False)\n"),
        ("cachetools/keys.py", "    key += tuple(type(v) for v in args)\n",
         "    key += tuple(type(v) for v in args[1:])\n"),
        ("cachetools/__init__.py", "        if size > maxsize:\n", "        if size >= maxsize:\n"),
    )),
    Library("toolz", "1.0.0", {"toolz": "toolz", "tlz": "tlz"}, ("toolz/tests",), (
        ("toolz/itertoolz.py", "        d[item] += 1\n", "        d[item] = 1\n"),
        ("toolz/itertoolz.py", "    return itertools.islice(seq, n, None)\n",
         "    return itertools.islice(seq, n + 1, None)\n"),
        ("toolz/itertoolz.py", "    return itertools.islice(seq, 0, None, n)\n",
         "    return itertools.islice(seq, 1, None, n)\n"),
        ("toolz/itertoolz.py", "    inposed = concat(zip(itertools.repeat(el), seq))\n",
         "    inposed = concat(zip(seq, itertools.repeat(el)))\n"),
    )),
    Library("more-itertools", "10.5.0", {"more_itertools": "more_itertools", "tests": "tests"},
            ("tests",), (
        ("more_itertools/recipes.py", "    return sum(map(pred, iterable))\n",
         "    return sum(map(bool, iterable))\n"),
        ("more_itertools/more.py", "* (n - 1 if step >= n else step - 1)",
         "* (n if step >= n else step - 1)"),
        ("more_itertools/recipes.py", "    return list(islice(iterable, n))\n",
         "    return list(islice(iterable, n - 1))\n"),
    )),
    Library("inflection", "0.5.1", {"inflection": "inflection", "test_inflection.py":
            "test_inflection.py"}, ("test_inflection.py",), (
        ("inflection/__init__.py", "    if number % 100 in (11, 12, 13):",
         "    if number % 100 in (11, 12):"),
        ("inflection/__init__.py", "    return word.replace('_', '-')",
         "    return word.replace('_', ' ')"),
    )),
)  # fmt: skip


def _sdist(lib: Library, cache: Path) -> Path:
    folder = cache / f"{lib.name}-{lib.version}"
    if folder.is_dir():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{lib.name}=={lib.version}",
            "-d",
            str(cache),
        ],
        check=True,
    )
    archive = next(cache.glob(f"{lib.name.replace('-', '?')}-{lib.version}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return folder


def _files(lib: Library, sdist: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for source, target in lib.copy.items():
        base = sdist / source
        found = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in found:
            if (
                path.is_file()
                and path.suffix in (".py", ".txt", ".cfg")
                and "__pycache__" not in path.parts
            ):
                rel = target if base.is_file() else f"{target}/{path.relative_to(base).as_posix()}"
                files[rel] = path.read_text("utf-8")
    paths = ", ".join(f'"{p}"' for p in lib.testpaths)
    files["pyproject.toml"] = (
        f'[project]\nname = "{lib.name}"\nversion = "{lib.version}"\n\n'
        f"[tool.pytest.ini_options]\ntestpaths = [{paths}]\n"
    )
    return files


def _repo(root: Path, files: Mapping[str, str]) -> Path:
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Bench")
        config.set_value("user", "email", "bench@example.com")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "library with one bug")
    return root


def _changed_line(good: str, bad: str) -> str:
    return next(b for g, b in zip(good.splitlines(), bad.splitlines(), strict=True) if g != b)


def _whole_lines(text: str, good: str, bad: str) -> tuple[str, str]:
    """The changed line as the broken file has it, and as the fixed one has it."""
    line = next(x for x in text.splitlines() if _changed_line(good, bad) in x)
    return line, line.replace(_changed_line(good, bad), _changed_line(bad, good))


def _unique(original: str, text: str, search: str, replace: str) -> tuple[str, str]:
    """`search` and `replace` with as many lines before the change as make `search` match
    one place (a search/replace block must, as a careful model would send it)."""
    old, new = original.splitlines(), text.splitlines()
    at = next(i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b)
    first = next(i for i in range(at, -1, -1) if "\n".join(new[i:]).startswith(search))
    while text.count(search) > 1 and first > 0:
        first -= 1
        search, replace = f"{new[first]}\n{search}", f"{new[first]}\n{replace}"
    return search, replace


def _reply(path: str, line: str, fixed: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{line}\n=======\n{fixed}\n>>>>>>> REPLACE\n"


def _map_alone(
    files: Mapping[str, str], event: dict[str, Any], tracebacks: str, budget: int
) -> str:
    """The context before localization: the repo map from the failing tests and tracebacks."""
    index = SymbolIndex(files)
    pointed = [p for p in files if p in tracebacks]
    pointed += [t.split("::")[0] for t in event["tests"]]
    source = ""
    for test in event["tests"]:
        path, _, rest = test.partition("::")
        name = rest.replace("::", ".")
        span = next((s for s in index.outline(path).spans if s.name == name), None)
        if span is not None:
            source += "\n".join(files[path].splitlines()[span.start - 1 : span.end])
    return build_context(files, pointed, tracebacks + source, budget).render()


def _fix(root: Path, reply: str, args: argparse.Namespace) -> tuple[Any, ScriptedModel, float]:
    """A real fix run with a model that sends `reply`; the result, the model, the seconds."""
    model = ScriptedModel([reply] * 4)
    limits = TaskConfig(max_iterations=2, stuck_after=2, max_tokens=500_000, wall_seconds=900,
                        timeout=args.timeout)  # fmt: skip
    options = RunSettings(run_id=f"b{time.monotonic_ns()}", model_name="scripted",
                          sandbox=SandboxConfig(image=args.image), config=limits,
                          context_tokens=args.budget)  # fmt: skip
    started = time.monotonic()
    result = run_fix(prepare_fix(root, options), model)
    return result, model, time.monotonic() - started


def _run_one(
    lib: Library, files: dict[str, str], bug: tuple[str, str, str], args: argparse.Namespace
) -> dict[str, Any]:
    path, good, bad = bug
    assert files[path].count(good) == 1, (lib.name, good)
    broken = {**files, path: files[path].replace(good, bad)}
    line, fixed = _whole_lines(broken[path], good, bad)
    whole = "\n" in bad  # whole lines: quote them all (the changed one may recur)
    search, replace = (bad.rstrip("\n"), good.rstrip("\n")) if whole else (line, fixed)
    reply = _reply(path, *_unique(files[path], broken[path], search, replace))
    with tempfile.TemporaryDirectory() as tmp:
        result, model, total = _fix(_repo(Path(tmp) / lib.name, broken), reply, args)
        events = read_trajectory(Path(result.run_dir) / "trajectory.jsonl")
    row: dict[str, Any] = {"lib": lib.name, "bug": line.strip(), "status": result.status,
                           "why": _why_not_green(result, events)}  # fmt: skip
    localize = next((e for e in events if e["event"] == "localize"), None)
    if not model.calls or localize is None:
        return row | {"error": result.error or result.exit_reason}
    prompt = "\n".join(m.content for m in model.calls[0].messages)
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        name = f"{lib.name}-{lib.bugs.index(bug)}.txt"
        (args.save / name).write_text(prompt + "\n\n" + json.dumps(localize, indent=1))
    tracebacks = model.calls[0].messages[-1].content.split("Test results:", 1)[-1]
    before = _map_alone(broken, localize, tracebacks, localize["tokens"]["budget"])
    baseline = next(e for e in events if e["event"] == "baseline")
    return row | {
        "failing": len(baseline["targets"]), "found": line in prompt, "before": line in before,
        "tokens": estimate_tokens(prompt), "localize_s": localize["seconds"],
        "coverage_s": localize["coverage"]["seconds"], "total_s": total,
        "note": localize["coverage"]["note"],
    }  # fmt: skip


def _why_not_green(result: Any, events: list[dict[str, Any]]) -> str:
    """Why a fix run did not end green: its exit reason, and what its last test said."""
    if result.status == "green":
        return ""
    tests = [e for e in events if e["event"] in ("test", "confirm")]
    last = tests[-1] if tests else {}
    detail = last.get("tampered") or last.get("note") or ", ".join(last.get("failing", [])[:3])
    return f"{result.exit_reason}: {detail}"[:300]


def _table(rows: list[dict[str, Any]], budget: int) -> None:
    print(
        f"\n{'library':<15} {'bug (the line as injected)':<58} {'fail':>4} {'in 1st':>6} "
        f"{'map only':>8} {'tokens':>6} {'loc s':>6} {'run s':>6}"
    )
    for r in rows:
        if "found" not in r:
            print(f"{r['lib']:<15} {r['bug'][:58]:<58} no prompt: {r['status']} {r['error']}")
            continue
        print(
            f"{r['lib']:<15} {r['bug'][:58]:<58} {r['failing']:>4} "
            f"{'yes' if r['found'] else 'NO':>6} {'yes' if r['before'] else 'no':>8} "
            f"{r['tokens']:>6} {r['localize_s']:>6.2f} {r['total_s']:>6.1f}"
            + (f"  ({r['note']})" if r["note"] else "")
            + ("" if r["status"] == "green" else f"  NOT GREEN: {r['why']}")
        )
    done = [r for r in rows if "found" in r]
    if not done:
        return
    found = sum(r["found"] for r in done)
    before = sum(r["before"] for r in done)
    share = [r["localize_s"] / r["total_s"] for r in done]
    median_s = statistics.median(r["localize_s"] for r in done)
    print(
        f"\nbuggy line in the first prompt: {found}/{len(rows)} "
        f"(the repo map alone: {before}/{len(rows)}); budget {budget} tokens, "
        f"first prompt median {statistics.median(r['tokens'] for r in done)}, "
        f"max {max(r['tokens'] for r in done)}"
    )
    green = sum(r["status"] == "green" for r in rows)
    print(f"fix runs green (the verdict confirmed, committed): {green}/{len(rows)}")
    print(
        f"localization per first prompt: median {median_s:.2f} s "
        f"(coverage run {statistics.median(r['coverage_s'] for r in done):.2f} s), "
        f"max {max(r['localize_s'] for r in done):.2f} s; "
        f"median share of the fix run {statistics.median(share):.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/greenloop-sdists"))
    parser.add_argument("--budget", type=int, default=6000, help="context tokens (fix's default)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per test run")
    parser.add_argument("--only", default="", help="one library by name")
    parser.add_argument("--bug", default="", help="only the bugs whose line holds this")
    parser.add_argument("--save", type=Path, default=None, help="write each first prompt here")
    parser.add_argument("--image", default=None, help="sandbox image (default: the current one)")
    args = parser.parse_args()
    if args.image is None:
        from sandbox.image import docker_client, require_image

        args.image = require_image(docker_client())
    rows = []
    for lib in LIBRARIES:
        if args.only and lib.name != args.only:
            continue
        files = _files(lib, _sdist(lib, args.cache))
        for bug in lib.bugs:
            if args.bug not in bug[2]:
                continue
            rows.append(_run_one(lib, files, bug, args))
            if rows[-1].get("error") == "nothing-to-fix":  # the baseline missed it: once more
                rows[-1] = _run_one(lib, files, bug, args)
            row = rows[-1]
            print(f"{lib.name}: {row['bug'][:60]} -> {row.get('found', row['status'])}", flush=True)
    _table(rows, args.budget)


if __name__ == "__main__":
    main()
