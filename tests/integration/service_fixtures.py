"""A real HTTP service on a loopback port, over a runtime with deterministic tools.

Tools: ``lookup`` (cached, tag ``docs``), ``metrics``, ``shout`` (never
cached), ``explode`` (always raises; its breaker trips after two failures)
and ``hold`` (blocks until ``Gate.release`` so tests can fill the runtime's
in-flight limit of 2). Agents: ``ops`` (lookup ∥ metrics), ``writer``
(shout, also the fallback), ``flaky`` (explode), ``blocker`` (hold) and
``fetcher`` (needs the context key ``url``).

Test modules import the fixtures they use (``live_service_fixture``,
``make_live_service_fixture``); pytest knows them as ``live_service`` and
``make_live_service``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server

from agent_runtime.config.loader import parse_config
from agent_runtime.errors import DependencyError
from agent_runtime.registry import ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app

ADMIN_TOKEN = "test-admin-token"
AGENTS = ("ops", "writer", "flaky", "blocker", "fetcher")
TOOLS = ("explode", "hold", "lookup", "metrics", "shout")
MAX_IN_FLIGHT = 2

TEST_CONFIG: dict[str, Any] = {
    "tools": {
        "lookup": {"ttl_seconds": 60, "cache_tags": ["docs"]},
        "metrics": {"timeout_seconds": 2, "cache_tags": ["numbers"]},
        "shout": {"cacheable": False},
        "explode": {"cacheable": False, "breaker": {"consecutive_failures": 2, "minimum_calls": 2}},
        "hold": {"cacheable": False, "timeout_seconds": 8},
    },
    "agents": [
        {
            "name": "ops",
            "tools": ["lookup", "metrics"],
            "base_confidence": 0.5,
            "specialties": [{"domain": "ops", "keywords": {"cache": 1.0, "latency": 1.0, "alert": 0.8}}],
            "plan": [
                {"id": "docs", "tool": "lookup", "args": {"query": "{task}"}},
                {"id": "numbers", "tool": "metrics", "args": {"query": "{task}"}},
            ],
        },
        {
            "name": "writer",
            "tools": ["shout"],
            "specialties": [{"domain": "writing", "keywords": {"write": 1.0, "summary": 1.0}}],
            "plan": [{"id": "text", "tool": "shout", "args": {"parts": ["{task}"]}}],
        },
        {
            "name": "flaky",
            "tools": ["explode"],
            "specialties": [{"domain": "chaos", "keywords": {"explode": 1.0}}],
            "plan": [{"id": "boom", "tool": "explode", "args": {}}],
        },
        {
            "name": "blocker",
            "tools": ["hold"],
            "specialties": [{"domain": "waiting", "keywords": {"block": 1.0, "hold": 1.0}}],
            "plan": [{"id": "wait", "tool": "hold", "args": {}}],
        },
        {
            "name": "fetcher",
            "tools": ["lookup"],
            "specialties": [{"domain": "web", "keywords": {"fetch": 1.0, "download": 1.0}}],
            "plan": [{"id": "page", "tool": "lookup", "args": {"query": "{context[url]}"}}],
        },
    ],
    "routing": {"fallback_chain": ["writer"], "min_confidence": 0.2},
    "execution": {"max_in_flight_tasks": MAX_IN_FLIGHT, "max_parallel_tool_calls": 4, "task_timeout_seconds": 10},
    "stage_targets_seconds": {"route": 0.05, "tool": 0.5},
}


class Gate:
    """Holds ``hold`` tool calls until released; counts the calls waiting."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.waiting = 0

    def wait(self) -> str:
        with self._lock:
            self.waiting += 1
        try:
            self._event.wait(timeout=6)
            return "released"
        finally:
            with self._lock:
                self.waiting -= 1

    def release(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()


def make_tools(gate: Gate) -> ToolRegistry:
    """The deterministic test tools."""
    registry = ToolRegistry()

    @registry.tool()
    def lookup(query: str) -> str:
        return f"doc about {query}"

    @registry.tool()
    def metrics(query: str) -> dict[str, float]:
        return {"p95_seconds": 0.42}

    @registry.tool()
    def shout(parts: list[Any]) -> str:
        return " ".join(str(p) for p in parts).upper()

    @registry.tool()
    def explode() -> None:
        raise DependencyError("kaboom: the dependency is down")

    @registry.tool()
    def hold() -> str:
        return gate.wait()

    return registry


@dataclass
class LiveService:
    """A running service: its base URL, app, runtime, metrics registry and gate."""

    url: str
    app: Flask
    runtime: Runtime
    registry: CollectorRegistry
    gate: Gate

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=10, **kwargs)


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug on a free loopback port in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-http-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def build_test_runtime(registry: CollectorRegistry, gate: Gate) -> Runtime:
    """A runtime over the test config and tools, with metrics in ``registry``."""
    return Runtime(parse_config(TEST_CONFIG, source="test"), tools=make_tools(gate), metrics_registry=registry)


@contextmanager
def live_service_with(settings: ServiceSettings) -> Iterator[LiveService]:
    """A fresh runtime and service with ``settings``, stopped on exit."""
    registry = CollectorRegistry()
    gate = Gate()
    runtime = build_test_runtime(registry, gate)
    app = create_app(runtime, settings)
    try:
        with serve(app) as url:
            yield LiveService(url, app, runtime, registry, gate)
    finally:
        gate.release()
        runtime.close()


@pytest.fixture(scope="module", name="live_service")
def live_service_fixture() -> Iterator[LiveService]:
    """The service with an admin token, shared by a test module."""
    with live_service_with(ServiceSettings(admin_token=ADMIN_TOKEN)) as service:
        yield service


@pytest.fixture(name="make_live_service")
def make_live_service_fixture() -> Iterator[Callable[[ServiceSettings], LiveService]]:
    """A factory of extra services with other settings (stopped after the test)."""
    stack: list[Any] = []

    def make(settings: ServiceSettings) -> LiveService:
        context = live_service_with(settings)
        stack.append(context)
        return context.__enter__()

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)
