"""The judge of a Node test run: disguises the tests, runs each file in a process of its
own, and alone writes the report channel. A program.

Run in the sandbox as `python3 -S -P -c <this source> <sandbox.judge_io's source> <spec
JSON>` with fd 3 open onto the report channel. It imports no workspace code. It makes
itself non-dumpable, moves the channel off fd 3 to a descriptor nothing it starts
inherits, and checks the test files on disk against the hashes of the pristine tests
the host sent. Then:

- each test file is moved to a fresh name beside it (the pristine one is written back
  after the run), with a **mutant** copy under another fresh name: its assertions
  turned around (`strictEqual` to `notStrictEqual`, ...), so where the real file
  passes the mutant must fail;
- a **canary** file with a fresh name holds a test that must pass and one that must
  fail, as a real test would be written;
- each file runs, unless it is no longer what the judge wrote, as
  `node --test-reporter=junit --test-reporter-destination=/dev/fd/N <file>`, with
  a pipe of its own as fd N: its tests run in that process and its reporter writes
  one JUnit document. There is no parent runner reading the file's
  stdout for test events (as `node --test` reads its children's): what the code
  under test prints is console output and nothing else. What a file's process left
  running is killed with it (its session).

The document it sends home holds each file's exit code and report under its real
name and role; the host (`sandbox.toolchains.javascript`) judges them.
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


def main() -> None:
    import json
    import os
    import types

    global _io
    _io = types.ModuleType("greenloop_judge_io")
    exec(compile(sys.argv[1], "greenloop_judge_io", "exec"), _io.__dict__)
    _io.undumpable()
    channel = os.dup(3)
    os.close(3)
    spec = json.loads(sys.argv[2])
    pristine, why = _io.pristine(spec.get("tests") or {})
    if why or not pristine:
        _send(channel, {"files": [], "lost": why or "there is no test file to run"})
        return
    runs = _disguise(pristine)
    flags = _typescript() if spec.get("typescript") else []
    try:
        files = [_run(path, *run, flags=flags) for path, run in runs.items()]
    finally:
        for path in runs:
            _remove(path)
        _io.write(pristine)
    _send(channel, {"files": files, "lost": ""})


def _disguise(tests: dict[str, str]) -> dict[str, tuple[str, str, str, list[str]]]:
    """Write each test under a fresh name, its mutant and a canary: fresh path -> (real
    path, role, the text written, the canary's test names). The real files are removed
    for the run."""
    import os
    import random
    import re
    import secrets

    rng = random.Random(secrets.randbits(64))
    runs: dict[str, tuple[str, str, str, list[str]]] = {}
    flip = re.compile(r"\bassert\.(" + "|".join(sorted(_FLIPS, key=len, reverse=True)) + r")\(")
    for real in sorted(tests):
        text = tests[real]
        folder, name = os.path.split(real)
        ext = name[name.rfind(".") :] if "." in name else ".js"
        fresh = os.path.join(folder, f"{_token(rng)}.test{ext}")
        _remove(real)
        _io.write({fresh: text})
        runs[fresh] = (real, "test", text, [])
        mutant = flip.sub(lambda m: f"assert.{_FLIPS[m.group(1)]}(", text)
        if mutant != text:
            path = os.path.join(folder, f"{_token(rng)}.test{ext}")
            _io.write({path: mutant})
            runs[path] = (real, "mutant", mutant, [])
    folder = os.path.dirname(sorted(tests)[0])
    canary = os.path.join(folder, f"{_token(rng)}.test.mjs")
    source, names = _canary(rng)
    _io.write({canary: source})
    runs[canary] = ("", "canary", source, names)
    order = list(runs.items())
    rng.shuffle(order)
    return dict(order)


def _canary(rng: object) -> tuple[str, list[str]]:
    """A test that must pass and one that must fail, written as a real test would be;
    their names, in that order."""
    import random

    assert isinstance(rng, random.Random)
    a, b = rng.randrange(2, 99), rng.randrange(2, 99)
    ok = f"{rng.choice(_WORDS)} {rng.choice(_NOUNS)}"
    bad = f"{rng.choice(_WORDS)} {rng.choice(_NOUNS)} again"
    source = (
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\n\n"
        f"test('{ok}', () => {{\n  assert.strictEqual({a} + {b}, {a + b});\n}});\n\n"
        f"test('{bad}', () => {{\n  assert.strictEqual({a} * {b}, {a * b + 1});\n}});\n"
    )
    return source, [ok, bad]


def _token(rng: object) -> str:
    import random

    assert isinstance(rng, random.Random)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def _typescript() -> list[str]:
    """node's flags that load TypeScript (`_HOOKS`), its traces source-mapped."""
    from urllib.parse import quote

    hooks = "data:text/javascript," + quote(_HOOKS)
    register = f"import{{register}}from'node:module';register({hooks!r});"
    return ["--enable-source-maps", "--import=data:text/javascript," + quote(register)]


def _run(
    path: str, real: str, role: str, text: str, names: list[str], flags: list[str]
) -> dict[str, object]:
    """One file in a node process of its own; its exit code and its reporter's document.
    A file that is not what the judge wrote (a run before it rewrote it) is not run."""
    import base64
    import contextlib
    import os
    import select
    import signal
    import subprocess
    import time

    try:
        changed = _io.read(path) != text
    except (OSError, UnicodeDecodeError):
        changed = True
    if changed:
        return {"path": real, "role": role, "rc": 0, "xml": None, "changed": True}
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    destination = f"--test-reporter-destination=/dev/fd/{write_end}"
    argv = ["node", *flags, "--test-reporter=junit", destination, path]
    try:
        proc = subprocess.Popen(
            argv,
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
        return {"path": real, "role": role, "rc": 127, "xml": None, "why": str(exc)}
    os.close(write_end)
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
    rc = proc.wait()
    with contextlib.suppress(OSError):  # what it left running goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    if role == "test":  # its tracebacks name the file as the tests know it
        data = bytearray(
            data.replace(os.path.basename(path).encode(), os.path.basename(real).encode())
        )
    entry: dict[str, object] = {"path": real, "role": role, "rc": rc, "over": over}
    entry["xml"] = None if over else base64.b64encode(bytes(data)).decode()
    if names:
        entry["names"] = names
    return entry


def _remove(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.unlink(path)


def _send(channel: int, doc: dict[str, object]) -> None:
    _io.send(channel, {"toolchain": "javascript", **doc})


if __name__ == "__main__":
    main()
