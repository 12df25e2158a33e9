"""What a judge program does with files and its channel: the pristine tests checked
against their hashes, files read and written never through a link, the judge made
non-dumpable, its one document sent. Sent into the sandbox as source beside a judge
(`sandbox.judge_parent`, `sandbox.node_judge`), which runs it as a module of its own:
a judge imports nothing from the workspace, nor from greenloop."""


def pristine(hashes: dict[str, str]) -> tuple[dict[str, str], str]:
    """The test files on disk, checked against the hashes of the pristine tests."""
    import hashlib

    files: dict[str, str] = {}
    for path, digest in hashes.items():
        try:
            text = read(path)
        except (OSError, UnicodeDecodeError) as exc:
            return {}, f"the test file {path} cannot be read ({exc}): write the tests again"
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            return {}, f"the test file {path} on disk is not the pristine one: write it again"
        files[path] = text
    return files, ""


def read(path: str) -> str:
    import os

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8")


def write(files: dict[str, str]) -> None:
    """Write files in place, never through a link (a test file replaced by one is refused)."""
    import os

    for path, text in files.items():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode())


def send(channel: int, doc: dict[str, object]) -> None:
    """The judge's one document on the channel, which is closed after it."""
    import json
    import os

    data = json.dumps({"judge": 1, **doc}).encode()
    while data:
        data = data[os.write(channel, data) :]
    os.close(channel)


def take_channel() -> int:
    """The judge made non-dumpable, then its report channel (fd 3, as `host.run_report`
    hands it over) moved to a descriptor of its own: what the judge runs inherits no fd 3."""
    import os

    undumpable()
    channel = os.dup(3)
    os.close(3)
    return channel


def undumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<pid>/fd, mem and environ become root's."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
