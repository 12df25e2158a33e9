"""How long the trajectory page takes to write, and how big it gets, for a long run.

    python benchmarks/trajectory_page.py [--iterations 50] [--prompt-chars 24000]

Builds a synthetic run dir the way a run writes it (RunDir events, a cassette
line per model call): per iteration one feedback call with a prompt of
`--prompt-chars` characters, an apply, a candidate diff, a test run with five
failures and their tracebacks, and a mode switch. Prints the records' sizes,
the page's size, and the time `write_page` and `render_text` take (best of 3).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.model import Completion, Message
from agent.model.cassette import Cassette
from agent.run.candidates import TestRun, candidate_change
from agent.run.events import Apply, ModelCall, ModeSwitch, Result
from agent.run.record import RunDir
from agent.show.page import render_text, write_page
from agent.show.trajectory import load_run
from sandbox.base import TestCase, TestReport


def _build(root: Path, iterations: int, prompt_chars: int) -> RunDir:
    run = RunDir(root, "bench")
    cassette = Cassette(run.cassette_path)
    code = {"app.py": "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(200))}
    for it in range(1, iterations + 1):
        prompt = [
            Message.system("You fix code."),
            Message.user(("context line\n" * prompt_chars)[:prompt_chars]),
        ]
        reply = (
            f"app.py\n<<<<<<< SEARCH\n    return x + {it}\n=======\n"
            f"    return x - {it}\n>>>>>>> REPLACE\n"
        )
        completion = Completion(reply, prompt_chars // 4, 40, "fake", 0.5)
        cassette.append("fake", prompt, {"temperature": 0.0}, completion)
        run.append(
            ModelCall(
                purpose="feedback",
                prompt_tokens=prompt_chars // 4,
                completion_tokens=40,
                latency=0.5,
                finish_reason="stop",
                cost=None,
                reply=reply,
            )
        )
        run.append(Apply(applied=1, failed=(), changed=("app.py",)))
        new = {"app.py": code["app.py"].replace(f"return x + {it}\n", f"return x - {it}\n", 1)}
        run.append(candidate_change(code, new, iteration=it))
        code = new
        report = TestReport(
            tests=(
                *(TestCase(f"tests/test_app.py::test_ok_{k}", "passed") for k in range(10)),
                *(
                    TestCase(f"tests/test_app.py::test_{k}", "failed", f"assert {k} == {k + 1}",
                             "frame\n" * 40)
                    for k in range(5)
                ),
            ),
            duration=1.0,
        )  # fmt: skip
        run.append(TestRun.of(report, green=False, iteration=it))
        run.append(ModeSwitch(mode="feedback", improved=False, iteration=it))
    run.append(Result(status="red", exit_reason="iterations"))
    run.close()
    return run


def _best(fn: object, repeat: int = 3) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--prompt-chars", type=int, default=24000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = _build(Path(tmp), args.iterations, args.prompt_chars)
        events = run.trajectory_path.stat().st_size
        cassette = run.cassette_path.stat().st_size
        write = _best(lambda: write_page(run.path))
        page = (run.path / "trajectory.html").stat().st_size
        text = _best(lambda: render_text(load_run(run.path)))
    print(
        f"{args.iterations} iterations, {args.iterations * 5 + 1} events, "
        f"prompts of {args.prompt_chars:,} chars"
    )
    print(f"trajectory.jsonl {events / 1e6:.2f} MB, cassette.jsonl {cassette / 1e6:.2f} MB")
    print(f"trajectory.html  {page / 1e6:.2f} MB, written in {write:.3f} s (best of 3)")
    print(f"plain text rendered in {text:.3f} s (best of 3)")


if __name__ == "__main__":
    main()
