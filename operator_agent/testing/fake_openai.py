"""A local OpenAI-compatible server with scripted replies and faults, for tests.

It speaks just enough of the API for :class:`~operator_agent.models.OpenAIModel` and the
official SDK: ``POST .../chat/completions`` (non-streaming; any path prefix, so an Azure-style
``/openai/deployments/{name}/chat/completions`` works too) and ``GET /v1/models``. Replies come
from a queue the test fills::

    with serve_fake_openai() as server:
        server.enqueue(tool_call("click", ref="e3"), prompt_tokens=120, completion_tokens=9)
        server.enqueue_error(status=429, retry_after=1)
        model = OpenAIModel(model="fake-model", base_url=server.base_url)

Every request is recorded (method, path, headers, body). A request that finds the queue empty
gets a 500 whose message names the request, so a test that under-scripts fails loudly.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import Any

from operator_agent.errors import ConfigurationError
from operator_agent.logs import get_logger
from operator_agent.models.base import ToolCall
from operator_agent.models.replies import raw_tool_call
from operator_agent.testing.site_server import LocalServer

__all__ = ["FakeOpenAIServer", "RecordedRequest", "serve_fake_openai"]

# Looked up per use: a logger bound at import time would ignore a later structlog configuration.
_LOGGER = "operator_agent.testing"

_DEFAULT_MALFORMED_BODY = '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, '
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The path with its query string.
        headers: Header names in lower case, to their values.
        body: The decoded JSON body; None if there was none or it was not JSON.
        raw_body: The body bytes as received.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` of a chat completion request (empty for other requests)."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The ``tools`` of a chat completion request (empty if none were sent)."""
        tools = self.body.get("tools") if isinstance(self.body, dict) else None
        return tools if isinstance(tools, list) else []


@dataclass(frozen=True)
class _Json:
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Completion:
    text: str
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int
    finish_reason: str | None
    model: str | None
    include_usage: bool


@dataclass(frozen=True)
class _Hold:
    seconds: float


@dataclass(frozen=True)
class _Raw:
    body: bytes
    content_type: str


_Entry = _Json | _Completion | _Hold | _Raw


@dataclass
class _State:
    models: tuple[str, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: deque[_Entry] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


class FakeOpenAIServer:
    """An OpenAI-compatible server on a loopback address, fed from a queue of scripted replies.

    Use :func:`serve_fake_openai` to run one for a ``with`` block. All methods are thread-safe.

    Args:
        host: The loopback address to bind.
        port: The port; 0 picks a free one.
        models: The model ids listed by ``GET /v1/models``.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, models: Sequence[str] = ("fake-model",)
    ) -> None:
        self._state = _State(models=tuple(models))
        self._server = LocalServer(handler=partial(_Handler, state=self._state), host=host, port=port)

    @property
    def url(self) -> str:
        """The server's root URL, such as ``http://127.0.0.1:41234``."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client: :attr:`url` plus ``/v1``."""
        return f"{self._server.url}/v1"

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received so far, oldest first (a snapshot)."""
        with self._state.lock:
            return tuple(self._state.requests)

    @property
    def pending(self) -> int:
        """How many queued replies have not been served yet."""
        with self._state.lock:
            return len(self._state.queue)

    def reset(self) -> None:
        """Forget queued replies and recorded requests (for a server shared between tests)."""
        with self._state.lock:
            self._state.queue.clear()
            self._state.requests.clear()

    def enqueue(
        self,
        *parts: ToolCall | str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cached_tokens: int = 0,
        finish_reason: str | None = None,
        model: str | None = None,
        include_usage: bool = True,
    ) -> None:
        """Queue a successful chat completion made of text and tool calls.

        Args:
            *parts: Strings (joined with newlines into the reply text) and tool calls (from
                ``tool_call``/``raw_tool_call``; several make a multi-call reply).
            prompt_tokens: Reported prompt tokens; estimated from the request size by default.
            completion_tokens: Reported completion tokens; estimated from the reply by default.
            cached_tokens: Reported ``prompt_tokens_details.cached_tokens``.
            finish_reason: Defaults to ``tool_calls`` when there are calls, else ``stop``.
            model: The model name in the reply; by default the one the request asked for.
            include_usage: False to leave ``usage`` out, as some local servers do.
        """
        texts = [p for p in parts if isinstance(p, str)]
        calls = tuple(p for p in parts if isinstance(p, ToolCall))
        self._push(
            _Completion(
                text="\n".join(texts),
                tool_calls=calls,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=cached_tokens,
                finish_reason=finish_reason,
                model=model,
                include_usage=include_usage,
            )
        )

    def enqueue_json(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Queue a reply with this exact JSON body and status.

        Args:
            body: Any JSON-serializable value.
            status: The HTTP status.
            headers: Extra response headers.
        """
        self._push(_Json(status=status, body=body, headers=tuple((headers or {}).items())))

    def enqueue_error(
        self,
        *,
        status: int,
        message: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        """Queue an error reply in the OpenAI error format.

        Args:
            status: The HTTP status, such as 429, 500 or 401.
            message: The error message; a generic one naming the status by default.
            retry_after: A ``Retry-After`` header: seconds, or an HTTP date given as a string.
            retry_after_ms: A ``retry-after-ms`` header, as OpenAI sends with rate limits.
            error_type: The error ``type``; chosen from the status by default.
            code: The error ``code``.
        """
        if status < 400:
            raise ConfigurationError(f"enqueue_error needs an error status (400-599), got {status}")
        headers: list[tuple[str, str]] = []
        if retry_after is not None:
            headers.append(("Retry-After", _format_seconds(retry_after)))
        if retry_after_ms is not None:
            headers.append(("retry-after-ms", _format_seconds(retry_after_ms)))
        body = {
            "error": {
                "message": message or f"fake server error with status {status}",
                "type": error_type or _ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": code,
            }
        }
        self._push(_Json(status=status, body=body, headers=tuple(headers)))

    def enqueue_timeout(self, seconds: float) -> None:
        """Queue a request that is held for ``seconds`` and then dropped without an answer.

        Give the client a timeout shorter than ``seconds`` to see a timeout; a longer one sees
        the connection close.
        """
        if seconds <= 0:
            raise ConfigurationError(f"enqueue_timeout needs a positive number of seconds, got {seconds}")
        self._push(_Hold(seconds=seconds))

    def enqueue_malformed(
        self, *, body: str | None = None, tool_name: str | None = None, tool_arguments: str | None = None
    ) -> None:
        """Queue a broken reply: an invalid JSON body, or a tool call with invalid JSON arguments.

        Args:
            body: The raw body text sent with status 200 and a JSON content type; a truncated
                completion by default.
            tool_name: With ``tool_arguments``: the tool of the broken call (default ``click``).
            tool_arguments: Send a well-formed completion whose single tool call has exactly
                these argument text (for example ``'{"ref": "e3"'``).
        """
        if tool_arguments is not None:
            if body is not None:
                raise ConfigurationError("enqueue_malformed takes either body or tool_arguments, not both")
            self.enqueue(raw_tool_call(tool_name or "click", tool_arguments))
            return
        if tool_name is not None:
            raise ConfigurationError("enqueue_malformed: tool_name only applies together with tool_arguments")
        text = _DEFAULT_MALFORMED_BODY if body is None else body
        self._push(_Raw(body=text.encode("utf-8"), content_type="application/json"))

    def _push(self, entry: _Entry) -> None:
        with self._state.lock:
            self._state.queue.append(entry)

    def start(self) -> FakeOpenAIServer:
        """Start serving in a background thread; returns ``self``."""
        self._state.closing.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        """Release held requests, stop serving and free the port."""
        self._state.closing.set()
        self._server.stop()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def serve_fake_openai(
    *, host: str = "127.0.0.1", port: int = 0, models: Sequence[str] = ("fake-model",)
) -> Iterator[FakeOpenAIServer]:
    """Run a :class:`FakeOpenAIServer` for the duration of a ``with`` block.

    Args:
        host: The loopback address to bind.
        port: The port; 0 picks a free one.
        models: The model ids listed by ``GET /v1/models``.

    Yields:
        The running server; give ``server.base_url`` to the client.
    """
    with FakeOpenAIServer(host=host, port=port, models=models) as server:
        yield server


def _format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: Any, state: _State, **kwargs: Any) -> None:
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        get_logger(_LOGGER).debug("fake openai request", line=format % args)

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        request = self._record(b"")
        route = request.path.split("?", 1)[0].rstrip("/")
        if route == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake-openai"}
                for m in self.state.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error_json(
                404, f"fake OpenAI server: no route for GET {request.path}", "not_found_error"
            )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = self._record(raw)
        route = request.path.split("?", 1)[0].rstrip("/")
        if not route.endswith("/chat/completions"):
            self._send_error_json(
                404, f"fake OpenAI server: no route for POST {request.path}", "not_found_error"
            )
            return
        problem = _check_chat_request(request)
        if problem:
            self._send_error_json(400, f"fake OpenAI server: invalid chat completion request: {problem}")
            return
        with self.state.lock:
            entry = self.state.queue.popleft() if self.state.queue else None
            number = len(self.state.requests)
        if entry is None:
            self._send_error_json(
                500,
                f"fake OpenAI server has no reply queued for request #{number} "
                f"(POST {request.path}, model {request.body.get('model')!r}, "
                f"last message: {_last_gist(request)})",
                "server_error",
            )
            return
        self._serve(entry, request)

    # -- replies -------------------------------------------------------------------------------

    def _serve(self, entry: _Entry, request: RecordedRequest) -> None:
        if isinstance(entry, _Hold):
            # Hold the request, then hang up without answering; woken early when the server stops.
            self.state.closing.wait(entry.seconds)
            self.close_connection = True
        elif isinstance(entry, _Raw):
            self._send_bytes(200, entry.body, entry.content_type)
        elif isinstance(entry, _Json):
            self._send_json(entry.status, entry.body, entry.headers)
        else:
            self._send_json(200, self._completion_body(entry, request))

    def _completion_body(self, entry: _Completion, request: RecordedRequest) -> dict[str, Any]:
        number = next(self.state.ids)
        message: dict[str, Any] = {"role": "assistant", "content": entry.text or None, "refusal": None}
        if entry.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in entry.tool_calls
            ]
        body: dict[str, Any] = {
            "id": f"chatcmpl-fake{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": entry.model or request.body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": entry.finish_reason or ("tool_calls" if entry.tool_calls else "stop"),
                    "logprobs": None,
                }
            ],
        }
        if entry.include_usage:
            prompt = entry.prompt_tokens
            if prompt is None:
                prompt = _estimate_tokens(json.dumps(request.messages))
            completion = entry.completion_tokens
            if completion is None:
                calls_text = "".join(c.name + c.arguments for c in entry.tool_calls)
                completion = _estimate_tokens(entry.text + calls_text)
            body["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": entry.cached_tokens},
            }
        return body

    # -- plumbing ------------------------------------------------------------------------------

    def _record(self, raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
        )
        with self.state.lock:
            self.state.requests.append(request)
        return request

    def _send_error_json(self, status: int, message: str, error_type: str = "invalid_request_error") -> None:
        get_logger(_LOGGER).debug("fake openai error reply", status=status, message=message)
        body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        self._send_json(status, body)

    def _send_json(self, status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send_bytes(status, json.dumps(body).encode("utf-8"), "application/json", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake{len(self.state.requests)}")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _check_chat_request(request: RecordedRequest) -> str | None:
    """What is wrong with a chat completion request body, or None."""
    body = request.body
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string"
    if body.get("stream"):
        return "streaming is not supported by the fake server"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"messages[{index}] has no valid role"
        if message["role"] == "tool" and not message.get("tool_call_id"):
            return f"messages[{index}] is a tool message without tool_call_id"
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not tools):
        return "'tools', when given, must be a non-empty list"
    return None


def _last_gist(request: RecordedRequest) -> str:
    if not request.messages:
        return "(none)"
    last = request.messages[-1]
    content = last.get("content")
    if isinstance(content, list):
        parts = [part for part in content if isinstance(part, dict)]
        content = " ".join(str(part.get("text", f"<{part.get('type')}>")) for part in parts)
    flat = " ".join(str(content or "").split())
    return f"{last.get('role')}: {flat[:120]!r}"
