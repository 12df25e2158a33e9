"""A fake OpenAI-compatible HTTP server on loopback, for tests that talk through the real client.

    with FakeOpenAI([Reply(text="hi"), Reply.rate_limited(retry_after=1)]) as srv:
        model = OpenAIChat(ModelConfig(model="fake", base_url=srv.base_url, api_key="k"))
        ...
        srv.requests[0].messages   # what the client sent

The script is a list of `Reply`s served in order to POST /v1/chat/completions,
or a callable `Request -> Reply` that decides from the prompt. GET /v1/models
lists `models`. Each reply can add latency, an error status with headers
(429 + Retry-After, 500, 401, 404), a raw (malformed) body, or drop the
connection without answering. When the script runs out, the server answers
400 with "script exhausted", which the client does not retry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["FakeOpenAI", "Reply", "Request", "Responder"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat-completion request."""

    text: str = "ok"
    """The assistant message's content (status 200 only)."""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float = 0.0
    """Seconds to wait before answering (ends early when the server stops)."""
    error: str = ""
    """The error message of a non-200 reply, in OpenAI's error shape."""
    error_code: str | None = None
    body: bytes | None = None
    """Raw body sent instead of the JSON one (e.g. malformed JSON)."""
    drop: bool = False
    """Close the connection without sending any response."""
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    """Usage reported; None: a rough estimate from the prompt's length."""
    completion_tokens: int | None = None
    usage: bool = True
    """False: the response carries no `usage` object."""

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1, latency: float = 0.0) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls(status=429, headers=headers, error="Rate limit reached", latency=latency)

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status, error="The server had an error")

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls(status=401, error="Incorrect API key provided", error_code="invalid_api_key")

    @classmethod
    def unknown_model(cls, model: str = "nope") -> Reply:
        return cls(
            status=404, error=f"The model `{model}` does not exist", error_code="model_not_found"
        )

    @classmethod
    def context_too_long(cls) -> Reply:
        return cls(
            status=400,
            error="This model's maximum context length is 8192 tokens. "
            "However, your messages resulted in 9000 tokens.",
            error_code="context_length_exceeded",
        )

    @classmethod
    def malformed(cls) -> Reply:
        return cls(body=b'{"id": "chatcmpl-x", "choices": [')

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    """The parsed JSON body, or None."""

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict):
            return list(self.body.get("messages", []))
        return []

    @property
    def prompt(self) -> str:
        """The content of the last user message ("" when there is none)."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else ""


Responder = Callable[[Request], Reply]


class FakeOpenAI:
    """The server; use it as a context manager. `base_url` ends in /v1."""

    def __init__(
        self,
        script: Iterable[Reply] | Responder = (),
        *,
        models: Sequence[str] | None = None,
        api_key: str | None = None,
    ) -> None:
        """`models`: when given, other model names get a 404; `api_key`: else 401."""
        self._responder: Responder | None = script if callable(script) else None
        self._script: list[Reply] = [] if callable(script) else list(script)
        self._models = list(models) if models is not None else None
        self._api_key = api_key
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._served = 0
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order (chat and models)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> Self:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- called from handler threads -------------------------------------------------

    def record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def model_ids(self) -> list[str]:
        return self._models if self._models is not None else ["fake-model"]

    def gatekeep(self, request: Request) -> Reply | None:
        """The automatic 401/404 answers, which do not consume the script."""
        auth = request.headers.get("authorization", "")
        if self._api_key is not None and auth != f"Bearer {self._api_key}":
            return Reply.unauthorized()
        if self._models is not None and request.model not in self._models:
            return Reply.unknown_model(str(request.model))
        return None

    def next_reply(self, request: Request) -> Reply:
        if self._responder is not None:
            return self._responder(request)
        with self._lock:
            if self._served < len(self._script):
                self._served += 1
                return self._script[self._served - 1]
            n = len(self._script)
        return Reply(status=400, error=f"fake_openai: script exhausted after {n} replies")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _request(self, method: str) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Request(method=method, path=self.path, headers=headers, body=body)

    def do_GET(self) -> None:
        request = self._request("GET")
        self.fake.record(request)
        if not self.path.rstrip("/").endswith("/models"):
            self._send_json(404, _error_body("no such route", "not_found"), {})
            return
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake.model_ids()]
        self._send_json(200, {"object": "list", "data": data}, {})

    def do_POST(self) -> None:
        request = self._request("POST")
        self.fake.record(request)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, _error_body("no such route", "not_found"), {})
            return
        reply = self.fake.gatekeep(request) or self.fake.next_reply(request)
        if reply.latency > 0 and self.fake.stopping.wait(reply.latency):
            return  # the server is stopping: drop the connection
        if reply.drop:
            self.close_connection = True
            return
        if reply.body is not None:
            self._send_raw(reply.status, reply.body, reply.headers)
        elif reply.status != 200:
            self._send_json(reply.status, _error_body(reply.error, reply.error_code), reply.headers)
        else:
            self._send_json(200, _completion_body(request, reply), reply.headers)

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self._send_raw(status, json.dumps(body).encode(), headers)

    def _send_raw(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _error_body(message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _completion_body(request: Request, reply: Reply) -> dict[str, Any]:
    prompt_chars = "".join(str(m.get("content", "")) for m in request.messages)
    prompt_tokens = reply.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = _estimate_tokens(prompt_chars)
    completion_tokens = reply.completion_tokens
    if completion_tokens is None:
        completion_tokens = _estimate_tokens(reply.text)
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request.model or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason,
            }
        ],
    }
    if reply.usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return body
