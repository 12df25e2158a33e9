"""How the embedded model's samples fare by how they are asked for and drawn (HumanEval
40-163 only): the per-sample parse and pass rates behind issue 25's diagnosis.

    python benchmarks/humaneval_sampling.py [--first 40] [--count 20] [--seeds 4]

Every sample is judged as `benchmarks/humaneval.py` judges the naive baseline (the
reply's first python block parsed, then the problem's own `check()` in a plain
subprocess), except that code which does not parse is cut to the parseable head
greenloop's syntax gate would keep ("through the gate"); none stops early, so each
way is measured on the same problems and seeds. The prompts:

- `naive`: the naive baseline's one user message (300-token cap, ends at its fence).
- `naive+system`: the same after greenloop's system prompt.
- `greenloop full` / `greenloop bare`: what greenloop's `Generator.write_one` sends
  for the task folder's spec (`agent.new.prompts.completion_messages`, its system
  prompt, `body_reply`'s cap and stops); the first candidate and a restart's even
  samples are full, the odd ones bare.

each at temperature 0 (one sample) or sampled (`--seeds` samples), with llama's
repeat penalty on the last 64 tokens at 1.1 (what `EmbeddedChat` applies to a greedy
call) or 1.0 (none, as it samples). Problems 0-39 are refused, as there. Reaches into
`agent.model.embedded` for the loaded engine: the chat API takes no repeat penalty.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.model import EmbeddedChat, Message, ModelConfig  # noqa: E402
from agent.model.batched import Sampling  # noqa: E402
from agent.model.embedded import _load  # noqa: E402
from agent.new.generate import trim_to_parseable  # noqa: E402
from agent.new.plan import Plan, PlannedFile  # noqa: E402
from agent.new.prompts import code_to_complete, completion_messages  # noqa: E402
from agent.run.prompts import SYSTEM  # noqa: E402
from agent.run.replies import body_reply  # noqa: E402
from agent.syntax import check_python  # noqa: E402
from benchmarks.humaneval import (  # noqa: E402
    NAIVE_ASK,
    NAIVE_MAX_TOKENS,
    NAIVE_STOP,
    _ids,
    _parses,
    _passes,
    naive_code,
    problems,
    spec_of,
)


@dataclass(frozen=True)
class Way:
    name: str
    prompt: str  # naive, naive+system, greenloop full, greenloop bare
    temperature: float
    repeat_penalty: float


WAYS = [
    Way("naive T0.8 rp1.0 (naive today)", "naive", 0.8, 1.0),
    Way("greenloop full T0.8 rp1.0 (restart today)", "greenloop full", 0.8, 1.0),
    Way("greenloop bare T0.8 rp1.0 (restart today)", "greenloop bare", 0.8, 1.0),
    Way("greenloop full T0.6 rp1.0", "greenloop full", 0.6, 1.0),
    Way("greenloop bare T0.6 rp1.0", "greenloop bare", 0.6, 1.0),
    Way("greenloop full T0.4 rp1.0", "greenloop full", 0.4, 1.0),
    Way("greenloop bare T0.4 rp1.0", "greenloop bare", 0.4, 1.0),
    Way("naive greedy rp1.1 (naive today)", "naive", 0.0, 1.1),
    Way("naive greedy rp1.0", "naive", 0.0, 1.0),
    Way("naive+system greedy rp1.1", "naive+system", 0.0, 1.1),
    Way("greenloop full greedy rp1.1 (first candidate today)", "greenloop full", 0.0, 1.1),
    Way("greenloop full greedy rp1.0", "greenloop full", 0.0, 1.0),
    Way("naive T0.4 rp1.0", "naive", 0.4, 1.0),
]


@dataclass
class Tally:
    samples: int = 0
    parsed: int = 0
    gated: int = 0
    """Parsed, or with a parseable head greenloop's syntax gate keeps."""
    passed: int = 0
    solved: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def _ask(problem: dict[str, Any], prompt: str) -> tuple[list[Message], int, list[str]]:
    """The messages, the token cap and the stops of one way of asking."""
    if prompt.startswith("naive"):
        ask = [Message.user(f"{NAIVE_ASK}\n\n```python\n{problem['prompt'].rstrip()}\n```")]
        if prompt == "naive+system":
            ask.insert(0, Message.system(SYSTEM))
        return ask, NAIVE_MAX_TOKENS, NAIVE_STOP
    spec = spec_of(problem)
    target = PlannedFile(
        path="solution.py", purpose=problem["entry_point"], interface=[problem["entry_point"]]
    )
    code = code_to_complete(spec, target)
    messages = completion_messages(
        spec, Plan(files=[target]), target, code, bare=prompt == "greenloop bare"
    )
    shape = body_reply(code)
    return messages, shape["max_tokens"], list(shape["stop"])


def _trimmed(code: str) -> str:
    """What greenloop's syntax gate keeps of code that does not parse ("" for nothing)."""
    problems = check_python(code)
    return (trim_to_parseable(code, problems) or "") if problems else code


def _sample(loaded: Any, problem: dict[str, Any], way: Way, seed: int) -> tuple[str, Any]:
    """The code of one sample, and its completion."""
    messages, cap, stop = _ask(problem, way.prompt)
    tokens, stops = loaded.prompt(messages)
    sampling = Sampling(temperature=way.temperature, seed=seed, repeat_penalty=way.repeat_penalty)
    reply = loaded.engine.complete(tokens, sampling, cap, [*stop, *stops])
    return naive_code(reply.text), reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=40)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--ids", type=int, nargs="*")
    parser.add_argument("--seeds", type=int, default=4, help="samples of a sampled way")
    parser.add_argument("--ways", nargs="*", help="only the ways whose name holds one of these")
    args = parser.parse_args()
    ways = [w for w in WAYS if not args.ways or any(part in w.name for part in args.ways)]
    model = EmbeddedChat(ModelConfig(model="local"))
    loaded = _load(model.path, model.config.n_ctx, model.threads)
    tallies = {way.name: Tally() for way in ways}
    started = time.monotonic()
    for problem in problems(_ids(args)):
        for way in ways:
            tally, solved = tallies[way.name], False
            for seed in range(1 if way.temperature == 0 else args.seeds):
                code, reply = _sample(loaded, problem, way, seed + 1)
                parsed = bool(code.strip()) and _parses(code)
                kept = code if parsed else _trimmed(code)
                passed = bool(kept) and _passes(kept, problem)
                tally.samples += 1
                tally.parsed += parsed
                tally.gated += bool(kept)
                tally.passed += passed
                tally.prompt_tokens += reply.prompt_tokens
                tally.completion_tokens += reply.completion_tokens
                tally.seconds += reply.latency
                solved = solved or passed
            tally.solved += solved
        print(f"{problem['task_id']} done at {time.monotonic() - started:.0f}s", flush=True)
    print("\n| way | samples | parse | through the gate | pass | solved | prompt+completion "
          "tokens | s a sample |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, t in tallies.items():
        n = max(1, t.samples)
        print(
            f"| {name} | {t.samples} | {t.parsed / n:.0%} | {t.gated / n:.0%} "
            f"| {t.passed}/{t.samples} "
            f"{t.passed / n:.1%} | {t.solved} | {t.prompt_tokens / n:.0f}"
            f"+{t.completion_tokens / n:.0f} | {t.seconds / n:.2f} |"
        )


if __name__ == "__main__":
    main()
