"""Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio).

The `openai` client is built with `max_retries=0`: retries happen here, where
they honour Retry-After, share the run's one concurrency limit and can be
tested. Errors leave as `ModelError` subclasses whose messages name the fix.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Unpack

import openai
from openai.types.chat import ChatCompletion

from agent.errors import (
    ConfigError,
    ContextTooLong,
    ModelAuthError,
    ModelError,
    ModelNotFound,
    ModelUnavailable,
)
from agent.model.base import Completion, CompletionOpts, Message, estimate_tokens
from agent.model.config import ModelConfig
from agent.model.prices import PriceTable

__all__ = ["OpenAIChat"]

log = logging.getLogger(__name__)

# Endpoints that need no key still want one in the header.
_PLACEHOLDER_KEY = "not-needed"
_RETRY_STATUSES = frozenset({408, 409, 429})
_CONTEXT_HINTS = (
    "context length",
    "context window",
    "context_length",
    "too many tokens",
    "maximum context",
    "exceed",
)

# What a server's refusal of `response_format` says (OpenAI, vLLM, llama.cpp, Ollama, ...).
_SCHEMA_HINTS = ("response_format", "json_schema", "schema", "grammar", "guided", "structured")


class _Retryable(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OpenAIChat:
    """A `ChatModel` over the openai client. One instance per run: it holds the run's
    concurrency limit, so every thread of the run shares it."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.model:
            raise ConfigError("no model named", fix="set --model or GREENLOOP_MODEL")
        self.name: str = config.model
        self.config = config
        self._prices = prices or PriceTable()
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._schema_forms: list[str] = _schema_forms(config.json_schema)
        """The `response_format` types still to try for a schema, best first."""
        self._schema_known = False
        self._schema_lock = threading.Lock()
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or _PLACEHOLDER_KEY,
            timeout=config.timeout,
            max_retries=0,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def complete(self, messages: Sequence[Message], **opts: Unpack[CompletionOpts]) -> Completion:
        """One completion; retried on 429/5xx/connection errors, within the shared limit."""
        with self._slots:
            start = time.monotonic()
            response = self._with_retries(messages, opts)
            return self._completion(response, time.monotonic() - start)

    def list_models(self) -> list[str]:
        """The model ids the endpoint serves (raises a ModelError when it cannot say)."""
        try:
            return [m.id for m in self._client.models.list().data]
        except openai.APIError as e:
            raise ModelError(f"{self.base_url} did not list its models: {e}") from e

    def close(self) -> None:
        self._client.close()

    # --- internals -------------------------------------------------------------------

    def _with_retries(self, messages: Sequence[Message], opts: CompletionOpts) -> ChatCompletion:
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(messages, opts)
            except _Retryable as e:
                if attempt + 1 == attempts:
                    raise ModelUnavailable(
                        f"{self.base_url} did not answer after {attempts} attempt(s); last: {e}",
                        fix="check the server is up (greenloop doctor), "
                        "or raise the timeout / max retries",
                    ) from e
                delay = self._delay(attempt, e.retry_after)
                log.warning(
                    "model call failed (%s); retry %d/%d in %.2fs",
                    e,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.config.backoff_max)
        backoff = self.config.backoff * (2**attempt)
        return float(min(backoff * random.uniform(0.75, 1.0), self.config.backoff_max))

    @property
    def schema_format(self) -> str | None:
        """How a schema is sent: "json_schema", "json_object" (with a `schema`, as
        llama-cpp-python's server takes it) or None (not at all: parsed unconstrained)."""
        return self._schema_forms[0] if self._schema_forms else None

    @property
    def schema_known(self) -> bool:
        """True once the endpoint has answered a request that carried a schema."""
        return self._schema_known

    def _attempt(self, messages: Sequence[Message], opts: CompletionOpts) -> ChatCompletion:
        request = self._request_opts(opts)
        try:
            response = self._client.chat.completions.create(
                model=self.name,
                messages=[m.to_dict() for m in messages],  # type: ignore[misc]
                **request,
            )
        except openai.APITimeoutError as e:
            raise _Retryable(f"timed out after {self.config.timeout:g}s") from e
        except openai.APIConnectionError as e:
            raise _Retryable(f"connection failed: {e.__cause__ or e}") from e
        except openai.APIStatusError as e:
            if "response_format" in request and _refuses_schema(e):
                self._schema_refused(e, request["response_format"]["type"])
                return self._attempt(messages, opts)
            raise self._status_error(e, messages) from e
        except (json.JSONDecodeError, openai.APIResponseValidationError) as e:
            raise _Retryable(f"malformed response: {e}") from e
        self._schema_known = self._schema_known or "response_format" in request
        return response

    def _request_opts(self, opts: CompletionOpts) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {"temperature": opts.get("temperature", cfg.temperature)}
        max_tokens = opts.get("max_tokens", cfg.max_tokens)
        if max_tokens is not None:
            out["max_tokens"] = max_tokens
        seed = opts.get("seed", cfg.seed)
        if seed is not None:
            out["seed"] = seed
        if opts.get("stop"):
            out["stop"] = list(opts["stop"])
        extra: dict[str, Any] = dict(cfg.extra_body or {})
        if cfg.guided_code and opts.get("code"):
            extra["greenloop_code"] = opts["code"]
        if extra:
            out["extra_body"] = extra
        schema = opts.get("json_schema")
        form = self.schema_format
        if schema and form == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "reply"))
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": True},
            }
        elif schema and form == "json_object":
            out["response_format"] = {"type": "json_object", "schema": dict(schema)}
        return out

    def _schema_refused(self, e: openai.APIStatusError, form: str) -> None:
        """The endpoint will not take the schema this way: try the next way, or none (for
        the rest of the run); when configured to insist, stop."""
        if self.config.json_schema is True:
            raise ModelError(
                f"{self.base_url} refused response_format json_schema (HTTP {e.status_code}: "
                f"{_message(e)})",
                fix="set json_schema = false under [model] in "
                "greenloop.toml, or leave it unset to detect it",
            ) from e
        with self._schema_lock:  # another thread may have dropped it already
            dropped = bool(self._schema_forms) and self._schema_forms[0] == form
            if dropped:
                self._schema_forms.pop(0)
        if dropped:
            log.warning(
                "%s does not take response_format %s (%s); next: %s",
                self.base_url,
                form,
                _message(e),
                self.schema_format or "replies parsed unconstrained for the rest of the run",
            )

    def _status_error(self, e: openai.APIStatusError, messages: Sequence[Message]) -> Exception:
        status = e.status_code
        if status in _RETRY_STATUSES or status >= 500:
            return _Retryable(f"HTTP {status}: {_message(e)}", _retry_after(e))
        if status in (401, 403):
            return ModelAuthError(
                f"{self.base_url} rejected the API key (HTTP {status}: {_message(e)})",
                fix="set OPENAI_API_KEY to a key this endpoint accepts",
            )
        if status == 404:
            return ModelNotFound(
                f"model {self.name!r} not found at {self.base_url} ({_message(e)})",
                fix=f"--model/GREENLOOP_MODEL naming one it serves{self._served_hint()}, "
                "and check --base-url (it usually ends in /v1)",
            )
        if _is_context_error(e):
            chars = sum(len(m.content) for m in messages)
            return ContextTooLong(
                f"the prompt ({len(messages)} messages, {chars} characters) does not fit "
                f"{self.name!r}'s context: {_message(e)}",
                fix="a model with a larger context, a lower max_tokens, or a smaller prompt",
            )
        return ModelError(f"{self.base_url} refused the request (HTTP {status}): {_message(e)}")

    def _served_hint(self) -> str:
        try:
            served = self.list_models()
        except ModelError:
            return ""
        return f" (it serves: {', '.join(served[:10])})" if served else ""

    def _completion(self, response: ChatCompletion, latency: float) -> Completion:
        if not response.choices:
            raise ModelError(f"{self.base_url} answered with no choices")
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        if usage is not None:
            prompt_tokens, completion_tokens = usage.prompt_tokens, usage.completion_tokens
        else:
            log.debug("no usage in the response from %s; estimating tokens", self.base_url)
            prompt_tokens, completion_tokens = 0, estimate_tokens(text)
        model = response.model or self.name
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=model,
            latency=latency,
            finish_reason=choice.finish_reason or "stop",
            cost=self._prices.cost(self.name, prompt_tokens, completion_tokens),
        )


def _message(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return e.message


def _schema_forms(setting: bool | None) -> list[str]:
    if setting is None:
        return ["json_schema", "json_object"]
    return ["json_schema"] if setting else []


def _refuses_schema(e: openai.APIStatusError) -> bool:
    """An answer about the response format, not about the prompt: a 4xx that says so, or
    a 5xx that names `response_format` itself (llama-cpp-python's server answers 500)."""
    text = _message(e).lower()
    if e.status_code >= 500:
        return "response_format" in text or "json_schema" in text
    if e.status_code not in (400, 415, 422) or _is_context_error(e):
        return False
    return any(hint in text for hint in _SCHEMA_HINTS)


def _is_context_error(e: openai.APIStatusError) -> bool:
    if e.status_code not in (400, 413, 422):
        return False
    if e.code == "context_length_exceeded" or e.status_code == 413:
        return True
    text = _message(e).lower()
    return any(hint in text for hint in _CONTEXT_HINTS) and "token" in text


def _retry_after(e: openai.APIStatusError) -> float | None:
    """Seconds from Retry-After (seconds or an HTTP date) or retry-after-ms; None if absent."""
    headers = e.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    when = email.utils.parsedate_to_datetime(value) if _looks_like_date(value) else None
    return None if when is None else max(0.0, when.timestamp() - time.time())


def _looks_like_date(value: str) -> bool:
    try:
        return email.utils.parsedate_tz(value) is not None
    except (TypeError, ValueError):
        return False
