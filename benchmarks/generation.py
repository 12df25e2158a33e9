"""Parallel vs serial generation: 8 planned files, a fake server answering in 500 ms.

    python benchmarks/generation.py [--files 8] [--latency 0.5] [--concurrency 8]

Prints both walls and the speed-up; the aim is >= 0.8 x concurrency (with 8 files
and concurrency 8: >= 6.4x). The model's shared concurrency limit is what bounds
the parallel run; the generator itself starts one call per file at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI, Reply, Request

from agent.model import ModelConfig, OpenAIChat
from agent.new.generate import Generator
from agent.new.plan import Plan, PlannedFile
from agent.new.requirements import extract_requirements
from agent.run.budget import Budget, Caller
from agent.task import TaskConfig


def _reply(latency: float) -> object:
    def answer(request: Request) -> Reply:
        name = request.prompt.split("Write the file `", 1)[-1].split("`", 1)[0]
        stem = name.removesuffix(".py")
        return Reply(text=f"```python\ndef {stem}():\n    return 1\n```", latency=latency)

    return answer


def _wall(files: int, latency: float, concurrency: int) -> float:
    plan = Plan(files=[PlannedFile(path=f"mod{i}.py", purpose=f"module {i}") for i in range(files)])
    with FakeOpenAI(_reply(latency)) as srv:  # type: ignore[arg-type]
        config = ModelConfig(
            model="fake", base_url=srv.base_url, api_key="k", concurrency=concurrency
        )
        model = OpenAIChat(config)
        ask = Caller(model, Budget(TaskConfig(max_tokens=10**9)), lambda *a, **k: None)
        generate = Generator(ask, "Write modules.", plan, {}, extract_requirements({}))
        started = time.perf_counter()
        written = generate(0.0)
        wall = time.perf_counter() - started
    assert len(written) == files, written
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    serial = _wall(args.files, args.latency, 1)
    parallel = _wall(args.files, args.latency, args.concurrency)
    speedup = serial / parallel
    aim = 0.8 * min(args.concurrency, args.files)
    print(f"{args.files} files, {args.latency * 1000:.0f} ms per call")
    print(f"serial   (concurrency 1):  {serial:6.2f} s")
    print(f"parallel (concurrency {args.concurrency}): {parallel:6.2f} s")
    print(f"speed-up: {speedup:.1f}x (aim >= {aim:.1f}x: {'met' if speedup >= aim else 'missed'})")


if __name__ == "__main__":
    main()
