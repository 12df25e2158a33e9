"""What the MCP server adds to a sandboxed test run: `sandbox_test` through `greenloop mcp`
(the SDK's client over stdio) against `greenloop sandbox test --json` run directly.

    python benchmarks/mcp_overhead.py [--runs 5]

Both judge the same folder (tasks/01-fizzbuzz's tests with its reference solution) in
a fresh Docker sandbox each time; the server is started once, as an editor starts it.
Prints each way's median seconds a run and the ratio. The CPU is shared: compare the
ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "greenloop")


def _folder(into: Path) -> Path:
    folder = into / "fizzbuzz"
    shutil.copytree(ROOT / "tasks" / "01-fizzbuzz" / "tests", folder / "tests")
    for solution in (ROOT / "tests" / "fixtures" / "task_solutions" / "01-fizzbuzz").iterdir():
        shutil.copy(solution, folder / solution.name)
    return folder


def direct(folder: Path, runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run([EXE, "sandbox", "test", str(folder), "--json"],
                              capture_output=True, check=False)  # fmt: skip
        took.append(time.monotonic() - started)
        assert done.returncode == 0, done.stderr
    return took


def through_mcp(folder: Path, runs: int) -> list[float]:
    took: list[float] = []

    async def main() -> None:
        async with Client(StdioServerParameters(command=EXE, args=["mcp"])) as client:
            for _ in range(runs):
                started = time.monotonic()
                result = await client.call_tool("sandbox_test", {"folder": str(folder)})
                took.append(time.monotonic() - started)
                assert result.structured_content and result.structured_content["green"]

    anyio.run(main)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="greenloop-mcp-bench-") as tmp:
        folder = _folder(Path(tmp))
        direct(folder, 1)  # warm: the image's layers, the CLI's imports
        bare = direct(folder, args.runs)
        served = through_mcp(folder, args.runs)
    one, other = statistics.median(bare), statistics.median(served)
    print(f"greenloop sandbox test --json: median {one:.2f}s a run ({args.runs} runs)")
    print(f"sandbox_test through greenloop mcp: median {other:.2f}s a run ({args.runs} runs)")
    print(f"ratio: {other / one:.2f}x")


if __name__ == "__main__":
    main()
