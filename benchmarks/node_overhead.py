"""What the JavaScript sandbox costs over running node's test runner bare on the host.

    python benchmarks/node_overhead.py [--runs 7] [--files 5] [--build]

Writes a sample project (`--files` test files of 10 tests each, ESM and CommonJS, over a
few small modules) in a temp folder and measures the median wall time of:

(a) `node --test` bare on the host, as a user would run it (its own reporter, a child
    process per file);
(b) the same tests in a warm Docker sandbox, judged as greenloop judges them
    (`sandbox.node_judge`: fresh names, a mutant copy of each file and a canary, a
    process per file, each report on a pipe of its own).

It prints the medians and (b)/(a). With `--build`, it also times a first build of each
toolchain's image from Debian's packages (`greenloop sandbox build --bootstrap --force`:
minutes, and the network), which replaces the images in place.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.base import TestReport
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox
from sandbox.image import build_image, docker_client
from sandbox.toolchains import toolchain

MODULE = """export function scale(xs, k) {{ return xs.map((x) => x * k + {i}); }}
export function total(xs) {{ return xs.reduce((a, b) => a + b, {i}); }}
"""
ESM_TEST = """import test from 'node:test';
import assert from 'node:assert/strict';
import {{ scale, total }} from '../src/m{i}.mjs';

{cases}
"""
ESM_CASE = """test('scales {n} by {k}', () => {{
  assert.deepStrictEqual(scale([{n}, 1], {k}), [{n} * {k} + {i}, {k} + {i}]);
  assert.strictEqual(total([{n}, {k}]), {n} + {k} + {i});
}});
"""
CJS_TEST = """const {{ describe, it }} = require('node:test');
const assert = require('node:assert');

describe('module {i}', () => {{
{cases}
}});
"""
CJS_CASE = """  it('scales {n} by {k}', async () => {{
    const {{ scale }} = await import('../src/m{i}.mjs');
    assert.deepStrictEqual(scale([{n}], {k}), [{n} * {k} + {i}]);
  }});
"""


def write_project(root: Path, files: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i in range(files):
        out[f"src/m{i}.mjs"] = MODULE.format(i=i).encode()
        if i % 2 == 0:
            cases = "\n".join(ESM_CASE.format(n=n, k=n + 2, i=i) for n in range(10))
            out[f"test/m{i}.test.mjs"] = ESM_TEST.format(i=i, cases=cases).encode()
        else:
            cases = "".join(CJS_CASE.format(n=n, k=n + 2, i=i) for n in range(10))
            out[f"test/m{i}.test.cjs"] = CJS_TEST.format(i=i, cases=cases).encode()
    for path, data in out.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return out


def bare(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(["node", "--test"], cwd=root, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"the bare run failed:\n{done.stdout.decode()[-2000:]}")
    return seconds


def sandboxed(sb: DockerSandbox, files: dict[str, bytes], tests: int) -> float:
    suite = toolchain("javascript").folder_suite(files)
    started = time.perf_counter()
    report: TestReport = sb.run_tests(timeout=120, suite=suite)
    seconds = time.perf_counter() - started
    if not report.green or report.passed != tests:
        sys.exit(f"the sandboxed run is not green with {tests} tests: {report.to_dict()}")
    return seconds


def build_times(client: Any) -> None:
    for name in ("python", "javascript"):
        started = time.perf_counter()
        build_image(client, bootstrap=True, force=True, spec=toolchain(name).image)
        seconds = time.perf_counter() - started
        print(f"{name} image, bootstrapped and built from scratch: {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="also time first image builds")
    args = parser.parse_args()
    client = docker_client()
    with tempfile.TemporaryDirectory(prefix="greenloop-node-bench-") as tmp:
        root = Path(tmp)
        files = write_project(root, args.files)
        tests = 10 * args.files
        config = SandboxConfig(toolchain="javascript", run_id="bench")
        with DockerSandbox(config, client=client) as sb:
            sb.write({p: d for p, d in files.items()})
            bare(root), sandboxed(sb, files, tests)  # warm both
            host = [bare(root) for _ in range(args.runs)]
            warm = [sandboxed(sb, files, tests) for _ in range(args.runs)]
    a, b = statistics.median(host), statistics.median(warm)
    print(f"{tests} tests in {args.files} files, median of {args.runs} runs")
    print(f"(a) node --test bare on the host:      {a:.3f} s")
    print(f"(b) judged in a warm Docker sandbox:   {b:.3f} s   (b)/(a) = {b / a:.2f}x")
    if args.build:
        build_times(client)


if __name__ == "__main__":
    main()
