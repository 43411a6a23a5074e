"""A test OTLP/HTTP trace receiver that decodes the real protobuf wire format.

It listens on a free loopback port (``http.server`` in a thread), decodes each
``ExportTraceServiceRequest`` with the classes from ``opentelemetry-proto``
and keeps the spans. It can be told to misbehave like a sick collector:
answer 503, or sleep past the client's timeout; ``stop()`` makes the port
refuse connections and ``start()`` brings it back on the same port.

Example::

    with OtlpReceiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.base_url
        ...
        spans = receiver.wait_for_spans(lambda spans: len(spans) >= 3)

Run ``python -m tests.support.otlp_receiver --port 4318`` for a stand-alone
receiver (the telemetry benchmark does, to keep decoding out of its process).
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agent_runtime.ops.stack.ports import free_port
from tests.support.http_server import LoopbackHTTPServer

Mode = Literal["ok", "unavailable", "slow"]
TRACES_PATH = "/v1/traces"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(items: Sequence[KeyValue]) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass(frozen=True)
class ReceivedEvent:
    """A span event as decoded from the wire."""

    name: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as decoded from the wire; ids are lower-case hex, kind and status short names."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: Mapping[str, Any]
    status_code: str
    status_message: str
    events: tuple[ReceivedEvent, ...]
    resource: Mapping[str, Any]
    scope: str

    @classmethod
    def decode(cls, span: Span, resource: Mapping[str, Any], scope: str) -> ReceivedSpan:
        """One protobuf ``Span`` with its resource attributes and scope name."""
        return cls(
            name=span.name,
            kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes=_attributes(span.attributes),
            status_code=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
            status_message=span.status.message,
            events=tuple(ReceivedEvent(e.name, _attributes(e.attributes)) for e in span.events),
            resource=resource,
            scope=scope,
        )


@dataclass(frozen=True)
class ReceivedRequest:
    """One POST as seen by the receiver, and how it was answered."""

    path: str
    headers: Mapping[str, str]
    status: int
    spans: int


@dataclass
class _State:
    mode: Mode = "ok"
    delay_seconds: float = 0.0
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        mode, delay = receiver.behaviour()
        headers = {key.lower(): value for key, value in self.headers.items()}
        if mode == "slow":
            time.sleep(delay)
        if mode == "unavailable":
            receiver.record(ReceivedRequest(self.path, headers, 503, 0), [])
            self._reply(503, b"collector unavailable", "text/plain")
            return
        if self.path != TRACES_PATH:
            receiver.record(ReceivedRequest(self.path, headers, 404, 0), [])
            self._reply(404, b"not found", "text/plain")
            return
        request = ExportTraceServiceRequest.FromString(body)
        spans = [
            ReceivedSpan.decode(span, _attributes(rs.resource.attributes), ss.scope.name)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]
        # A slow answer arrives after the client gave up: the spans count as lost.
        receiver.record(ReceivedRequest(self.path, headers, 200, len(spans)), [] if mode == "slow" else spans)
        self._reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests`` instead."""


class _Server(LoopbackHTTPServer):
    def __init__(self, port: int, receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__(port, _Handler)


class OtlpReceiver:
    """OTLP/HTTP trace receiver on ``127.0.0.1:port``; a context manager."""

    def __init__(self, port: int | None = None, *, keep_spans: bool = True) -> None:
        self.port = port or free_port()
        self.keep_spans = keep_spans
        self._lock = threading.Lock()
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter appends ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is)."""
        return self.base_url + TRACES_PATH

    def start(self) -> OtlpReceiver:
        """Listen (again) on ``port``."""
        if self._server is None:
            self._server = _Server(self.port, self)
            self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: clients now get connection refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.reset_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer_ok(self) -> None:
        """Accept and store every export."""
        self._set("ok", 0.0)

    def answer_unavailable(self) -> None:
        """Answer 503 to every export (retryable for the client)."""
        self._set("unavailable", 0.0)

    def answer_slowly(self, seconds: float) -> None:
        """Sleep ``seconds`` before answering (past the client's timeout); nothing is stored."""
        self._set("slow", seconds)

    def _set(self, mode: Mode, delay: float) -> None:
        with self._lock:
            self._state.mode = mode
            self._state.delay_seconds = delay

    def behaviour(self) -> tuple[Mode, float]:
        """The current mode and delay."""
        with self._lock:
            return self._state.mode, self._state.delay_seconds

    def record(self, request: ReceivedRequest, spans: Sequence[ReceivedSpan]) -> None:
        """Store one request and its decoded spans."""
        with self._lock:
            self._state.requests.append(request)
            if self.keep_spans:
                self._state.spans.extend(spans)

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._state.spans)

    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far."""
        with self._lock:
            return list(self._state.requests)

    def clear(self) -> None:
        """Forget received spans and requests."""
        with self._lock:
            self._state.spans.clear()
            self._state.requests.clear()

    def wait_for_spans(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Poll until ``predicate(spans)``; fail the test on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                pytest.fail(f"OTLP receiver: condition not met after {timeout}s; got {[s.name for s in spans]}")
            time.sleep(0.02)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted; prints the port on stdout once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--discard", action="store_true", help="decode but do not keep spans")
    args = parser.parse_args(argv)
    receiver = OtlpReceiver(args.port or None, keep_spans=not args.discard).start()
    print(receiver.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
