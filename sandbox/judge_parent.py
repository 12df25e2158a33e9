"""The judge: starts the judged pytest process and alone writes the report channel. A program.

Run in the sandbox as `python3 -s -P -c <this source> <child source> <disguise
maker source> <spec JSON> <pytest args...>` with fd 3 open onto the report
channel. It imports no workspace code. It makes itself non-dumpable (its
`/proc/<pid>/fd` is then closed to the sandbox user's other processes), moves
the channel off fd 3 to a descriptor nothing it starts inherits, checks the
test files on disk against the hashes of the pristine tests the host sent,
disguises them (`sandbox.disguise_make`: fresh names, canaries, mutants) and
writes them, and starts `sandbox.judge_child` with a pipe of its own, a fresh
nonce and the hashes of the disguised files, all sent on the child's stdin.
When the child is done it writes the pristine tests back. The mapping from
sandbox names to real ones stays in this process and goes home in its
document.

The child sends lines on that pipe: audit hits as they happen, then one
report. A line without the nonce, a second report, a report whose exit code
is not the child's, or more than the cap is a forgery. Then the judge writes
one JSON document on the channel and exits 0: the host takes a channel as
the judge's only when it holds that one document and the exec exited 0 (a
judge that was killed leaves a lost run, never a verdict).
"""

import sys
from typing import Any

_io: Any = None
"""`sandbox.judge_io`, made from its source (argv[1]) when the judge starts."""
_CAP = 24 << 20
_LINGER = 2.0


def main() -> None:
    import json
    import types

    global _io
    _io = types.ModuleType("greenloop_judge_io")
    exec(compile(sys.argv[1], "greenloop_judge_io", "exec"), _io.__dict__)
    channel = _io.take_channel()
    child_source, maker_source = sys.argv[2], sys.argv[3]
    spec, args = json.loads(sys.argv[4]), sys.argv[5:]
    pristine, why = _io.pristine(spec.get("tests") or {})
    if why:
        _io.send(channel, _document(1, lost=why))
        return
    focus = [str(f) for f in spec.get("focus") or ()]
    made = _disguise(maker_source, pristine, args, focus) if pristine else None
    try:
        doc = _judged(child_source, spec, args, made)
    finally:
        _io.write(pristine)
    if made is not None:
        doc["disguise"] = {k: made[k] for k in ("renamed", "mutants", "canaries", "relaxed")}
    _io.send(channel, doc)


def _judged(
    child_source: str, spec: dict[str, object], args: list[str], made: dict[str, object] | None
) -> dict[str, object]:
    """Run the child on the disguised tests; the document from what it sent."""
    import hashlib
    import json
    import os
    import threading

    files = made["files"] if made is not None else {}
    assert isinstance(files, dict)
    _io.write(files)
    hashes = {p: hashlib.sha256(t.encode()).hexdigest() for p, t in files.items()}
    nonce = os.urandom(16).hex()
    read_end, write_end = os.pipe()
    data = bytearray()
    over = [False]

    def drain() -> None:
        while True:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                return
            if len(data) + len(chunk) > _CAP:
                over[0] = True
                continue
            data.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    settings = {"nonce": nonce, "fd": write_end, "args": args, "watch": spec.get("watch", []),
                "hashes": hashes}  # fmt: skip
    try:
        pid = _spawn(child_source, write_end, json.dumps(settings).encode())
    except OSError as exc:
        return _document(127, lost=str(exc))
    finally:
        os.close(write_end)
    rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    reader.join(_LINGER)
    return _verdict(bytes(data), over[0], nonce, rc)


def _spawn(child_source: str, report_fd: int, settings: bytes) -> int:
    """Start the child with `report_fd` and its settings on stdin (posix_spawn: the
    subprocess module would cost the judge its import)."""
    import os

    stdin_r, stdin_w = os.pipe()
    os.set_inheritable(report_fd, True)
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-s", "-P", "-c", child_source],
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0)],
        )
    finally:
        os.close(stdin_r)
    try:
        view = memoryview(settings)
        while view:
            view = view[os.write(stdin_w, view) :]
    except OSError:
        pass
    finally:
        os.close(stdin_w)
    return pid


def _disguise(
    source: str, tests: dict[str, str], args: list[str], focus: list[str]
) -> dict[str, object]:
    """`sandbox.disguise_make` run here, seeded from the system's randomness."""
    import random
    import secrets
    import types

    module = types.ModuleType("greenloop_disguise_make")
    sys.modules[module.__name__] = module
    exec(compile(source, "greenloop_disguise_make", "exec"), module.__dict__)
    rng = random.Random(secrets.randbits(64))
    made: dict[str, object] = module.make_disguise(tests, args, rng, focus)
    return made


def _verdict(data: bytes, over: bool, nonce: str, rc: int) -> dict[str, object]:
    """The judge's document from what came on the child's pipe."""
    import json

    doc = _document(rc)
    hits: list[str] = []
    reports = []
    if over:
        doc["forged"] = "the judged process's pipe held more than any report"
        return doc
    for line in data.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict) or item.get("nonce") != nonce:
            doc["forged"] = "a line on the judged process's pipe did not come from its judge"
            return doc
        if item.get("kind") == "hit":
            hits.append(str(item.get("why", "")))
        elif item.get("kind") == "report":
            reports.append(item)
    doc["hits"] = hits
    if len(reports) > 1:
        doc["forged"] = f"the judged process sent {len(reports)} reports"
    elif not reports:
        how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        doc["lost"] = f"the test process ended before pytest returned ({how})"
    elif reports[0].get("rc") != rc:
        doc["forged"] = f"pytest returned {reports[0].get('rc')} but its process exited with {rc}"
    else:
        doc["junit"] = reports[0].get("junit")
    return doc


def _document(rc: int, lost: str = "") -> dict[str, object]:
    """The judge's document with nothing judged yet (`lost`: why nothing will be)."""
    return {"rc": rc, "junit": None, "hits": [], "forged": "", "lost": lost}


if __name__ == "__main__":
    main()
