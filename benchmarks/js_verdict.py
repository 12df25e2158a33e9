"""The JavaScript verdict on real packages' own test suites: honest code never flagged,
injected one-line bugs red, never tampered.

    python benchmarks/js_verdict.py [--sandbox docker|local] [--bugs 3] [--cache DIR]

Takes npm tarballs that ship their tests and run them with node's own runner (`npm pack`,
kept in `--cache`): @fastify/error, fastify-plugin, @fastify/forwarded,
fast-content-type-parse, process-warning (no runtime dependencies). For each:

- its own suite as published, judged (`greenloop sandbox test`'s way): as green or red
  as `node --test` bare, with nothing flagged, and its leaf tests (bare, node also
  counts a test with subtests, and a file that defines none, as a test of its own);
- up to `--bugs` one-line bugs injected in its main module (a comparison turned
  around, a constant off by one): each must be red (when the bare run is red too), and
  never tampered.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import SandboxConfig, open_sandbox
from sandbox.base import SandboxKind, TestReport
from sandbox.paths import collect_files
from sandbox.toolchains import toolchain

PACKAGES = (
    "@fastify/error",
    "fastify-plugin",
    "@fastify/forwarded",
    "fast-content-type-parse",
    "process-warning",
)
_FLIPS = ((" === ", " !== "), (" !== ", " === "), (" < ", " <= "), (" > ", " >= "), ("+ 1", "+ 2"))


def fetch(package: str, cache: Path) -> Path:
    """The package's tarball, unpacked (`npm pack`, once)."""
    folder = cache / package.replace("@", "").replace("/", "-")
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "pack", package, "--silent"], cwd=cache, capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"npm pack {package} failed: {done.stderr[-500:]}")
        tarball = cache / done.stdout.strip().splitlines()[-1]
        folder.mkdir()
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                member.name = member.name.partition("/")[2]
            tar.extractall(folder, filter="data")
    return folder


def bugs(source: str, most: int) -> list[tuple[int, str]]:
    """Up to `most` one-line bugs: (line index, the line changed)."""
    out: list[tuple[int, str]] = []
    for i, line in enumerate(source.splitlines()):
        if line.strip().startswith(("//", "*", "/*")):
            continue
        for old, new in _FLIPS:
            if old in line:
                out.append((i, line.replace(old, new, 1)))
                break
    step = max(1, len(out) // most) if out else 1
    return out[::step][:most]


def bare_passes(folder: Path) -> tuple[bool, int]:
    done = subprocess.run(["node", "--test"], cwd=folder, capture_output=True, text=True)
    passed = re.search(r"^# pass (\d+)", done.stdout, re.M)
    return done.returncode == 0, int(passed.group(1)) if passed else 0


def judged(folder: Path, kind: SandboxKind) -> TestReport:
    files = collect_files(folder)
    chain = toolchain("javascript")
    config = SandboxConfig(kind=kind, toolchain="javascript", run_id="bench")
    with open_sandbox(config) as sb:
        sb.write(files)
        return sb.run_tests(timeout=300, suite=chain.folder_suite(files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", choices=["docker", "local"], default="docker")
    parser.add_argument("--bugs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "gl-npm")
    args = parser.parse_args()
    kind = SandboxKind(args.sandbox)
    logging.getLogger("sandbox.local").setLevel(logging.ERROR)  # its warning, once a run
    print("| package | run | bare | judged | flagged |")
    print("|---|---|---|---|---|")
    honest_flags = bug_flags = bugs_red = bugs_total = 0
    for package in PACKAGES:
        folder = fetch(package, args.cache)
        ok, passes = bare_passes(folder)
        report = judged(folder, kind)
        honest_flags += bool(report.tampered)
        state = "green" if report.green else "red"
        print(f"| {package} | as published | {'green' if ok else 'red'} {passes} | "
              f"{state} {report.passed} | {report.tampered or '-'} |")  # fmt: skip
        main_file = folder / "index.js"
        source = main_file.read_text()
        for line, changed in bugs(source, args.bugs):
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / "pkg"
                subprocess.run(["cp", "-r", str(folder), str(copy)], check=True)
                lines = source.splitlines(keepends=True)
                lines[line] = changed + "\n"
                (copy / "index.js").write_text("".join(lines))
                bare_ok, _ = bare_passes(copy)
                if bare_ok:
                    continue  # the suite does not see this change: not a bug it can catch
                report = judged(copy, kind)
            bugs_total += 1
            bugs_red += not report.green
            bug_flags += bool(report.tampered)
            print(f"| {package} | index.js:{line + 1} `{changed.strip()[:50]}` | red | "
                  f"{'green' if report.green else 'red'} | {report.tampered or '-'} |")  # fmt: skip
    print()
    print(f"honest suites flagged: {honest_flags} of {len(PACKAGES)}")
    print(f"injected bugs red: {bugs_red} of {bugs_total}, flagged tampered: {bug_flags}")


if __name__ == "__main__":
    main()
