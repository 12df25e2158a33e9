"""What judging costs on Rust: a judged `cargo test` (sandbox.cargo_judge: a fresh target
dir, mutants and a canary built, each binary run alone) against the same `cargo test`
run bare in the same warm container, and the image's first build.

    PYTHONPATH=$PWD python benchmarks/rust_overhead.py [--runs 5] [--build]

`--build` times `build_image(..., force=True)` on the bootstrapped base already there;
Docker's layer cache makes that near instant once built, so the first build's figure
(mmdebstrap of trixie with rustc and cargo, then the Dockerfile: 43 s here) is measured
on a machine that has neither image. The bare `cargo test` also runs the doc tests,
which the judge does not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_toolchain_rust import CARGO, RIGHT, TESTS

from sandbox import open_sandbox
from sandbox.config import SandboxConfig
from sandbox.toolchains import toolchain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true")
    args = parser.parse_args()
    if args.build:
        from sandbox.image import build_image, docker_client

        start = time.monotonic()
        build_image(docker_client(), bootstrap=True, force=True, spec=toolchain("rust").image)
        print(f"image build on the bootstrapped base: {time.monotonic() - start:.1f} s")
    files: dict[str, str | bytes] = {"Cargo.toml": CARGO, "src/lib.rs": RIGHT, **TESTS}
    chain = toolchain("rust")
    suite = chain.folder_suite({p: str(t).encode() for p, t in files.items()})
    judged, bare = [], []
    with open_sandbox(SandboxConfig(toolchain="rust", run_id="bench")) as sb:
        sb.write(files)
        first = sb.run("cargo test -q", timeout=300)
        print(f"first bare cargo test in a fresh container: {first.duration:.2f} s")
        for _ in range(args.runs):
            sb.run("touch src/lib.rs")  # a model's edit: the crate rebuilds, as judged
            bare.append(sb.run("cargo test -q", timeout=300).duration)
            report = sb.run_tests([], timeout=300, suite=suite)
            assert report.green, report
            judged.append(report.duration)
    b, j = statistics.median(bare), statistics.median(judged)
    print(f"bare cargo test after an edit (warm target dir): median {b:.2f} s over {args.runs}")
    print(f"judged cargo test (fresh target dir, mutants, canary): median {j:.2f} s")
    print(f"ratio judged/bare: {j / b:.1f}x")


if __name__ == "__main__":
    main()
