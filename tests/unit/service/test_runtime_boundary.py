"""The service reaches the runtime only through ``Runtime``'s public operations.

The app is served over a stand-in that has exactly those operations and no
other attribute (no pipeline, cache, profiler or tool registry to reach
into); every admin and introspection endpoint is driven through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import RuntimeConfig, ToolSpec
from agent_runtime.errors import UnknownToolError
from agent_runtime.ops.faults import ENABLE_ENV
from agent_runtime.profiler import BottleneckReport, StageStats
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from agent_runtime.service.state import ServiceRuntime

TOKEN = "boundary-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPERATIONS = frozenset(
    {
        "config",
        "in_flight",
        "in_flight_limit",
        "invalidate",
        "warm",
        "reset_breaker",
        "breaker_snapshots",
        "cache_stats",
        "bottlenecks",
        "tool_specs",
        "cache_tags",
    }
)
CONFIG = parse_config(
    {
        "agents": [
            {
                "name": "ops",
                "tools": ["lookup"],
                "specialties": [{"domain": "ops", "keywords": {"latency": 1.0}}],
                "plan": [{"id": "docs", "tool": "lookup", "args": {"query": "{task}"}}],
            }
        ],
        "execution": {"max_in_flight_tasks": 3},
    }
)
SPECS = (ToolSpec("lookup", cache_tags=("docs",)), ToolSpec("shout", cacheable=False))
STAGE = StageStats("route", 4, 0.25, 0.001, 0.001, 0.002, 0.005)


class PublicOperations:
    """A ``Runtime`` stand-in with exactly the public operations the service may use; records each call."""

    __slots__ = ("_in_flight", "calls")

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._in_flight = 0

    @property
    def config(self) -> RuntimeConfig:
        return CONFIG

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def in_flight_limit(self) -> int:
        return CONFIG.execution.max_in_flight_tasks

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return SPECS

    def cache_tags(self) -> tuple[str, ...]:
        return ("docs",)

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        self.calls.append(("invalidate", tool, tag))
        return 7

    def warm(self, top_n: int | None = None) -> int:
        self.calls.append(("warm", top_n))
        return 2

    def reset_breaker(self, tool: str) -> dict[str, Any]:
        self.calls.append(("reset_breaker", tool))
        if tool not in {spec.name for spec in SPECS}:
            raise UnknownToolError(f"unknown tool {tool!r}")
        return {"name": tool, "state": "closed"}

    def breaker_snapshots(self) -> dict[str, dict[str, Any]]:
        return {spec.name: {"name": spec.name, "state": "closed"} for spec in SPECS}

    def cache_stats(self) -> dict[str, Any]:
        return {"l0": {"hits": 1, "misses": 2}}

    def bottlenecks(self) -> BottleneckReport:
        return BottleneckReport(tasks=4, task_p95_seconds=0.01, stages=(STAGE,))


@pytest.fixture()
def runtime() -> PublicOperations:
    return PublicOperations()


@pytest.fixture()
def client(runtime: PublicOperations, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.delenv(ENABLE_ENV, raising=False)
    app = create_app(cast(Runtime, runtime), ServiceSettings(admin_token=TOKEN))
    with app.test_client() as test_client:
        yield test_client


def public_names(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")} - {"calls"}


def test_the_stand_in_has_exactly_the_listed_public_operations_of_runtime(runtime: PublicOperations) -> None:
    assert public_names(runtime) == OPERATIONS
    assert all(hasattr(Runtime, name) for name in OPERATIONS)
    with pytest.raises(AttributeError):
        runtime.pipeline = object()  # type: ignore[attr-defined]


def test_the_service_protocol_asks_only_for_public_runtime_operations() -> None:
    # Beyond the admin and introspection operations: handle (POST /v1/tasks) and metrics (GET /metrics).
    assert public_names(ServiceRuntime) == OPERATIONS | {"handle", "metrics"}
    assert all(hasattr(Runtime, name) for name in public_names(ServiceRuntime))


def test_introspection_endpoints(client: FlaskClient) -> None:
    agents = client.get("/v1/agents")
    assert agents.status_code == 200, agents.text
    assert agents.json is not None
    assert [agent["name"] for agent in agents.json["agents"]] == ["ops"]
    assert agents.json["config_version"] == CONFIG.version

    tools = client.get("/v1/tools")
    assert tools.status_code == 200, tools.text
    assert tools.json is not None
    assert [(tool["name"], tool["cache_tags"]) for tool in tools.json["tools"]] == [("lookup", ["docs"]), ("shout", [])]

    bottlenecks = client.get("/v1/bottlenecks")
    assert bottlenecks.status_code == 200, bottlenecks.text
    assert bottlenecks.json is not None
    assert bottlenecks.json["tasks"] == 4
    assert [stage["stage"] for stage in bottlenecks.json["by_share"]] == ["route"]

    assert client.get("/v1/cache/stats").json == {"l0": {"hits": 1, "misses": 2}}
    breakers = client.get("/v1/breakers").json
    assert breakers is not None
    assert set(breakers["breakers"]) == {"lookup", "shout"}
    assert client.get("/healthz").json == {"status": "ok"}


def test_readiness_reads_the_runtimes_in_flight_count(client: FlaskClient, runtime: PublicOperations) -> None:
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready", "in_flight": 0, "max_in_flight_tasks": 3})

    runtime._in_flight = 3
    busy = client.get("/readyz")
    assert busy.status_code == 503
    assert busy.json is not None
    assert (busy.json["status"], busy.json["in_flight"]) == ("busy", 3)


@pytest.mark.parametrize(
    ("path", "example"),
    [("/v1/tasks", '{"task": '), ("/v1/cache/invalidate", '{"tool": ')],
)
def test_an_empty_body_is_answered_with_a_body_that_endpoint_takes(
    client: FlaskClient, path: str, example: str
) -> None:
    response = client.post(path, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json is not None
    assert response.json["error"]["code"] == "missing_body"
    assert f"e.g. {example}" in response.json["error"]["message"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1//agents"), ("POST", "//v1/tasks"), ("GET", "/v1/agents//")])
def test_doubled_slashes_are_a_json_404_not_a_redirect(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, json={"task": "x"} if method == "POST" else None)
    assert response.status_code == 404 and response.json is not None
    assert response.json["error"]["code"] == "not_found"


def test_admin_endpoints(client: FlaskClient, runtime: PublicOperations, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent_runtime.service.admin")
    by_tool = client.post("/v1/cache/invalidate", json={"tool": "lookup"}, headers=AUTH)
    assert (by_tool.status_code, by_tool.json) == (200, {"invalidated": 7, "tool": "lookup", "tag": None})
    by_tag = client.post("/v1/cache/invalidate", json={"tag": "docs"}, headers=AUTH)
    assert by_tag.status_code == 200, by_tag.text
    warmed = client.post("/v1/cache/warm", json={"top_n": 5}, headers=AUTH)
    assert (warmed.status_code, warmed.json) == (200, {"warmed": 2})
    reset = client.post("/v1/breakers/lookup/reset", headers=AUTH)
    assert reset.status_code == 200, reset.text
    assert reset.json == {"tool": "lookup", "breaker": {"name": "lookup", "state": "closed"}}

    # What on-call greps for when hit rates drop (runbooks/AgentRuntimeCacheHitRateDrop.md).
    assert [r.getMessage() for r in caplog.records if r.name == "agent_runtime.service.admin"] == [
        "cache invalidated through the admin API: tool lookup, 7 entries dropped",
        f"cache invalidated through the admin API: tag docs, {by_tag.json['invalidated']} entries dropped",
        "cache warmed through the admin API: 2 calls stored",
    ]
    assert runtime.calls == [
        ("invalidate", "lookup", None),
        ("invalidate", None, "docs"),
        ("warm", 5),
        ("reset_breaker", "lookup"),
    ]


@pytest.mark.parametrize(
    ("target", "code", "names"),
    [
        (("/v1/cache/invalidate", {"tool": "nope"}), "unknown_tool", "lookup, shout"),
        (("/v1/cache/invalidate", {"tag": "nope"}), "unknown_tag", "docs"),
        (("/v1/breakers/nope/reset", None), "unknown_tool", "lookup, shout"),
    ],
)
def test_unknown_names_are_404_naming_the_known_ones(
    client: FlaskClient, runtime: PublicOperations, target: tuple[str, dict[str, str] | None], code: str, names: str
) -> None:
    path, body = target
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 404, response.text
    assert response.json is not None
    assert response.json["error"]["code"] == code
    assert names in response.json["error"]["message"]
    assert not [call for call in runtime.calls if call[0] == "invalidate"]
