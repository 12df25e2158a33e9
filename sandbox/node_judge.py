"""The judge of a Node test run: runs each test file in a process of its own with the
repository's runner (node's own, vitest, jest or mocha), and alone writes the report
channel. A program.

Run in the sandbox as `python3 -S -P -c <this source> <sandbox.judge_io's source> <spec
JSON>` with fd 3 open onto the report channel. It imports no workspace code. It makes
itself non-dumpable, moves the channel off fd 3 to a descriptor nothing it starts
inherits, and checks the test files on disk against the hashes of the pristine tests
the host sent. Then:

- each test file runs under its own name (a test may assert its own file name, and a
  runner's config selects files by name), and so does a **mutant**: the same file
  with its assertions turned around (`strictEqual` to `notStrictEqual`,
  `expect(x).toBe` to `expect(x).not.toBe`, chai's `.to.` to `.to.not.`), written at
  the same path for a run of its own, so where the real file passes the mutant must
  fail and nothing tells the two apart by name; the runs go in a random order, each
  file checked to be what the judge wrote before and after its run, the pristine
  file written back at the end;
- a **canary** file with a fresh name beside the first test holds a test that must
  pass and one that must fail, in the runner's own words;
- node's runner: `node --test-reporter=junit --test-reporter-destination=/dev/fd/N
  <file>`, with a pipe of its own as fd N: no parent runner reads the file's stdout
  for test events (as `node --test` reads its children's);
- vitest (`run --reporter=junit --outputFile=/dev/fd/N`), jest (`--json
  --outputFile=/dev/fd/N --runTestsByPath`) and mocha (`--reporter=xunit
  --reporter-option=output=/dev/fd/N`): the runner's own structured reporter, in the
  runner's parent process, writes to the pipe. The runner is the one the setup step
  installed, its script found through `node_modules` once, before anything ran, and
  run by its real path (the setup's read-only volume); `node_modules` and the
  repository's runner config are checked before each run to be what they were.
  jest's and vitest's workers report to the parent over IPC, a channel the code under
  test shares: what it could forge there, the mutant (which runs the same code) and
  the exit code's agreement catch.

What a file's process left running is killed with it (its session). The document it
sends home holds each file's exit code and report under its real name, role and
report format; the host (`sandbox.toolchains.javascript`) judges them.
"""

import sys
from typing import Any

_io: Any = None
"""`sandbox.judge_io`, made from its source (argv[1]) when the judge starts."""
_CAP = 8 << 20
_LINGER = 2.0
_FLIPS = {
    "equal": "notEqual",
    "strictEqual": "notStrictEqual",
    "deepEqual": "notDeepEqual",
    "deepStrictEqual": "notDeepStrictEqual",
    "match": "doesNotMatch",
}
_HOOKS = r"""
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const ALTERNATIVES = [[/\.js$/, '.ts'], [/\.mjs$/, '.mts'], [/$/, '.ts'], [/$/, '/index.ts']];
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    if (!context.parentURL || !/^\.{0,2}\//.test(specifier)) throw error;
    for (const [from, to] of ALTERNATIVES) {
      const url = new URL(specifier.replace(from, to), context.parentURL);
      if (url.protocol === 'file:' && existsSync(fileURLToPath(url))) {
        return { url: url.href, shortCircuit: true };
      }
    }
    throw error;
  }
}
export async function load(url, context, next) {
  if (!url.startsWith('file:') || !/\.m?ts$/.test(new URL(url).pathname)) return next(url, context);
  const path = fileURLToPath(url);
  const source = execFileSync(
    'esbuild',
    ['--loader=ts', '--format=esm', '--sourcemap=inline', '--log-level=error',
     `--sourcefile=${path}`],
    { input: readFileSync(path) },
  );
  return { format: 'module', source, shortCircuit: true };
}
"""
"""TypeScript (`.ts`, `.mts`) as node loads it: compiled by esbuild from the image, one
module at a time, with its source map; `./x.js` finds `./x.ts` as tsc's convention has
it. Handed to node as a `data:` URL, so there is no file of the judge's to rewrite."""
_WORDS = ("adds", "keeps", "returns", "handles", "reads", "splits", "counts", "finds")
_NOUNS = ("empty input", "the first item", "a long list", "the last value", "two parts")


_RUNNERS = {
    "vitest": "vitest/vitest.mjs",
    "jest": "jest/bin/jest.js",
    "mocha": "mocha/bin/mocha.js",
}
"""Each runner's script under node_modules."""
_CONFIG = (
    "package.json",
    "jest.config.js",
    "jest.config.cjs",
    "jest.config.mjs",
    "jest.config.ts",
    "jest.config.json",
    "vitest.config.js",
    "vitest.config.mjs",
    "vitest.config.ts",
    "vitest.config.mts",
    "vite.config.js",
    "vite.config.mjs",
    "vite.config.ts",
    ".mocharc.js",
    ".mocharc.cjs",
    ".mocharc.json",
    ".mocharc.yml",
    ".mocharc.yaml",
    ".mocharc.jsonc",
    "babel.config.js",
    ".babelrc",
    "tsconfig.json",
)
"""The repository's files a runner reads on its own: checked before each run."""
_EXPECT = r"(\.not)?\.(to[A-Z]\w*)\("
_CHAI = r"\.to\.(not\.)?"


def main() -> None:
    import json
    import types

    global _io
    _io = types.ModuleType("greenloop_judge_io")
    exec(compile(sys.argv[1], "greenloop_judge_io", "exec"), _io.__dict__)
    channel = _io.take_channel()
    spec = json.loads(sys.argv[2])
    pristine, why = _io.pristine(spec.get("tests") or {})
    runner = str(spec.get("runner") or "node")
    script, why = _script(runner) if not why else ("", why)
    if why or not pristine:
        _send(channel, {"files": [], "lost": why or "there is no test file to run"})
        return
    flags = _typescript() if spec.get("typescript") and runner == "node" else []
    setting = _setting()
    runs, canary = _plan(pristine, runner)
    try:
        files = [
            _run(path, real, role, text, names, _argv(runner, script, flags), setting)
            for path, real, role, text, names in runs
        ]
    finally:
        _remove(canary)
        _io.write(pristine)
    _send(channel, {"files": files, "lost": ""})


def _script(runner: str) -> tuple[str, str]:
    """The runner's script, by its real path (the setup step's volume), found once before
    any code under test ran; "" for node's own. Or why there is none."""
    import os

    if runner == "node":
        return "", ""
    if runner not in _RUNNERS:
        return "", f"greenloop does not know the runner {runner!r}"
    path = os.path.realpath(os.path.join("node_modules", _RUNNERS[runner]))
    if not os.path.isfile(path):
        return "", (
            f"{runner} is not installed in node_modules: install the repository's "
            "dependencies with --setup-cmd 'npm ci'"
        )
    return path, ""


def _setting() -> dict[str, str]:
    """What a runner reads besides the test files: where node_modules leads, and the
    repository's runner config, as they are before anything ran."""
    import hashlib
    import os

    seen = {"node_modules": os.path.realpath("node_modules")}
    for name in _CONFIG:
        try:
            seen[name] = hashlib.sha256(_io.read(name).encode()).hexdigest()
        except (OSError, UnicodeDecodeError):
            seen[name] = ""
    return seen


def _plan(
    tests: dict[str, str], runner: str
) -> tuple[list[tuple[str, str, str, str, list[str]]], str]:
    """The runs, in a random order: (path, real path, role, the text written there, the
    canary's test names); and the canary's path. Each test and its mutant run under the
    test's own name; the canary is written at once, beside the first test."""
    import os
    import random
    import secrets

    rng = random.Random(secrets.randbits(64))
    runs: list[tuple[str, str, str, str, list[str]]] = []
    for real in sorted(tests):
        text = tests[real]
        runs.append((real, real, "test", text, []))
        mutant = _mutant(text)
        if mutant != text:
            runs.append((real, real, "mutant", mutant, []))
    first = sorted(tests)[0]
    folder, name = os.path.split(first)
    tail = name[name.find(".") :] if "." in name else ".js"
    if runner == "node":
        tail = ".test.mjs"
    canary = os.path.join(folder, f"{_token(rng)}{tail}")
    source, names = _canary(rng, runner)
    _io.write({canary: source})
    runs.append((canary, "", "canary", source, names))
    rng.shuffle(runs)
    return runs, canary


def _mutant(text: str) -> str:
    """`text` with its assertions turned around: node's assert, jest's and vitest's
    `expect`, chai's `.to.`."""
    import re

    flip = re.compile(r"\bassert\.(" + "|".join(sorted(_FLIPS, key=len, reverse=True)) + r")\(")
    out = flip.sub(lambda m: f"assert.{_FLIPS[m.group(1)]}(", text)
    out = re.sub(_EXPECT, lambda m: f".{'' if m.group(1) else 'not.'}{m.group(2)}(", out)
    return re.sub(_CHAI, lambda m: ".to." if m.group(1) else ".to.not.", out)


def _canary(rng: object, runner: str = "node") -> tuple[str, list[str]]:
    """A test that must pass and one that must fail, written as a real test would be
    for `runner`; their names, in that order."""
    import random

    assert isinstance(rng, random.Random)
    a, b = rng.randrange(2, 99), rng.randrange(2, 99)
    ok = f"{rng.choice(_WORDS)} {rng.choice(_NOUNS)}"
    bad = f"{rng.choice(_WORDS)} {rng.choice(_NOUNS)} again"
    if runner == "node":
        head = "import test from 'node:test';\nimport assert from 'node:assert/strict';\n\n"
        check = "assert.strictEqual({x}, {y});"
    elif runner == "mocha":
        head, check = "", "if ({x} !== {y}) throw new Error('expected ' + ({x}) + ' to be {y}');"
    else:
        head = "import { test, expect } from 'vitest';\n\n" if runner == "vitest" else ""
        check = "expect({x}).toBe({y});"
    call = "it" if runner == "mocha" else "test"
    source = head + (
        f"{call}('{ok}', () => {{\n  {check.format(x=f'{a} + {b}', y=a + b)}\n}});\n\n"
        f"{call}('{bad}', () => {{\n  {check.format(x=f'{a} * {b}', y=a * b + 1)}\n}});\n"
    )
    return source, [ok, bad]


def _token(rng: object) -> str:
    import random

    assert isinstance(rng, random.Random)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def _argv(runner: str, script: str, flags: list[str]) -> list[str]:
    """The command that runs one file, `{out}` for the report's descriptor, `{file}` last."""
    if runner == "vitest":
        return ["node", script, "run", "--reporter=junit", "--outputFile={out}", "{file}"]
    if runner == "jest":
        return ["node", script, "--ci", "--json", "--outputFile={out}", "--runTestsByPath",
                "{file}"]  # fmt: skip
    if runner == "mocha":
        return ["node", script, "--reporter=xunit", "--reporter-option=output={out}", "{file}"]
    return ["node", *flags, "--test-reporter=junit", "--test-reporter-destination={out}",
            "{file}"]  # fmt: skip


def _typescript() -> list[str]:
    """node's flags that load TypeScript (`_HOOKS`), its traces source-mapped."""
    from urllib.parse import quote

    hooks = "data:text/javascript," + quote(_HOOKS)
    register = f"import{{register}}from'node:module';register({hooks!r});"
    return ["--enable-source-maps", "--import=data:text/javascript," + quote(register)]


def _run(
    path: str,
    real: str,
    role: str,
    text: str,
    names: list[str],
    argv: list[str],
    setting: dict[str, str],
) -> dict[str, object]:
    """One file in a process of its own; its exit code and its reporter's document.
    A file, node_modules or a runner config that is not what it was (a run before
    rewrote it) is not run."""
    import contextlib
    import os
    import signal
    import subprocess

    entry: dict[str, object] = {"path": real, "role": role, "rc": 0, "xml": None}
    if role != "canary":
        _io.write({path: text})
    if not _same(path, text) or _setting() != setting:
        return {**entry, "changed": True}
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    words = [w.replace("{out}", f"/dev/fd/{write_end}").replace("{file}", path) for w in argv]
    try:
        proc = subprocess.Popen(
            words,
            stdin=subprocess.DEVNULL,
            stdout=2,
            stderr=2,
            env=env,
            pass_fds=(write_end,),
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        return {**entry, "rc": 127, "why": str(exc)}
    os.close(write_end)
    data, over = _drain(read_end, proc)
    rc = proc.wait()
    with contextlib.suppress(OSError):  # what it left running goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    if not _same(path, text):
        return {**entry, "changed": True}
    entry.update(rc=rc, over=over, xml=None if over else _b64(data))
    if names:
        entry["names"] = names
    return entry


def _same(path: str, text: str) -> bool:
    try:
        return bool(_io.read(path) == text)
    except (OSError, UnicodeDecodeError):
        return False


def _drain(read_end: int, proc: object) -> tuple[bytes, bool]:
    """What came on the report pipe, up to the cap; whether more came."""
    import os
    import select
    import subprocess
    import time

    assert isinstance(proc, subprocess.Popen)
    data, over = bytearray(), False
    ended: float | None = None
    while True:
        ready, _, _ = select.select([read_end], [], [], 0.2)
        if ready:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            over = over or len(data) + len(chunk) > _CAP
            if not over:
                data.extend(chunk)
        elif proc.poll() is not None:
            ended = ended or time.monotonic()
            if time.monotonic() - ended > _LINGER:
                break  # something it started still holds the pipe: what came is all
    os.close(read_end)
    return bytes(data), over


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _remove(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.unlink(path)


def _send(channel: int, doc: dict[str, object]) -> None:
    _io.send(channel, {"toolchain": "javascript", **doc})


if __name__ == "__main__":
    main()
