"""What the Go sandbox's judge costs over `go test` run bare in the same container.

    python benchmarks/go_overhead.py [--runs 5] [--packages 3] [--build]

Writes a sample module (`--packages` packages of 10 tests each, one a table test of two
subtests) into a warm Docker sandbox (the Go image) and measures the median
wall time of:

(a) `go test -count=1 ./...` bare in the container, its build cache warm from the
    image's (links, as the judge's): (a1) nothing changed since the last run (every
    binary cached), (a2) a constant of the code under test changed before each run (its
    packages compiled and their binaries linked again, as after a model's edit);
(b) the same tests judged as greenloop judges them (`sandbox.go_judge`: fresh names,
    mutants and a canary per package, so every binary is compiled and linked afresh, a
    fresh build cache of links into the image's, each binary run from a sealed memfd
    under test2json).

It prints the medians and (b)/(a). With `--build`, it also times a first build of the
Go image from Debian's packages (`greenloop sandbox build --toolchain go --bootstrap
--force`), which replaces the image in place.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox
from sandbox.image import bootstrap_base, build_image, docker_client
from sandbox.toolchains import toolchain

MODULE = """package p{i}

const Offset = {offset}

func Scale(xs []int, k int) []int {{
	out := make([]int, len(xs))
	for j, x := range xs {{
		out[j] = x*k + Offset - {offset} + {i}
	}}
	return out
}}
"""
TEST = """package p{i}

import (
	"reflect"
	"testing"
)

{cases}
func TestTable(t *testing.T) {{
	for _, c := range []struct{{ n, k int }}{{{{1, 2}}, {{3, 4}}}} {{
		t.Run("scales", func(t *testing.T) {{
			if got := Scale([]int{{c.n}}, c.k); got[0] != c.n*c.k+{i} {{
				t.Errorf("got %v", got)
			}}
		}})
	}}
}}
"""
CASE = """func TestScales{n}(t *testing.T) {{
	got := Scale([]int{{{n}, 1}}, {k})
	if want := []int{{{n}*{k} + {i}, {k} + {i}}}; !reflect.DeepEqual(got, want) {{
		t.Errorf("Scale = %v, want %v", got, want)
	}}
}}
"""
BARE = (
    "cp -as /opt/greenloop-gocache /tmp/bare-cache 2>/dev/null; rm -f /tmp/bare-cache/trim.txt; "
    "date +%s > /tmp/bare-cache/trim.txt; mkdir -p /workspace/.gotmp; "
    "GOCACHE=/tmp/bare-cache GOTMPDIR=/workspace/.gotmp go test -count=1 ./..."
)


def project(packages: int, offset: int = 0) -> dict[str, bytes]:
    out = {"go.mod": b"module example.com/bench\n\ngo 1.24\n"}
    for i in range(packages):
        out[f"p{i}/p.go"] = MODULE.format(i=i, offset=offset).encode()
        cases = "\n".join(CASE.format(n=n, k=n + 2, i=i) for n in range(9))
        out[f"p{i}/p_test.go"] = TEST.format(i=i, cases=cases).encode()
    return out


def bare(sb: DockerSandbox) -> float:
    started = time.perf_counter()
    done = sb.run(["sh", "-c", BARE], timeout=300)
    seconds = time.perf_counter() - started
    if done.exit_code != 0:
        sys.exit(f"the bare run failed:\n{done.output[-2000:]}")
    return seconds


def judged(sb: DockerSandbox, files: dict[str, bytes], tests: int) -> float:
    suite = toolchain("go").folder_suite(files)
    started = time.perf_counter()
    report = sb.run_tests(timeout=300, suite=suite)
    seconds = time.perf_counter() - started
    if not report.green or report.passed != tests:
        sys.exit(f"the judged run is not green with {tests} results: {report.to_dict()}")
    return seconds


def build_time(client: Any) -> None:
    spec = toolchain("go").image
    started = time.perf_counter()
    bootstrap_base(client, force=True, spec=spec)
    based = time.perf_counter()
    build_image(client, bootstrap=True, force=True, spec=spec)
    done = time.perf_counter()
    print(f"go image from Debian's packages: base {based - started:.0f} s, "
          f"image (std build cache warmed) {done - based:.0f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=3)
    parser.add_argument("--build", action="store_true", help="also time a first image build")
    args = parser.parse_args()
    client = docker_client()
    if args.build:
        build_time(client)
    files = project(args.packages)
    tests = args.packages * 12  # 9 tests, the table test and its two subtests
    with DockerSandbox(SandboxConfig(toolchain="go", run_id="bench"), client=client) as sb:
        sb.write(dict(files))
        bare(sb), judged(sb, files, tests)  # warm both
        cached = [bare(sb) for _ in range(args.runs)]
        edited = []
        for run in range(args.runs):
            sb.write({p: d for p, d in project(args.packages, run + 1).items() if "_test" not in p})
            edited.append(bare(sb))
        warm = [judged(sb, files, tests) for _ in range(args.runs)]
    a1, a2, b = (statistics.median(x) for x in (cached, edited, warm))
    print(f"{tests} results in {args.packages} packages, median of {args.runs} runs")
    print(f"(a1) go test bare, every binary cached:   {a1:.3f} s")
    print(f"(a2) go test bare, after an edit:         {a2:.3f} s")
    print(f"(b)  judged, warm sandbox:                {b:.3f} s   "
          f"(b)/(a1) = {b / a1:.2f}x, (b)/(a2) = {b / a2:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
