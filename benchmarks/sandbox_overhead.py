"""What the Docker sandbox costs over running pytest bare on the host.

    python benchmarks/sandbox_overhead.py [--runs 7] [--profile]

Generates a sample project (a few modules of small functions, 50 tests, many
parametrized) in a temp folder and measures the median wall time of:

(a) pytest bare on the host: a subprocess running the same command the sandbox
    runs (`-q -p no:cacheprovider`, JUnit XML, xunit1), then the XML parsed;
(b) the same run in a warm `DockerSandbox`: one container, `run_tests` per run,
    judged as every run of greenloop is: the tests disguised (fresh names, three
    canaries and up to six mutant copies among them), the judge's two processes,
    its runtime audit of the project's modules;
(c) a cold sandbox: create, write, run, remove per run.

It prints the medians and checks the goals (b)/(a) <= 1.3 and (c)-(a) <= 1.0 s.
Each measurement starts with one untimed run, so pytest's bytecode caches are
warm for (a) and (b) alike. `--profile` adds where a warm run's time goes
(exec create, the exec's life, polling, the reaper check, the JUnit read).

The host runs this venv's pytest, the sandbox its image's (Debian's): the
versions can differ, which shifts (a) against (b) by their start-up times.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.base import TestReport
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox
from sandbox.image import docker_client
from sandbox.junit import parse_junit, pytest_command
from sandbox.paths import collect_files
from sandbox.testrun import folder_suite

WARM_RATIO_GOAL = 1.3
COLD_EXTRA_GOAL = 1.0
EXPECTED_TESTS = 50

_PROJECT: dict[str, str] = {
    "shop/__init__.py": '"""A tiny shop: prices, carts and discounts."""\n',
    "shop/money.py": '''
        """Money in integer cents."""

        def parse_price(text: str) -> int:
            """'12.30' -> 1230 cents; raises ValueError on junk."""
            text = text.strip().lstrip("$")
            whole, _, frac = text.partition(".")
            if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
                raise ValueError(f"not a price: {text!r}")
            return int(whole) * 100 + int(frac.ljust(2, "0") or 0)

        def format_price(cents: int) -> str:
            sign = "-" if cents < 0 else ""
            cents = abs(cents)
            return f"{sign}${cents // 100}.{cents % 100:02d}"

        def split_evenly(cents: int, parts: int) -> list[int]:
            """Split into `parts` shares that differ by at most one cent and sum to `cents`."""
            if parts <= 0:
                raise ValueError("parts must be positive")
            base, extra = divmod(cents, parts)
            return [base + (1 if i < extra else 0) for i in range(parts)]
    ''',
    "shop/cart.py": '''
        """A cart of line items with discounts."""

        from dataclasses import dataclass, field

        @dataclass
        class Cart:
            items: dict[str, tuple[int, int]] = field(default_factory=dict)

            def add(self, sku: str, price: int, qty: int = 1) -> None:
                if qty <= 0:
                    raise ValueError("qty must be positive")
                _, old = self.items.get(sku, (price, 0))
                self.items[sku] = (price, old + qty)

            def remove(self, sku: str) -> None:
                self.items.pop(sku, None)

            def subtotal(self) -> int:
                return sum(price * qty for price, qty in self.items.values())

            def total(self, discount_pct: int = 0) -> int:
                if not 0 <= discount_pct <= 100:
                    raise ValueError("discount must be 0..100")
                sub = self.subtotal()
                return sub - sub * discount_pct // 100
    ''',
    "textkit.py": '''
        """Small text helpers."""

        import re

        def slugify(text: str) -> str:
            words = re.findall(r"[a-z0-9]+", text.lower())
            return "-".join(words)

        def is_palindrome(text: str) -> bool:
            letters = [c for c in text.lower() if c.isalnum()]
            return letters == letters[::-1]

        def word_count(text: str) -> dict[str, int]:
            counts: dict[str, int] = {}
            for word in re.findall(r"[a-z']+", text.lower()):
                counts[word] = counts.get(word, 0) + 1
            return counts

        def wrap(text: str, width: int) -> list[str]:
            lines: list[str] = []
            line = ""
            for word in text.split():
                if line and len(line) + 1 + len(word) > width:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            return [*lines, line] if line else lines
    ''',
    "mathkit.py": '''
        """Number helpers."""

        def fib(n: int) -> int:
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            return a

        def primes_below(n: int) -> list[int]:
            sieve = [True] * max(n, 2)
            sieve[0] = sieve[1] = False
            for i in range(2, int(n**0.5) + 1):
                if sieve[i]:
                    sieve[i * i :: i] = [False] * len(sieve[i * i :: i])
            return [i for i, p in enumerate(sieve) if p and i < n]

        def gcd(a: int, b: int) -> int:
            while b:
                a, b = b, a % b
            return abs(a)

        def mean(values: list[float]) -> float:
            if not values:
                raise ValueError("mean of nothing")
            return sum(values) / len(values)
    ''',
    "tests/conftest.py": """
        import pytest

        from shop.cart import Cart

        @pytest.fixture
        def cart() -> Cart:
            c = Cart()
            c.add("apple", 50, 4)
            c.add("pear", 120)
            return c
    """,
    "tests/test_money.py": """
        import pytest

        from shop.money import format_price, parse_price, split_evenly

        @pytest.mark.parametrize(
            ("text", "cents"),
            [("12.30", 1230), ("$4", 400), ("0.5", 50), (" 7.05 ", 705), ("100.00", 10000)],
        )
        def test_parse_price(text: str, cents: int) -> None:
            assert parse_price(text) == cents

        @pytest.mark.parametrize("junk", ["", "abc", "1.234", "-3", "1.x"])
        def test_parse_price_rejects(junk: str) -> None:
            with pytest.raises(ValueError):
                parse_price(junk)

        @pytest.mark.parametrize(
            ("cents", "text"), [(0, "$0.00"), (1999, "$19.99"), (-5, "-$0.05")]
        )
        def test_format_price(cents: int, text: str) -> None:
            assert format_price(cents) == text

        @pytest.mark.parametrize(("cents", "parts"), [(100, 3), (1, 4), (999, 7)])
        def test_split_evenly(cents: int, parts: int) -> None:
            shares = split_evenly(cents, parts)
            assert sum(shares) == cents and max(shares) - min(shares) <= 1

        def test_split_evenly_rejects_zero() -> None:
            with pytest.raises(ValueError):
                split_evenly(10, 0)
    """,
    "tests/test_cart.py": """
        import pytest

        from shop.cart import Cart

        def test_subtotal(cart: Cart) -> None:
            assert cart.subtotal() == 320

        def test_add_merges(cart: Cart) -> None:
            cart.add("apple", 50, 2)
            assert cart.items["apple"] == (50, 6)

        def test_remove(cart: Cart) -> None:
            cart.remove("pear")
            assert cart.subtotal() == 200

        @pytest.mark.parametrize(("pct", "total"), [(0, 320), (10, 288), (50, 160), (100, 0)])
        def test_total_with_discount(cart: Cart, pct: int, total: int) -> None:
            assert cart.total(pct) == total

        @pytest.mark.parametrize("pct", [-1, 101])
        def test_total_rejects_bad_discount(cart: Cart, pct: int) -> None:
            with pytest.raises(ValueError):
                cart.total(pct)

        def test_add_rejects_zero_qty() -> None:
            with pytest.raises(ValueError):
                Cart().add("x", 1, 0)
    """,
    "tests/test_textkit.py": """
        import pytest

        from textkit import is_palindrome, slugify, word_count, wrap

        @pytest.mark.parametrize(
            ("text", "slug"),
            [("Hello, World!", "hello-world"), ("  a  b ", "a-b"), ("Déjà vu 2", "d-j-vu-2")],
        )
        def test_slugify(text: str, slug: str) -> None:
            assert slugify(text) == slug

        @pytest.mark.parametrize(
            ("text", "expected"),
            [("Racecar", True), ("A man, a plan, a canal: Panama", True), ("greenloop", False)],
        )
        def test_is_palindrome(text: str, expected: bool) -> None:
            assert is_palindrome(text) is expected

        def test_word_count() -> None:
            assert word_count("the cat and THE hat") == {"the": 2, "cat": 1, "and": 1, "hat": 1}

        @pytest.mark.parametrize("width", [5, 10, 20])
        def test_wrap_respects_width(width: int) -> None:
            text = "the quick brown fox jumps over the lazy dog"
            lines = wrap(text, width)
            assert all(len(line) <= width for line in lines)
            assert " ".join(lines) == text

        def test_wrap_empty() -> None:
            assert wrap("", 10) == []
    """,
    "tests/test_mathkit.py": """
        import pytest

        from mathkit import fib, gcd, mean, primes_below

        @pytest.mark.parametrize(("n", "value"), [(0, 0), (1, 1), (10, 55), (20, 6765)])
        def test_fib(n: int, value: int) -> None:
            assert fib(n) == value

        @pytest.mark.parametrize(
            ("n", "primes"),
            [(2, []), (10, [2, 3, 5, 7]), (30, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29])],
        )
        def test_primes_below(n: int, primes: list[int]) -> None:
            assert primes_below(n) == primes

        @pytest.mark.parametrize(("a", "b", "d"), [(12, 18, 6), (7, 5, 1), (-4, 6, 2)])
        def test_gcd(a: int, b: int, d: int) -> None:
            assert gcd(a, b) == d

        def test_mean() -> None:
            assert mean([1.0, 2.0, 3.0]) == pytest.approx(2.0)

        def test_mean_rejects_empty() -> None:
            with pytest.raises(ValueError):
                mean([])
    """,
}


def write_project(root: Path) -> dict[str, bytes]:
    """Write the sample project under `root`; return its files as the sandbox takes them."""
    for rel, text in _PROJECT.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return collect_files(root)


def _check(report: TestReport) -> TestReport:
    if report.passed != EXPECTED_TESTS or not report.green:
        raise SystemExit(
            f"the sample project did not run green: {report.passed} passed, "
            f"{report.failed} failed, {report.errors} errors; {report.note}"
        )
    return report


def host_env(plugins: bool) -> dict[str, str]:
    """The host run's environment: like the sandbox's, which is empty but for the image's PATH.

    The sandbox image's pytest has no third-party plugins; this venv autoloads
    whatever its dependencies register (anyio's, through openai), which costs
    start-up time the sandbox never pays. `plugins=False` turns autoloading off.
    """
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    if not plugins:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def host_run(project: Path, env: dict[str, str]) -> TestReport:
    """(a): the sandbox's pytest command, run by this interpreter in `project`, XML parsed."""
    junit = project / ".greenloop" / "junit-host.xml"
    argv = [sys.executable, *pytest_command(str(junit))[1:]]
    proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"host pytest failed ({proc.returncode}):\n{proc.stdout.decode()}")
    return _check(parse_junit(junit.read_bytes(), root=str(project)))


def cold_run(client: Any, files: dict[str, bytes]) -> TestReport:
    """(c): a fresh container per run, removed afterwards."""
    with DockerSandbox(SandboxConfig(run_id="bench-cold"), client=client) as sb:
        sb.write(files)
        return _check(sb.run_tests(suite=folder_suite(files)))


def _seconds(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(
    runs: int, client: Any, root: Path, files: dict[str, bytes], plugins: bool
) -> tuple[float, float, float]:
    """Medians of (a), (b), (c), taken in interleaved rounds so load drift hits all three.

    Round 0 is untimed: it writes the bytecode caches on the host and in the warm sandbox.
    """
    env = host_env(plugins)
    times: dict[str, list[float]] = {"host": [], "warm": [], "cold": []}
    with DockerSandbox(SandboxConfig(run_id="bench-warm"), client=client) as warm:
        warm.write(files)
        for round_ in range(runs + 1):
            took = {
                "host": _seconds(lambda: host_run(root, env)),
                "warm": _seconds(lambda: _check(warm.run_tests(suite=folder_suite(files)))),
                "cold": _seconds(lambda: cold_run(client, files)),
            }
            if round_:
                for key, value in took.items():
                    times[key].append(value)
    return (
        statistics.median(times["host"]),
        statistics.median(times["warm"]),
        statistics.median(times["cold"]),
    )


class Profile:
    """Wall seconds and call counts of a sandbox's steps, gathered by wrapping them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, attr, timed)

    def lines(self, runs: int) -> list[str]:
        return [
            f"  {label:<36} {secs / runs:6.3f} s  ({self.calls[label] / runs:.1f} calls)"
            for label, secs in self.seconds.items()
        ]


_INNER = (
    "import subprocess, sys, time; s = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); print(time.perf_counter() - s)"
)


def profile_warm(client: Any, files: dict[str, bytes], runs: int) -> str:
    """Where a warm run's time goes: each step of `DockerSandbox.run_tests` timed."""
    prof = Profile()
    with DockerSandbox(SandboxConfig(run_id="bench-profile"), client=client) as sb:
        sb.write(files)
        _check(sb.run_tests())
        argv = pytest_command(f"{sb.config.workdir}/.greenloop/junit-inner.xml")
        inner = statistics.median(
            float(sb.run(["python3", "-c", _INNER, *argv]).output) for _ in range(runs)
        )
        exec_true = statistics.median(_seconds(lambda: sb.run(["true"])) for _ in range(runs))
        for attr in ("exec_create", "exec_inspect"):
            prof.wrap(sb._client.api, attr, f"api.{attr}")
        prof.wrap(sb, "_wait", "_wait (exec running, polled)")
        prof.wrap(sb, "_reap", "_reap (leftover check)")
        prof.wrap(sb, "_oom_count", "_oom_count (cgroup)")
        prof.wrap(sb, "_read_one", "_read_one (JUnit via get_archive)")
        total = sum(_seconds(lambda: _check(sb.run_tests())) for _ in range(runs)) / runs
    return "\n".join(
        [
            f"where a warm run's {total:.3f} s go (mean per run over {runs} runs):",
            *prof.lines(runs),
            f"  {'pytest itself, timed in the container':<36} {inner:6.3f} s  (median)",
            f"  {'bare exec cost: sb.run([true])':<36} {exec_true:6.3f} s  (median)",
        ]
    )


def profile_cold(client: Any, files: dict[str, bytes], runs: int) -> str:
    """Where a cold run's time goes: create+start, write, run_tests, remove."""
    steps: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def step(label: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        steps[label].append(time.perf_counter() - start)

    for _ in range(runs):
        sb = DockerSandbox(SandboxConfig(run_id="bench-profile"), client=client)
        with step("create + start (__enter__)"):
            sb.__enter__()
        try:
            with step("write (put_archive)"):
                sb.write(files)
            with step("run_tests (first run: no .pyc)"):
                _check(sb.run_tests())
        finally:
            with step("remove (__exit__)"):
                sb.__exit__(None, None, None)
    return "\n".join(
        [f"where a cold run's time goes (median of {runs}):"]
        + [f"  {label:<36} {statistics.median(v):6.3f} s" for label, v in steps.items()]
    )


@contextmanager
def sample_project() -> Iterator[tuple[Path, dict[str, bytes]]]:
    with tempfile.TemporaryDirectory(prefix="greenloop-bench-") as tmp:
        root = Path(tmp)
        yield root, write_project(root)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement")
    parser.add_argument(
        "--host-plugins",
        action="store_true",
        help="let the host's pytest autoload this venv's plugins (the sandbox's has none)",
    )
    parser.add_argument("--profile", action="store_true", help="break warm and cold runs down")
    args = parser.parse_args()

    client = docker_client()
    with sample_project() as (root, files):
        bare, warm, cold = measure(args.runs, client, root, files, args.host_plugins)
        ratio, extra = warm / bare, cold - bare
        plugins = "autoloaded" if args.host_plugins else "not autoloaded, as in the sandbox"
        print(
            f"sample project: {len(files)} files, {EXPECTED_TESTS} tests; "
            f"median of {args.runs} interleaved rounds; host plugins {plugins}"
        )
        print(f"(a) host pytest      {bare:7.3f} s")
        print(f"(b) warm sandbox     {warm:7.3f} s")
        print(f"(c) cold sandbox     {cold:7.3f} s")
        print(
            f"(b)/(a) = {ratio:.2f}    goal <= {WARM_RATIO_GOAL}    "
            f"{_verdict(ratio <= WARM_RATIO_GOAL)}"
        )
        print(
            f"(c)-(a) = {extra:.2f} s  goal <= {COLD_EXTRA_GOAL} s  "
            f"{_verdict(extra <= COLD_EXTRA_GOAL)}"
        )
        if args.profile or ratio > WARM_RATIO_GOAL:
            print(profile_warm(client, files, args.runs))
        if args.profile or extra > COLD_EXTRA_GOAL:
            print(profile_cold(client, files, args.runs))


if __name__ == "__main__":
    main()
