"""The judge of a cargo test run: disguises the tests, builds every test binary before
any of the code under test runs, runs each binary itself, and alone writes the report
channel. A program.

Run in the sandbox as `python3 -S -P -c <this source> <sandbox.judge_io's source> <spec
JSON> <file JSON>...` with fd 3 open onto the report channel. It imports no workspace
code. It makes itself non-dumpable, moves the channel off fd 3 to a descriptor nothing
it starts inherits, and checks the test files on disk against the hashes of the
pristine tests the host sent (the source files holding inline tests are sent home as
they are, for the host to compare their test items with tree-sitter). Then:

- each integration test file (`tests/x.rs`) is moved to a fresh name beside it, with
  its **mutant** (the host made it: assertions turned around) under another, and a
  **canary** file with a fresh name holds a test that must pass and one that must fail;
- cargo builds every test binary (`cargo test --no-run --message-format=json`, in a
  fresh target dir and cargo home under /tmp, never the workspace), and each binary is
  copied to a folder of the judge's and hashed; where there are unit tests (`src/**/
  tests.rs`, inline `#[cfg(test)]` modules) their mutants are written in place and
  the unit binaries built again and kept the same way; the pristine files are written
  back. Only then does anything of the model's run;
- each binary runs unless it is no longer what was built, as `<binary> -Z
  unstable-options --format json --report-time --logfile /dev/fd/N` (libtest's JSON,
  which stable libtest gives with `RUSTC_BOOTSTRAP=1` in its environment): JSON events
  on a pipe as its stdout, and one line per result on a pipe of its own as fd N. What
  it left running is killed with it (its session).

The document it sends home holds each binary's role, exit code, stdout and log under
the real file's name; the host (`sandbox.toolchains.rust`) judges them.
"""

import sys
from typing import Any

_io: Any = None
"""`sandbox.judge_io`, made from its source (argv[1]) when the judge starts."""
_CAP = 8 << 20
_LINGER = 2.0
_WORDS = ("adds", "keeps", "returns", "handles", "reads", "splits", "counts", "finds")
_NOUNS = ("empty_input", "the_first_item", "a_long_list", "the_last_value", "two_parts")


def main() -> None:
    import json
    import shutil
    import tempfile
    import types

    global _io
    _io = types.ModuleType("greenloop_judge_io")
    exec(compile(sys.argv[1], "greenloop_judge_io", "exec"), _io.__dict__)
    channel = _io.take_channel()
    spec = json.loads(sys.argv[2])
    files = [json.loads(a) for a in sys.argv[3:]]
    hashes = {f["path"]: f["sha"] for f in files if f["kind"] != "inline"}
    pristine, why = _io.pristine(hashes)
    if why or not files:
        _send(channel, {"binaries": [], "lost": why or "there is no test file to run"})
        return
    inline = {}
    for f in files:
        if f["kind"] == "inline":
            try:
                inline[f["path"]] = _io.read(f["path"])
            except (OSError, UnicodeDecodeError):
                inline[f["path"]] = ""
    work = tempfile.mkdtemp(prefix="greenloop-cargo-")
    bins = tempfile.mkdtemp(prefix=".greenloop-", dir=".")
    try:
        doc = _judged(spec, files, pristine, inline, (work, bins))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(bins, ignore_errors=True)
    _send(channel, {**doc, "inline": inline, "lost": ""})


def _judged(
    spec: dict[str, Any],
    files: list[dict[str, Any]],
    pristine: dict[str, str],
    inline: dict[str, str],
    folders: tuple[str, str],
) -> dict[str, Any]:
    """Build everything (in /tmp, which is noexec), then run everything (copied to a
    folder of the judge's in the workspace, the one place things run); the binaries'
    entries, or the build's failure."""
    import os
    import random
    import secrets

    rng = random.Random(secrets.randbits(64))
    work, bins = folders
    env = _cargo_env(work)
    disguised, canary = _disguise(files, rng)
    try:
        built = _build(spec["cargo"], env, bins, "built", disguised, canary)
        if "build" in built:
            return built
        units = [f for f in files if f["kind"] in ("unit", "inline") and f.get("mutant")]
        if units and built["binaries"]:
            _write_mutants(units, pristine, inline)
            roots = sorted({b["root"] for b in built["binaries"] if b["kind"] == "unit"})
            again = _build(spec["cargo"], env, bins, "mutants", {}, None, roots)
            for entry in again.get("binaries", []):
                if entry["kind"] == "unit":
                    built["binaries"].append({**entry, "role": "mutant"})
    finally:
        for fresh in [*(canary or {}), *disguised]:
            _remove(fresh)
        _io.write(pristine)
        _io.write({p: t for p, t in inline.items() if t})
    selected = spec.get("select")
    runs = [b for b in built["binaries"] if _selected(b, selected)]
    rng.shuffle(runs)
    return {"binaries": [_run(b, os.environ) for b in runs]}


def _selected(binary: dict[str, Any], select: dict[str, Any] | None) -> bool:
    """Whether the test command's `--lib`/`--test NAME` chose this binary (the canary
    and the mutants always run)."""
    if not select or binary["role"] == "canary":
        return True
    if binary["kind"] == "unit":
        return bool(select.get("lib"))
    return binary["path"] in select.get("tests", [])


def _cargo_env(work: str) -> dict[str, str]:
    """cargo's environment: a home and a target dir of this run's own (a target dir an
    earlier run's code could have written is never trusted), offline, no debug info, and
    rustc itself with no flags: the environment outranks a `.cargo/config.toml`, so no
    config can put a wrapper or flags of its own in the compiler's place."""
    import os

    keep = ("PATH", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=work,
        CARGO_HOME=os.path.join(work, "home"),
        CARGO_TARGET_DIR=os.path.join(work, "target"),
        CARGO_NET_OFFLINE="true",
        CARGO_TERM_COLOR="never",
        CARGO_INCREMENTAL="0",
        CARGO_PROFILE_DEV_DEBUG="0",
        CARGO_PROFILE_DEV_STRIP="debuginfo",
        CARGO_PROFILE_TEST_DEBUG="0",
        CARGO_PROFILE_TEST_STRIP="debuginfo",
        RUSTC="rustc",
        RUSTC_WRAPPER="",
        RUSTC_WORKSPACE_WRAPPER="",
        RUSTFLAGS="",
        CARGO_BUILD_RUSTC="rustc",
        CARGO_BUILD_RUSTC_WRAPPER="",
        CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER="",
    )
    return env


def _disguise(
    files: list[dict[str, Any]], rng: Any
) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]] | None]:
    """Write each integration test under a fresh name, its mutant under another, and a
    canary: fresh path -> (real path, role); the canary's path -> its test names."""
    import os

    disguised: dict[str, tuple[str, str]] = {}
    texts: dict[str, str] = {}
    for f in sorted(files, key=lambda f: f["path"]):
        if f["kind"] != "integration":
            continue
        folder = os.path.dirname(f["path"])
        fresh = os.path.join(folder, _token(rng) + ".rs")
        texts[fresh] = _io.read(f["path"])
        disguised[fresh] = (f["path"], "test")
        _remove(f["path"])
        if f.get("mutant"):
            other = os.path.join(folder, _token(rng) + ".rs")
            texts[other] = f["mutant"]
            disguised[other] = (f["path"], "mutant")
    first = sorted(files, key=lambda f: (f["kind"] != "integration", f["path"]))[0]["path"]
    package = _package(first)
    tests = os.path.join(package, "tests") if package else "tests"
    if not os.path.isdir(tests):
        os.makedirs(tests)
        disguised[tests] = ("", "folder")
    canary = os.path.join(tests, _token(rng) + ".rs")
    texts[canary], names = _canary(rng)
    _io.write(texts)
    return disguised, {canary: names}


def _package(path: str) -> str:
    """The package folder of a test file: what is before its `tests/` or `src/`."""
    parts = path.split("/")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("tests", "src") and i < len(parts) - 1:
            return "/".join(parts[:i])
    return ""


def _canary(rng: Any) -> tuple[str, list[str]]:
    """A test that must pass and one that must fail, written as a real test would be;
    their names, in that order."""
    a, b = rng.randrange(2, 99), rng.randrange(2, 99)
    ok = f"{rng.choice(_WORDS)}_{rng.choice(_NOUNS)}"
    bad = f"{rng.choice(_WORDS)}_{rng.choice(_NOUNS)}_again"
    source = (
        f"#[test]\nfn {ok}() {{\n    assert_eq!({a} + {b}, {a + b});\n}}\n\n"
        f"#[test]\nfn {bad}() {{\n    assert_eq!({a} * {b}, {a * b + 1});\n}}\n"
    )
    return source, [ok, bad]


def _token(rng: Any) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def _write_mutants(
    units: list[dict[str, Any]], pristine: dict[str, str], inline: dict[str, str]
) -> None:
    """The unit tests' mutants in place: `tests.rs` files whole, inline test items
    swapped where the file holds the pristine item exactly once."""
    texts = {}
    for f in units:
        if f["kind"] == "unit":
            texts[f["path"]] = f["mutant"]
            continue
        text = inline.get(f["path"]) or ""
        for item, flipped in f["mutant"]:
            if text.count(item) == 1:
                text = text.replace(item, flipped)
        texts[f["path"]] = text
    _io.write(texts)


def _build(
    cargo: list[str],
    env: dict[str, str],
    work: str,
    into: str,
    disguised: dict[str, tuple[str, str]],
    canary: dict[str, list[str]] | None,
    roots: list[str] | None = None,
) -> dict[str, Any]:
    """`cargo test --no-run` and each test binary copied into `work/into`: its entry, or
    the build's failure with the compiler's errors."""
    import json
    import os
    import shutil
    import subprocess

    argv = ["cargo", "test", "--no-run", "--message-format=json", *cargo]
    if roots is not None:
        argv += ["--lib"] if any(not _is_bin(r) for r in roots) else []
        argv += [f"--bin={_bin_name(r)}" for r in roots if _is_bin(r)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False)
    errors: list[str] = []
    binaries: list[dict[str, Any]] = []
    os.makedirs(os.path.join(work, into), exist_ok=True)
    cwd = os.getcwd()
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("reason") == "compiler-message":
            message = event.get("message") or {}
            if message.get("level") == "error" and message.get("rendered"):
                errors.append(str(message["rendered"]))
        executable = event.get("executable")
        if event.get("reason") != "compiler-artifact" or not executable:
            continue
        target = event.get("target") or {}
        source = os.path.relpath(str(target.get("src_path", "")), cwd)
        kinds = target.get("kind") or []
        if "example" in kinds or "bench" in kinds:
            continue
        entry: dict[str, Any] = {"role": "test", "path": "", "root": source, "names": []}
        if "test" in kinds:
            entry["kind"] = "integration"
            if source in disguised:
                entry["path"], entry["role"] = disguised[source]
            elif canary and source in canary:
                entry["role"], entry["names"] = "canary", canary[source]
            else:
                continue  # a test target the suite does not know: not ours to run
        else:
            entry["kind"] = "unit"
        kept = os.path.abspath(os.path.join(work, into, f"{len(binaries)}"))
        shutil.copyfile(executable, kept)
        os.chmod(kept, 0o700)
        entry["binary"], entry["sha"], entry["fresh"] = kept, _digest(kept), source
        entry["cwd"] = _manifest_dir(str(event.get("manifest_path", "")), cwd)
        binaries.append(entry)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-4000:]
        return {"build": {"rc": proc.returncode, "errors": errors or [tail]}}
    return {"binaries": binaries}


def _is_bin(root: str) -> bool:
    return root.endswith("src/main.rs") or "/src/bin/" in "/" + root


def _bin_name(root: str) -> str:
    import os

    if root.endswith("src/main.rs"):
        return os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(root))))
    return os.path.splitext(os.path.basename(root))[0]


def _manifest_dir(manifest: str, cwd: str) -> str:
    import os

    return os.path.dirname(manifest) if manifest else cwd


def _digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _run(binary: dict[str, Any], environ: Any) -> dict[str, object]:
    """One test binary in a session of its own: its exit code, its stdout (libtest's
    JSON events) and its log (one line per result, on a pipe of its own)."""
    import base64
    import os
    import subprocess

    entry: dict[str, object] = {
        k: binary[k] for k in ("path", "role", "kind", "root", "names") if binary.get(k)
    }
    entry["kind"] = binary["kind"]
    try:
        changed = _digest(binary["binary"]) != binary["sha"]
    except OSError:
        changed = True
    if changed:
        return {**entry, "rc": 0, "changed": True}
    out_read, out_write = os.pipe()
    log_read, log_write = os.pipe()
    env = {k: v for k, v in environ.items() if k in ("PATH", "LANG", "HOME")}
    env.update(RUSTC_BOOTSTRAP="1", RUST_BACKTRACE="0", CARGO_MANIFEST_DIR=binary["cwd"])
    argv = [
        binary["binary"], "-Z", "unstable-options", "--format", "json", "--report-time",
        "--logfile", f"/dev/fd/{log_write}",
    ]  # fmt: skip
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out_write, stderr=2, env=env,
            cwd=binary["cwd"], pass_fds=(log_write,), close_fds=True, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        for fd in (out_read, out_write, log_read, log_write):
            os.close(fd)
        return {**entry, "rc": 127, "why": str(exc)}
    os.close(out_write)
    os.close(log_write)
    streams, over = _drain(proc, [out_read, log_read])
    fresh = os.path.basename(binary["fresh"]).encode()
    real = os.path.basename(binary.get("path") or binary["fresh"]).encode()
    out, log = (s.replace(fresh, real) for s in streams)
    entry.update(rc=proc.returncode, over=over)
    entry["stdout"] = base64.b64encode(out).decode()
    entry["log"] = base64.b64encode(log).decode()
    return entry


def _drain(proc: Any, fds: list[int]) -> tuple[list[bytes], bool]:
    """What came on `fds` until they closed (or the process ended and lingered)."""
    import contextlib
    import os
    import select
    import signal
    import time

    data = {fd: bytearray() for fd in fds}
    open_fds, over = list(fds), False
    ended: float | None = None
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [], 0.2)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.remove(fd)
                continue
            over = over or len(data[fd]) + len(chunk) > _CAP
            if not over:
                data[fd].extend(chunk)
        if not ready and proc.poll() is not None:
            ended = ended or time.monotonic()
            if time.monotonic() - ended > _LINGER:
                break  # something it started still holds a pipe: what came is all
    for fd in fds:
        os.close(fd)
    proc.wait()
    with contextlib.suppress(OSError):  # what it left running goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    return [bytes(data[fd]) for fd in fds], over


def _remove(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)  # the tests folder the canary needed: empty again by now
        else:
            os.unlink(path)


def _send(channel: int, doc: dict[str, object]) -> None:
    _io.send(channel, {"toolchain": "rust", **doc})


if __name__ == "__main__":
    main()
