"""A scripted OpenAI chat-completions server for tests of LLM agents (non-streaming).

It listens on a free loopback port (``http.server`` in a thread) and speaks the
real wire format to the real ``openai`` SDK, which is never patched. Each
``POST /v1/chat/completions`` takes the next :class:`Reply` from a FIFO queue
(or the default reply); every decoded request body is kept in ``requests``.

Example::

    with ScriptedChatServer() as server:
        server.enqueue(Reply.tool_calls([("search", {"q": "cats"})]), Reply.text("done"))
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        ...  # run the agent
        assert server.requests[0]["tools"][0]["function"]["name"] == "search"

Also served: ``GET /v1/models`` (the ``models`` given) and ``GET /health``.
``supports_tools=False`` answers 400 to a request with ``tools``, as some
local chat templates do, so a client's fallback to json_schema mode can be tested.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.http_server import LoopbackHTTPServer

CHAT_PATH = "/v1/chat/completions"
NO_REPLY_LEFT = "no scripted reply left"
TOOLS_UNSUPPORTED = "tools are not supported by this model's chat template"

Json = dict[str, Any]
ReplyFunction = Callable[[Json], "Reply"]

# status -> (error type, error code), as api.openai.com answers them.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", None),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _words(text: object) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def _prompt_words(messages: Sequence[Any]) -> int:
    """A deterministic, rough token count: words in message contents and tool-call arguments."""
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        total += sum(_words(part.get("text")) for part in parts if isinstance(part, dict))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += _words(function.get("name")) + _words(function.get("arguments"))
    return total


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> Json:
    """An error in OpenAI's ``{"error": {...}}`` shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True)
class Reply:
    """One scripted answer; build it with the classmethods (``Reply.text(...)`` etc.)."""

    content: str | None = None
    calls: tuple[tuple[str, str], ...] = ()  # (function name, arguments JSON text)
    finish_reason: str = "stop"
    status: int = 200
    error_message: str = ""
    error_type: str | None = None
    error_code: str | None = None
    retry_after: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    delay_seconds: float = 0.0
    compute: ReplyFunction | None = None

    @classmethod
    def text(
        cls,
        content: str,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        finish_reason: str = "stop",
        delay_seconds: float = 0.0,
    ) -> Reply:
        """An assistant message with ``content``."""
        return cls(
            content=content,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            delay_seconds=delay_seconds,
        )

    @classmethod
    def tool_calls(
        cls,
        calls: Sequence[tuple[str, Mapping[str, Any] | str]],
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        delay_seconds: float = 0.0,
    ) -> Reply:
        """Native tool calls, content null; string arguments are sent verbatim (even invalid JSON)."""
        encoded = tuple((name, args if isinstance(args, str) else json.dumps(dict(args))) for name, args in calls)
        return cls(
            calls=encoded,
            finish_reason="tool_calls",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            delay_seconds=delay_seconds,
        )

    @classmethod
    def json_action(
        cls,
        action: Any,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        delay_seconds: float = 0.0,
    ) -> Reply:
        """Content that is JSON text (``response_format`` json_schema mode); a string is sent verbatim."""
        content = action if isinstance(action, str) else json.dumps(action)
        return cls.text(
            content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, delay_seconds=delay_seconds
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        type_: str | None = None,
        code: str | None = None,
        delay_seconds: float = 0.0,
    ) -> Reply:
        """HTTP ``status`` with an OpenAI error body (and ``Retry-After`` when given)."""
        default_type, default_code = _ERROR_KINDS.get(status, ("server_error", None))
        return cls(
            status=status,
            error_message=message,
            error_type=type_ or default_type,
            error_code=code or default_code,
            retry_after=retry_after,
            delay_seconds=delay_seconds,
        )

    @classmethod
    def dynamic(cls, fn: ReplyFunction, *, delay_seconds: float = 0.0) -> Reply:
        """A reply computed by ``fn(request_json)`` when the request arrives (it may return any reply)."""
        return cls(compute=fn, delay_seconds=delay_seconds)


@dataclass(frozen=True)
class _Response:
    status: int
    body: Json
    headers: Mapping[str, str] = field(default_factory=dict)


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> _Response:
    return _Response(status, error_body(message, type_, code, param))


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/health":
            self._send(_Response(200, {"status": "ok"}))
        elif path == "/v1/models":
            self._send(_Response(200, self.server.owner.models_payload()))
        elif path == "/props" and self.server.owner.template_caps is not None:
            # llama.cpp's server describes its chat template's abilities here.
            self._send(_Response(200, {"chat_template_caps": self.server.owner.template_caps}))
        else:
            self._send(_not_found("GET", self.path))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path.rstrip("/") != CHAT_PATH:
            self._send(_not_found("POST", self.path))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        self._send(self.server.owner.answer(body, headers))

    def _send(self, response: _Response) -> None:
        data = json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests`` instead."""


def _not_found(method: str, path: str) -> _Response:
    message = f"Unknown request URL: {method} {path}. Please check the URL for typos."
    return _error(404, message, "invalid_request_error", "unknown_url")


class _HTTPServer(LoopbackHTTPServer):
    def __init__(self, owner: ScriptedChatServer, port: int) -> None:
        self.owner = owner
        super().__init__(port, _Handler)


class ScriptedChatServer:
    """OpenAI chat-completions server on ``127.0.0.1:<free port>``; a context manager."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        supports_tools: bool = True,
        models: Sequence[str] = ("scripted-model",),
    ) -> None:
        self.default = default
        self.supports_tools = supports_tools
        # Set to a dict to answer GET /props as llama.cpp does (e.g. {"supports_tool_calls": False}).
        self.template_caps: dict[str, bool] | None = None
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque(replies)
        self._requests: list[Json] = []
        self._headers: list[dict[str, str]] = []
        self._completions = 0
        self._call_ids = 0
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedChatServer:
        """Listen on a free loopback port (the same one again after ``stop()``)."""
        if self._server is None:
            self._stopping.clear()
            self._server = _HTTPServer(self, self.port)
            self.port = int(self._server.server_address[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="openai-test-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down; replies still sleeping in ``delay_seconds`` are cut short."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.reset_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> ScriptedChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue(self, *replies: Reply) -> ScriptedChatServer:
        """Append replies to the FIFO queue."""
        with self._lock:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[Json]:
        """A copy of every decoded chat-completions request body, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers (lower-case names) of each request in ``requests``, same order."""
        with self._lock:
            return [dict(headers) for headers in self._headers]

    def models_payload(self) -> Json:
        """The ``GET /v1/models`` body."""
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "scripted"} for name in self.models]
        return {"object": "list", "data": data}

    def answer(self, body: bytes, headers: Mapping[str, str]) -> _Response:
        """Validate, record and answer one chat-completions request."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"We could not parse the JSON body of your request: {exc}", "invalid_request_error")
        if not isinstance(request, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        problem = self._validate(request)
        with self._lock:
            self._requests.append(request)
            self._headers.append(dict(headers))
            if problem is not None:
                return problem
            reply = self._queue.popleft() if self._queue else self.default
        if reply is None:
            message = f"{NO_REPLY_LEFT}: request #{len(self.requests)} arrived after the queue ran out and no default"
            return _error(500, message, "server_error")
        return self._render(reply, request)

    def _validate(self, request: Json) -> _Response | None:
        def bad(message: str, param: str, code: str | None = None) -> _Response:
            return _error(400, message, "invalid_request_error", code, param)

        if not isinstance(request.get("model"), str) or not request["model"]:
            return bad("you must provide a model parameter", "model", "missing_required_parameter")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            return bad("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        if request.get("stream"):
            return bad("stream=true is not supported by ScriptedChatServer", "stream")
        if request.get("tools") and not self.supports_tools:
            return bad(TOOLS_UNSUPPORTED, "tools")
        return None

    def _render(self, reply: Reply, request: Json) -> _Response:
        if reply.delay_seconds > 0:
            self._stopping.wait(reply.delay_seconds)
        if reply.compute is not None:
            try:
                computed = reply.compute(request)
            except Exception as exc:
                return _error(500, f"dynamic reply raised {exc!r}", "server_error")
            return self._render(computed, request)
        if reply.status != 200:
            type_ = reply.error_type or "server_error"
            headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
            return _Response(reply.status, error_body(reply.error_message, type_, reply.error_code), headers)
        message: Json = {"role": "assistant", "content": reply.content, "refusal": None}
        with self._lock:
            self._completions += 1
            completion_id = f"chatcmpl-{self._completions}"
            if reply.calls:
                first, self._call_ids = self._call_ids + 1, self._call_ids + len(reply.calls)
                message["tool_calls"] = [
                    {"id": f"call_{first + i}", "type": "function", "function": {"name": name, "arguments": args}}
                    for i, (name, args) in enumerate(reply.calls)
                ]
        written = _words(reply.content) + sum(_words(name) + _words(args) for name, args in reply.calls)
        prompt = _prompt_words(request["messages"]) if reply.prompt_tokens is None else reply.prompt_tokens
        completion = written if reply.completion_tokens is None else reply.completion_tokens
        return _Response(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )
