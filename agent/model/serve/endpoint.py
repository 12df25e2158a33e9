"""A small OpenAI-compatible endpoint over any `ChatModel`: what the batch's model
server answers with (`agent.model.serve.server`).

    serve(model, alias="SmolLM2-135M-Instruct", fd=listening_socket_fd, key=api_key)
    with Endpoint(model, alias="client", key=api_key) as url: ...   # on a thread, loopback

`GET /v1/models` and `POST /v1/chat/completions` (no streaming), behind a bearer
key. Each request runs on a thread of its own, so requests that arrive together
reach the model together: the embedded model decodes them in one batch. Options
the model takes are passed on (`temperature`, `max_tokens`, `seed`, `stop`, and a
schema as `response_format`, a reply's code language as `greenloop_code`); others
are ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import hmac
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.errors import ContextTooLong, ModelError
from agent.model.base import ChatModel, Completion, CompletionOpts, Message

__all__ = ["Endpoint", "serve"]

_MAX_BODY = 16 << 20
_ROLES = ("system", "user", "assistant")


class _BadRequest(Exception):
    pass


def _request(body: Mapping[str, Any]) -> tuple[list[Message], CompletionOpts]:
    """The conversation and options of a chat completions request; `_BadRequest` names
    what is wrong."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("messages must be a non-empty list")
    messages = []
    for m in raw:
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise _BadRequest(f"each message needs a role among {', '.join(_ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise _BadRequest("message content must be a string")
        messages.append(Message(m["role"], content))
    if body.get("stream"):
        raise _BadRequest("stream is not supported")
    opts = _numbers(body)
    stop = body.get("stop")
    if isinstance(stop, str):
        opts["stop"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        opts["stop"] = list(stop)
    elif stop is not None:
        raise _BadRequest("stop must be a string or a list of strings")
    schema = _schema(body.get("response_format"))
    if schema:
        opts["json_schema"] = schema
    code = body.get("greenloop_code")
    if isinstance(code, str) and code:
        opts["code"] = code
    return messages, opts


def _numbers(body: Mapping[str, Any]) -> CompletionOpts:
    """`temperature` (finite, 0 or more), `max_tokens` (1 or more) and `seed`, when given."""
    opts: CompletionOpts = {}
    try:
        if body.get("temperature") is not None:
            opts["temperature"] = float(body["temperature"])
        if body.get("max_tokens") is not None:
            opts["max_tokens"] = int(body["max_tokens"])
        if body.get("seed") is not None:
            opts["seed"] = int(body["seed"])
    except (TypeError, ValueError, OverflowError) as e:  # int(inf) overflows
        raise _BadRequest(f"bad option: {e}") from e
    temperature = opts.get("temperature")
    if temperature is not None and not (math.isfinite(temperature) and temperature >= 0):
        raise _BadRequest(f"temperature must be a finite number of 0 or more, not {temperature}")
    max_tokens = opts.get("max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise _BadRequest(f"max_tokens must be 1 or more, not {max_tokens}")
    return opts


def _schema(form: Any) -> dict[str, Any] | None:
    if not isinstance(form, dict):
        return None
    if form.get("type") == "json_schema" and isinstance(form.get("json_schema"), dict):
        schema = form["json_schema"].get("schema")
    elif form.get("type") == "json_object":
        schema = form.get("schema") or {"type": "object"}
    else:
        return None
    return dict(schema) if isinstance(schema, dict) else None


def serve(model: ChatModel, *, alias: str, fd: int, key: str) -> None:
    """Answer on the listening socket `fd` until the process ends."""
    handler = type("Handler", (_Handler,), {"model": model, "alias": alias, "key": key})
    listener = socket.socket(fileno=fd)
    server = ThreadingHTTPServer(listener.getsockname(), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.daemon_threads = True
    server.serve_forever()


class Endpoint:
    """The endpoint on a loopback port of its own, answered on a thread of this process
    until the block ends; `url` is its base URL (`.../v1`)."""

    def __init__(self, model: ChatModel, *, alias: str, key: str) -> None:
        fields = {"model": model, "alias": alias, "key": key, "says_model": True}
        handler = type("Handler", (_Handler,), fields)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    """The two routes; `serve` makes a subclass that names the model, its alias and key."""

    protocol_version = "HTTP/1.1"
    model: ChatModel
    alias: str
    key: str
    says_model = False
    """Name the model that answered in each reply (else the alias)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if not self._admitted("/v1/models"):
            return
        self._send(
            HTTPStatus.OK,
            {
                "object": "list",
                "data": [{"id": self.alias, "object": "model", "owned_by": "local"}],
            },
        )

    def do_POST(self) -> None:
        if not self._admitted("/v1/chat/completions"):
            return
        try:
            messages, opts = _request(self._body())
        except (_BadRequest, ValueError) as e:
            self._send(HTTPStatus.BAD_REQUEST, _error(str(e)))
            return
        try:
            reply = self.model.complete(messages, **opts)
        except ContextTooLong as e:
            self._send(HTTPStatus.BAD_REQUEST, _error(str(e), "context_length_exceeded"))
            return
        except ModelError as e:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error(str(e)))
            return
        named = reply.model if self.says_model and reply.model else self.alias
        self._send(HTTPStatus.OK, _completion(reply, named))

    def _body(self) -> dict[str, Any]:
        size = int(self.headers.get("Content-Length") or 0)
        if not 0 < size <= _MAX_BODY:
            raise _BadRequest(f"a JSON body of 1 to {_MAX_BODY} bytes is needed")
        body = json.loads(self.rfile.read(size))
        if not isinstance(body, dict):
            raise _BadRequest("the body must be a JSON object")
        return body

    def _admitted(self, route: str) -> bool:
        """The caller has the key and asks for `route`; else it has its answer."""
        given = self.headers.get("Authorization") or ""
        if self.key and not hmac.compare_digest(given.encode(), f"Bearer {self.key}".encode()):
            self._send(HTTPStatus.UNAUTHORIZED, _error("a valid API key is needed"))
            return False
        if self.path.rstrip("/") != route:
            self._send(HTTPStatus.NOT_FOUND, _error(f"no route {self.path}"))
            return False
        return True

    def _send(self, status: HTTPStatus, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _completion(reply: Completion, alias: str) -> dict[str, Any]:
    """An OpenAI chat completion object of `reply`."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.total_tokens,
        },
    }


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}
