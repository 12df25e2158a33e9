"""A killed `new` or `fix` run, continued: what it was asked, whether it may go on, and
one run at a time in each place.

    inputs = RunInputs("new", place, options, fingerprints)
    with hold_place(place, f"greenloop new, run {run.run_id}"):
        save_inputs(run, inputs)                      # before its first model call
        ...
    earlier = resumable(run_folder, "new")            # later: refused when finished
    changed = earlier.changed(fingerprints_now)       # refused when not empty
    old_cassette = set_aside(run)                     # then replay it, then go on live

`inputs.json` in the run folder holds the command, its place (the out folder or the
repository), the options it was given and a digest of each input (the spec, the
tests, the repository's HEAD...). A run is finished once its `result.json` says
anything but "interrupted" (which it says from the start until the end). Resuming
sets the killed run's trajectory and cassette aside (`*.killed-N.jsonl`), and the
run starts again in the same folder under the same id: the model calls the old
cassette holds are answered from it (`agent.model.cassette.ResumingModel`), the
sandbox and the branch are made again from the inputs, never from what is on disk.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.atomic import write_json
from agent.errors import UsageError
from agent.run.record import RUNS_DIR, RunDir, check_records_home, read_result

__all__ = [
    "INPUTS_FILE",
    "Command",
    "PlaceBusy",
    "RunInputs",
    "SetAside",
    "hold_place",
    "resumable",
    "save_inputs",
    "set_aside",
    "unfinished_runs",
]

INPUTS_FILE = "inputs.json"
LOCK_FILE = "lock"
_FORMAT = 1
_MAX_INPUTS_BYTES = 1024 * 1024
Command = Literal["new", "fix"]


class PlaceBusy(UsageError):
    """Another greenloop run is writing this out folder or repository."""


@dataclass(frozen=True)
class RunInputs:
    """What a run was asked: enough to start it again, and to see what changed since."""

    command: Command
    place: str
    """The out folder (`new`) or the repository (`fix`), absolute."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The command's options as given (JSON values; no secret: keys come from the env)."""
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    """A digest of each input by name: "spec", "tests", "HEAD", ..."""

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "command": self.command, "place": self.place,
                "options": dict(self.options), "fingerprints": dict(self.fingerprints)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInputs:
        command = data.get("command")
        if command not in ("new", "fix") or not isinstance(data.get("place"), str):
            raise ValueError("not the inputs of a new or fix run")
        options, prints = data.get("options", {}), data.get("fingerprints", {})
        if not isinstance(options, dict) or not isinstance(prints, dict):
            raise ValueError("options and fingerprints must be objects")
        return cls(command, data["place"], options, {str(k): str(v) for k, v in prints.items()})

    def changed(self, now: Mapping[str, str]) -> list[str]:
        """The inputs whose digest differs now (or that appeared or went), by name."""
        names = sorted(set(self.fingerprints) | set(now))
        return [n for n in names if self.fingerprints.get(n) != now.get(n)]


def save_inputs(run: RunDir, inputs: RunInputs) -> None:
    """Write the run's `inputs.json` (before its first model call)."""
    run.ensure()
    write_json(run.path / INPUTS_FILE, inputs.to_json())


def resumable(folder: Path, command: Command) -> tuple[RunInputs, RunDir]:
    """The inputs and record of the killed run in `folder`; a UsageError saying why not
    when it is no such run, another command's, or finished (with its result)."""
    folder = Path(folder).absolute()
    if folder.parent.name != RUNS_DIR.name or folder.parent.parent.name != RUNS_DIR.parent.name:
        raise UsageError(
            f"{folder} is not a run folder",
            fix="give the folder the killed run named: <place>/.greenloop/runs/<run id>",
        )
    root = folder.parents[2]
    check_records_home(root)
    if folder.is_symlink() or not folder.is_dir():
        raise UsageError(f"no run folder at {folder}", fix="give the killed run's folder")
    inputs = _read_inputs(folder)
    if inputs.command != command:
        raise UsageError(
            f"{folder} is a greenloop {inputs.command} run",
            fix=f"resume it with greenloop {inputs.command} --resume {folder}",
        )
    result = read_result(folder)
    if result is not None and result.get("exit_reason") != "interrupted":
        commit = result.get("commit")
        raise UsageError(
            f"run {folder.name} is finished: {result.get('status')} "
            f"({result.get('exit_reason')})" + (f", commit {str(commit)[:12]}" if commit else ""),
            fix="nothing to resume; start a new run to try again",
        )
    return inputs, RunDir(root, folder.name)


def _read_inputs(folder: Path) -> RunInputs:
    path = folder / INPUTS_FILE
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_INPUTS_BYTES:
            raise ValueError("a link or too large")
        return RunInputs.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UsageError(
            f"{folder} has no {INPUTS_FILE}: it was not started by a greenloop that can resume",
            fix="start the run again",
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}", fix="start the run again") from None


@dataclass(frozen=True)
class SetAside:
    """Where a killed run's record went (None: it had none of that file)."""

    trajectory: Path | None
    cassette: Path | None


def set_aside(run: RunDir) -> SetAside:
    """Rename the killed run's trajectory and cassette to `*.killed-N.jsonl`."""
    number = 1
    while any((run.path / f"{stem}.killed-{number}.jsonl").exists()
              for stem in ("trajectory", "cassette")):  # fmt: skip
        number += 1
    moved: list[Path | None] = []
    for current in (run.trajectory_path, run.cassette_path):
        target = None
        if current.is_file() and not current.is_symlink():
            target = current.with_name(f"{current.stem}.killed-{number}.jsonl")
            current.rename(target)
        moved.append(target)
    return SetAside(*moved)


def unfinished_runs(root: Path, command: Command) -> list[Path]:
    """The run folders under `root` of killed `command` runs that can be resumed (call it
    while holding the place: no live run is writing there then)."""
    runs = Path(root) / RUNS_DIR
    if runs.is_symlink() or not runs.is_dir():
        return []
    found = []
    for folder in sorted(runs.iterdir()):
        try:
            resumable(folder, command)
        except UsageError:
            continue
        found.append(folder)
    return found


@contextmanager
def hold_place(root: Path, holder: str) -> Iterator[None]:
    """Hold `<root>/.greenloop/lock` for one run; PlaceBusy naming the run that holds it."""
    root = Path(root)
    check_records_home(root)
    home = root / RUNS_DIR.parent
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another run"
            raise PlaceBusy(
                f"{root} is being written by {other}",
                fix="wait for that run to end (or stop it), then try again",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (process {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
