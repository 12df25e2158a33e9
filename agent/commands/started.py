"""What a start gives back, and the steps `new` and `fix` share: hold the place, see
what an earlier killed run left, save the inputs, make the model (replaying the
killed run's cassette on a resume).

    with start("new", run, inputs, choice, warn, resumed, prints) as started:
        result = run_new(prepared.named(started.chat.name), started.chat, ...)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from agent.commands.model import model_config
from agent.errors import UsageError
from agent.model import ChatModel, ResumingModel, make_model
from agent.model.cassette import RecordingModel
from agent.run.events import Resumed
from agent.run.record import RunDir, new_run_id
from agent.run.resume import (
    Command,
    RunInputs,
    hold_place,
    resumable,
    save_inputs,
    set_aside,
    unfinished_runs,
)

__all__ = ["ModelChoice", "Started", "digest", "resumed_options", "start"]

Warn = Callable[[str], object]
Options = TypeVar("Options", bound=BaseModel)


def digest(value: object) -> str:
    """A short stable digest of text, bytes or JSON-able data (an input's fingerprint)."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def resumed_options(
    command: Command, opts: Options, resume: Path | None
) -> tuple[Options, RunInputs | None, str]:
    """The options to run with, the killed run's inputs and the run id: for a new run,
    `opts`, none and a fresh id; with `resume` (a killed run's folder), that run's own
    options (the `model` and `base_url` given now win), its inputs and its id."""
    if resume is None:
        return opts, None, new_run_id()
    resumed, run = resumable(resume, command)
    chosen = {k: v for k in ("model", "base_url") if (v := getattr(opts, k))}
    return type(opts).model_validate({**resumed.options, **chosen}), resumed, run.run_id


@dataclass(frozen=True)
class ModelChoice:
    """The model options of a command (`--model`, `--base-url`, `--replay`)."""

    model: str | None = None
    base_url: str | None = None
    replay: Path | None = None


@dataclass(frozen=True)
class Started:
    """A run ready to go: its model (recording; replaying first on a resume)."""

    chat: ChatModel
    endpoint: str
    """Where its requests go, said to the user."""
    resuming: ResumingModel | None
    """On a resume: the killed run's calls it answers (`replayed`) and the live ones."""


@contextmanager
def start(
    command: Command,
    run: RunDir,
    inputs: RunInputs,
    choice: ModelChoice,
    warn: Warn,
    resumed: RunInputs | None,
    prints: Callable[[], Mapping[str, str]],
) -> Iterator[Started]:
    """Hold the run's place for the whole run, then: take the inputs' fingerprints
    (`prints`), refuse a resume whose inputs changed, name the killed runs left here
    (not on a resume), make the model, set the killed run's record aside, save this
    run's inputs."""
    record = None if choice.replay else run.cassette_path.resolve()
    config, endpoint = model_config(choice.model, choice.base_url, warn=warn,
                                    replay=choice.replay)  # fmt: skip
    live = make_model(config)  # a bad setting is refused before anything is written
    with hold_place(Path(inputs.place), f"greenloop {command}, run {run.run_id}"):
        inputs = dataclasses.replace(inputs, fingerprints=dict(prints()))
        if resumed is not None:
            _refuse_changes(resumed, inputs.fingerprints, run)
        else:
            for folder in unfinished_runs(Path(inputs.place), command):
                warn(
                    f"run {folder.name} here was stopped before it finished: to continue it "
                    f"instead, greenloop {command} --resume {folder}"
                )
        earlier = set_aside(run) if resumed is not None else None
        resuming = None
        chat = live
        if earlier is not None and earlier.cassette is not None:
            chat = resuming = ResumingModel(live, earlier.cassette)
        if record is not None:
            chat = RecordingModel(chat, record)
        save_inputs(run, inputs)
        if earlier is not None:
            kept = earlier.trajectory.name if earlier.trajectory else ""
            calls = resuming.recorded if resuming else 0
            run.append(Resumed(earlier=kept, recorded_calls=calls))
        yield Started(chat, endpoint, resuming)


def _refuse_changes(resumed: RunInputs, now: Mapping[str, str], run: RunDir) -> None:
    changed = resumed.changed(now)
    if changed:
        raise UsageError(
            f"run {run.run_id} cannot resume: {', '.join(changed)} changed since it started",
            fix="undo the change, or start a new run",
        )
