"""The model settings of a command, and where its requests go.

config, endpoint = model_config("gpt-4o-mini", None, warn=print)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agent.model import ModelConfig
from agent.model.cassette import check_cassette
from agent.model.config import (
    endpoint_line,
    load_user_file,
    repo_model_keys,
    setting_origin,
    user_config_path,
)

__all__ = ["model_config"]


def model_config(
    model: str | None,
    base_url: str | None,
    *,
    warn: Callable[[str], object],
    replay: Path | None = None,
    record: Path | None = None,
) -> tuple[ModelConfig, str]:
    """Model settings and where requests go: CLI > env > the user's config file > defaults.

    Never the folder's own `greenloop.toml`: a cloned repository could name a
    server there and receive the user's API key (`warn` is told, with the fix).
    """
    ignored = repo_model_keys(Path.cwd())
    if ignored:
        warn(
            f"ignoring [model] {', '.join(ignored)} in ./greenloop.toml: a folder's own file "
            "may not choose the model or its endpoint; put your settings in "
            f"{user_config_path(os.environ)} or pass --base-url"
        )
    file, path = load_user_file(os.environ)
    cli = {"model": model, "base_url": base_url, "replay": replay, "record": record}
    config = ModelConfig.resolve(cli, os.environ, file)
    if config.replay is not None:
        check_cassette(config.replay)  # before anything else is read or written
    return config, endpoint_line(config, setting_origin("base_url", cli, os.environ, path))
