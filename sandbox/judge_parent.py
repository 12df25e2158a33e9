"""The judge: starts the judged pytest process and alone writes the report channel. A program.

Run in the sandbox as `python3 -s -P -c <this source> <child source> <spec JSON>
<pytest args...>` with fd 3 open onto the report channel. It imports no
workspace code. It makes itself non-dumpable (its `/proc/<pid>/fd` is then
closed to the sandbox user's other processes), moves the channel off fd 3 to
a descriptor nothing it starts inherits, and starts `sandbox.judge_child`
with a pipe of its own and a fresh nonce, both sent on the child's stdin.

The child sends lines on that pipe: audit hits as they happen, then one
report. A line without the nonce, a second report, a report whose exit code
is not the child's, or more than the cap is a forgery. Then the judge writes
one JSON document on the channel and exits 0: the host takes a channel as
the judge's only when it holds that one document and the exec exited 0 (a
judge that was killed leaves a lost run, never a verdict).
"""

import sys

_CAP = 24 << 20
_LINGER = 2.0


def main() -> None:
    import json
    import os
    import secrets
    import subprocess
    import threading

    _undumpable()
    channel = os.dup(3)
    os.close(3)
    child_source, spec, args = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
    nonce = secrets.token_hex(16)
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
    try:
        child = subprocess.Popen(
            [sys.executable, "-s", "-P", "-c", child_source],
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
        )
    except OSError as exc:
        _send(channel, {"rc": 127, "junit": None, "hits": [], "forged": "", "lost": str(exc)})
        return
    os.close(write_end)
    settings = {"nonce": nonce, "fd": write_end, "args": args, "watch": spec.get("watch", [])}
    assert child.stdin is not None
    try:
        child.stdin.write(json.dumps(settings).encode())
        child.stdin.close()
    except OSError:
        pass
    rc = child.wait()
    reader.join(_LINGER)
    _send(channel, _verdict(bytes(data), over[0], nonce, rc))


def _verdict(data: bytes, over: bool, nonce: str, rc: int) -> dict[str, object]:
    """The judge's document from what came on the child's pipe."""
    import json

    doc: dict[str, object] = {"rc": rc, "junit": None, "hits": [], "forged": "", "lost": ""}
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


def _send(channel: int, doc: dict[str, object]) -> None:
    import json
    import os

    data = json.dumps({"judge": 1, **doc}).encode()
    while data:
        data = data[os.write(channel, data) :]
    os.close(channel)


def _undumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<pid>/fd, mem and environ become root's."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    main()
