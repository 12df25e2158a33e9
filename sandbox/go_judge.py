"""The judge of a Go test run: disguises the tests, compiles every package's test binary
before any of them runs, runs each under `go tool test2json`, and alone writes the report
channel. A program.

Run in the sandbox as `python3 -S -P -c <this source> <sandbox.judge_io's source> <spec
JSON>` with fd 3 open onto the report channel. It imports no workspace code. It makes
itself non-dumpable, moves the channel off fd 3 to a descriptor nothing it starts
inherits, and checks the test files on disk against the hashes of the pristine tests
the host sent. The spec also holds, for each package, where its tests are in each file
and the edits of their mutants (`sandbox.toolchains.go_inventory.plan`, read on the
host with tree-sitter): nothing in it is secret, the model has seen the tests. Then:

- in each package, each test the package's test files name once (its declaration) gets
  a fresh name (`TestSplitsLastItemTwice`), up to four get a **mutant** copy under
  another (its assertions turned around: where the test passes, its copy must fail),
  and a **canary**, a test that must fail, is written as a real test would be. The
  copies go at the end of the files, so the real tests keep their lines. The names
  are chosen here, from a random source of this run, and never leave the judge but on
  the channel;
- every package's test binary is compiled (`go test -c`, GOFLAGS pinned: `-mod=vendor`
  when vendor/ exists, else `-mod=readonly`; GOTOOLCHAIN=local, GOPROXY=off, GOWORK=off,
  GOENV=off, CGO_ENABLED=0), then the pristine tests are written back: no code under
  test has run yet, so none could touch a test file, the build cache or a compiler's
  input. Each binary is read into a sealed memfd and run from it, so what one package's
  code does on disk cannot change another's binary;
- each binary runs in its package's folder as `-test.v=test2json -test.paniconexit0`,
  its stdout and stderr on a pipe read by the toolchain's `test2json`, whose events come
  to the judge on a pipe of its own. What a binary left running is killed with it.
- the build cache is a fresh folder per run whose entries are links into the image's
  warm one (/opt/greenloop-gocache): nothing a run compiles is seen by the next.

The document it sends home holds each package's build, its binary's exit code, its
test2json events and its names (fresh name -> role, file, real name); the host
(`sandbox.toolchains.go`) judges them.
"""

import sys
from typing import Any

_io: Any = None
"""`sandbox.judge_io`, made from its source (argv[1]) when the judge starts."""
_CAP = 8 << 20
_BUILD_CAP = 64 << 10
_LINGER = 2.0
_MARGIN = 3.0
_MUTANTS = 4
_SEED = "/opt/greenloop-gocache"
_VERBS = ("Parses", "Rejects", "Keeps", "Counts", "Splits", "Merges", "Formats", "Returns",
          "Handles", "Sorts", "Loads", "Rounds", "Checks", "Builds", "Reads", "Stores",
          "Accepts", "Finds", "Joins", "Maps", "Matches", "Converts")  # fmt: skip
_NOUNS = ("EmptyInput", "Unicode", "LargeValues", "Order", "Duplicates", "Negative",
          "Whitespace", "Zero", "NestedItems", "MissingKey", "Limits", "OneItem", "Case",
          "Defaults", "Padding", "Overflow", "Prefix", "Suffix", "Total", "Range",
          "FirstItem", "LastItem", "MixedInput", "SingleValue")  # fmt: skip
_TAILS = ("", "Twice", "Again", "InOrder", "AtEnd", "Early", "Late", "Quietly", "Alone")


def main() -> None:
    import json
    import os
    import shutil
    import tempfile
    import time
    import types

    global _io
    _io = types.ModuleType("greenloop_judge_io")
    exec(compile(sys.argv[1], "greenloop_judge_io", "exec"), _io.__dict__)
    channel = _io.take_channel()
    spec = json.loads(sys.argv[2])
    deadline = time.monotonic() + float(spec.get("timeout") or 120) - _MARGIN
    pristine, why = _io.pristine(spec.get("tests") or {})
    packages = spec.get("packages") or []
    if why or not pristine or not packages:
        _send(channel, {"packages": [], "lost": why or "there is no Go test file to run"})
        return
    if not os.path.isfile("go.mod"):
        _send(channel, {"packages": [], "lost": "there is no go.mod at the workspace's root"})
        return
    strays = _strays(packages, pristine)
    work = tempfile.mkdtemp(prefix="greenloop-go-")
    try:
        env = _go_env(work)
        names = {}
        try:
            for package in packages:
                files, names[package["dir"]] = _disguise(package, pristine)
                _io.write(files)
            built = {p["dir"]: _build(p["dir"], work, env, deadline) for p in packages}
        finally:
            _io.write(pristine)
        images = {d: _image(d, b["binary"]) for d, b in built.items() if b.get("binary")}
        flags = [str(f) for f in spec.get("flags") or ()]
        tool = _test2json(env)
        out = []
        for package in packages:
            folder = package["dir"]
            entry = {"dir": folder, "names": names[folder], "build": built[folder]}
            built[folder].pop("binary", None)
            if folder in images:
                entry.update(_run(folder, images[folder], tool, flags, deadline))
            out.append(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    changed = sorted(p for p in pristine if _changed(p, pristine[p]))
    _send(channel, {"packages": out, "strays": strays, "changed": changed, "lost": ""})


def _changed(path: str, text: str) -> bool:
    try:
        return bool(_io.read(path) != text)
    except (OSError, UnicodeDecodeError):
        return True


def _strays(packages: list[dict[str, Any]], pristine: dict[str, str]) -> list[str]:
    """Test files in the packages' folders that the judge was not given."""
    import os

    found = []
    for package in packages:
        folder = package["dir"]
        for name in sorted(os.listdir(folder) if os.path.isdir(folder) else ()):
            path = name if folder == "." else f"{folder}/{name}"
            if name.endswith("_test.go") and path not in pristine:
                found.append(path)
    return found


def _namer(rng: Any, taken: set[str]) -> Any:
    def fresh() -> str:
        while True:
            name = "Test" + str(rng.choice(_VERBS) + rng.choice(_NOUNS) + rng.choice(_TAILS))
            if name not in taken:
                taken.add(name)
                return name

    return fresh


def _disguise(
    package: dict[str, Any], pristine: dict[str, str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The package's test files as the run gets them, and its names: fresh name -> [role
    ("test", "mutant" or "canary"), real file, real name]."""
    import random
    import secrets

    rng = random.Random(secrets.randbits(64))
    plans: dict[str, dict[str, Any]] = package["files"]
    renamable = set(package.get("renamable") or ())
    fresh = _namer(rng, {t["name"] for p in plans.values() for t in p["tests"]})
    names: dict[str, list[str]] = {}
    texts = {path: pristine[path].encode() for path in plans}
    tails: dict[str, list[bytes]] = {path: [] for path in plans}
    copies = [(path, t) for path, p in sorted(plans.items()) for t in p["tests"] if t["flips"]]
    mutated = rng.sample(copies, min(_MUTANTS, len(copies)))
    for path, test in mutated:
        name = fresh()
        tails[path].append(_mutant(texts[path], test, name))
        names[name] = ["mutant", path, test["name"]]
    for path, plan in sorted(plans.items()):
        edits = []
        for test in plan["tests"]:
            name = fresh() if test["name"] in renamable else test["name"]
            edits.append((test["at"], name.encode()))
            names[name] = ["test", path, test["name"]]
        texts[path] = _apply(texts[path], edits)
    hosts = sorted(p for p, plan in plans.items() if plan.get("alias"))
    if hosts:
        path = rng.choice(hosts)
        name = fresh()
        tails[path].append(_canary(rng, name, plans[path]["alias"]))
        names[name] = ["canary", path, ""]
    files = {}
    for path, text in texts.items():
        extra = b"".join(b"\n" + tail + b"\n" for tail in rng.sample(tails[path], len(tails[path])))
        files[path] = text + (b"\n" if extra and not text.endswith(b"\n") else b"") + extra
    return {p: t.decode() for p, t in files.items()}, names


def _apply(text: bytes, edits: list[tuple[list[int], bytes]]) -> bytes:
    """`text` with each [start, end) replaced, the last first (offsets stay true)."""
    for (start, end), new in sorted(edits, key=lambda e: e[0][0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _mutant(text: bytes, test: dict[str, Any], name: str) -> bytes:
    """A copy of `test` named `name`, its flips applied."""
    start, end = test["span"]
    edits = [([a - start, b - start], new.encode()) for a, b, new in test["flips"]]
    at = test["at"]
    edits.append(([at[0] - start, at[1] - start], name.encode()))
    return _apply(text[start:end], edits)


def _canary(rng: Any, name: str, alias: str) -> bytes:
    """A test that must fail, in one of the shapes a real one has."""
    a, b = rng.randrange(2, 999), rng.randrange(2, 999)
    wrong = a + b + rng.randrange(1, 9)
    word = rng.choice(_NOUNS).lower()
    shapes = (
        f'\tgot := {a} + {b}\n\tif got != {wrong} {{\n\t\tt.Errorf("got %d, want %d", got, '
        f"{wrong})\n\t}}\n",
        f'\tgot := len("{word}")\n\tif want := {len(word) + 1}; got != want {{\n'
        '\t\tt.Fatalf("len = %d, want %d", got, want)\n\t}\n',
        f"\tcases := []struct{{ in, want int }}{{{{{a}, {a * 2}}}, {{{b}, {b * 2 + 1}}}}}\n"
        "\tfor _, c := range cases {\n\t\tif got := c.in * 2; got != c.want {\n"
        '\t\t\tt.Errorf("double(%d) = %d, want %d", c.in, got, c.want)\n\t\t}\n\t}\n',
    )
    return f"func {name}(t *{alias}.T) {{\n{rng.choice(shapes)}}}".encode()


def _go_env(work: str) -> dict[str, str]:
    """The go command's environment: pinned, nothing from the workspace."""
    import os

    cache = os.path.join(work, "cache")
    _farm(cache)
    mod = "-mod=vendor" if os.path.isdir("vendor") else "-mod=readonly"
    return {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME") or "/tmp",
        "LANG": "C.UTF-8",
        "GOCACHE": cache,
        "GOTMPDIR": work,
        "GOPATH": os.path.join(work, "gopath"),
        "GOFLAGS": f"{mod} -buildvcs=false",
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GONOSUMDB": "",
        "GONOSUMCHECK": "",
        "GOPRIVATE": "",
        "GOWORK": "off",
        "GOENV": "off",
        "GO111MODULE": "on",
        "CGO_ENABLED": "0",
        "GOTELEMETRY": "off",
    }


def _test2json(env: dict[str, str]) -> str:
    import os
    import subprocess

    found = subprocess.run(["go", "env", "GOTOOLDIR"], capture_output=True, text=True,
                           env=env, check=False).stdout.strip()  # fmt: skip
    return os.path.join(found, "test2json")


def _farm(cache: str) -> None:
    """A fresh build cache whose entries are links into the image's warm one."""
    import os
    import time

    os.mkdir(cache)
    if os.path.isdir(_SEED):
        for entry in os.scandir(_SEED):
            if entry.is_dir(follow_symlinks=False):
                folder = os.path.join(cache, entry.name)
                os.mkdir(folder)
                for item in os.scandir(entry.path):
                    os.symlink(item.path, os.path.join(folder, item.name))
            elif entry.name != "trim.txt":
                os.symlink(entry.path, os.path.join(cache, entry.name))
    with open(os.path.join(cache, "trim.txt"), "w") as handle:  # trimmed now: not this run
        handle.write(f"{int(time.time())}\n")


def _build(folder: str, work: str, env: dict[str, str], deadline: float) -> dict[str, Any]:
    """`go test -c` of one package: the binary's path, or the go command's words."""
    import os
    import subprocess
    import time

    binary = os.path.join(work, f"{len(os.listdir(work))}.test")
    target = "." if folder == "." else f"./{folder}"
    argv = ["go", "test", "-c", "-o", binary, target]
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
            timeout=max(1.0, deadline - time.monotonic()),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"rc": -9, "output": "the build ran out of time"}
    output = (proc.stdout + proc.stderr)[:_BUILD_CAP].decode("utf-8", "replace")
    if proc.returncode != 0 or not os.path.isfile(binary):
        return {"rc": proc.returncode or 1, "output": output or "go test -c wrote no binary"}
    return {"rc": 0, "output": output, "binary": binary}


def _image(folder: str, path: str) -> int:
    """The binary at `path` as a sealed memfd (the file removed): nothing can change it."""
    import fcntl
    import os

    try:
        fd = os.memfd_create(
            f"{folder.replace('/', '_')}.test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
        )
    except (AttributeError, OSError):
        return -1
    with open(path, "rb") as handle:
        data = handle.read()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    os.unlink(path)
    return fd


def _run(folder: str, image: int, tool: str, flags: list[str], deadline: float) -> dict[str, Any]:
    """One package's binary under test2json: its exit code and test2json's events."""
    import base64
    import contextlib
    import os
    import select
    import signal
    import subprocess
    import time

    if image < 0:
        return {"rc": 127, "events": "", "why": "the binary could not be loaded"}
    seconds = max(1, int(deadline - time.monotonic()))
    argv = [f"/proc/self/fd/{image}", "-test.v=test2json", "-test.paniconexit0",
            f"-test.timeout={seconds}s", *flags]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME") or "/tmp",
           "LANG": "C.UTF-8", "TMPDIR": "/tmp"}  # fmt: skip
    raw_r, raw_w = os.pipe()
    events_r, events_w = os.pipe()
    converter = subprocess.Popen(
        [tool, "-p", folder], stdin=raw_r, stdout=events_w, stderr=2, close_fds=True,
        start_new_session=True,
    )  # fmt: skip
    os.close(raw_r)
    os.close(events_w)
    try:
        proc = subprocess.Popen(
            argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=raw_w, stderr=raw_w, env=env,
            pass_fds=(image,), close_fds=True, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        os.close(raw_w)
        os.close(events_r)
        converter.kill()
        return {"rc": 127, "events": "", "why": str(exc)}
    os.close(raw_w)
    os.close(image)
    data, over, killed = bytearray(), False, False
    ended: float | None = None
    while True:
        ready, _, _ = select.select([events_r], [], [], 0.2)
        if ready:
            chunk = os.read(events_r, 1 << 16)
            if not chunk:
                break
            over = over or len(data) + len(chunk) > _CAP
            if not over:
                data.extend(chunk)
            continue
        if proc.poll() is None and time.monotonic() > deadline:
            killed = True
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is not None:
            ended = ended or time.monotonic()
            with contextlib.suppress(OSError):  # what it left running goes with it
                os.killpg(proc.pid, signal.SIGKILL)
            if time.monotonic() - ended > _LINGER:
                break  # something still holds the pipe: what came is all
    os.close(events_r)
    rc = proc.wait()
    converter.kill()
    converter.wait()
    events = "" if over else base64.b64encode(bytes(data)).decode()
    return {"rc": rc, "events": events, "over": over, "killed": killed}


def _send(channel: int, doc: dict[str, object]) -> None:
    _io.send(channel, {"toolchain": "go", **doc})


if __name__ == "__main__":
    main()
