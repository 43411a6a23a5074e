"""PromQL tools without a Prometheus: argument handling, result compaction, error mapping.

The real thing is exercised in tests/integration/test_promql_tool.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from agent_runtime.builtin_tools.promql import PrometheusClient, compact, parse_duration, resolve_time
from agent_runtime.errors import RetryableToolError, ToolError
from tests.unit.builtin_tools.conftest import LoopbackServer, Reply, SeenRequest

JSON = {"Content-Type": "application/json"}


def prom_reply(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), JSON)


@pytest.fixture()
def client(http_server: LoopbackServer) -> Iterator[PrometheusClient]:
    prometheus = PrometheusClient(http_server.url(""), read_timeout_seconds=0.5, max_series=2)
    yield prometheus
    prometheus.close()


def _form(request: SeenRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def test_instant_query_posts_a_form_and_compacts_the_vector(
    client: PrometheusClient, http_server: LoopbackServer
) -> None:
    http_server.routes["/api/v1/query"] = lambda _: prom_reply(
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.5, "1"]}],
            },
        },
    )
    assert client.query("up", time=1700000000) == {
        "resultType": "vector",
        "series": 1,
        "truncated": False,
        "result": [{"metric": {"__name__": "up", "job": "a"}, "value": 1.0, "timestamp": 1700000000.5}],
    }
    [request] = http_server.requests
    assert request.method == "POST"
    assert _form(request) == {"query": "up", "time": "1700000000.000", "timeout": "0.5"}


def test_range_query_sends_start_end_and_step(client: PrometheusClient, http_server: LoopbackServer) -> None:
    http_server.routes["/api/v1/query_range"] = lambda _: prom_reply(
        200, {"status": "success", "data": {"resultType": "matrix", "result": []}}
    )
    result = client.query_range("rate(x[1m])", start="2024-01-01T00:00:00Z", end=1704067260, step="30s")
    assert result == {"resultType": "matrix", "series": 0, "truncated": False, "result": []}
    form = _form(http_server.requests[0])
    assert (form["start"], form["end"], form["step"]) == ("2024-01-01T00:00:00Z", "1704067260.000", "30.000")


def test_prometheus_error_is_a_tool_error_with_its_own_message(
    client: PrometheusClient, http_server: LoopbackServer
) -> None:
    http_server.routes["/api/v1/query"] = lambda _: prom_reply(
        400, {"status": "error", "errorType": "bad_data", "error": "1:4: parse error: unexpected end of input"}
    )
    with pytest.raises(ToolError, match=r"^bad_data: 1:4: parse error: unexpected end of input$") as raised:
        client.query("up{")
    assert not isinstance(raised.value, RetryableToolError)


@pytest.mark.parametrize(
    ("status", "error_type"), [(503, "timeout"), (422, "timeout"), (503, "unavailable"), (500, "internal")]
)
def test_transient_prometheus_errors_are_retryable(
    client: PrometheusClient, http_server: LoopbackServer, status: int, error_type: str
) -> None:
    http_server.routes["/api/v1/query"] = lambda _: prom_reply(
        status, {"status": "error", "errorType": error_type, "error": "query timed out"}
    )
    with pytest.raises(RetryableToolError, match=f"{error_type}: query timed out"):
        client.query("up")


def test_non_json_5xx_is_retryable_and_non_json_4xx_is_not(
    client: PrometheusClient, http_server: LoopbackServer
) -> None:
    http_server.routes["/api/v1/query"] = lambda _: Reply(502, b"<html>bad gateway</html>", {})
    with pytest.raises(RetryableToolError, match="HTTP 502"):
        client.query("up")
    http_server.routes["/api/v1/query"] = lambda _: Reply(404, b"no such page", {})
    with pytest.raises(ToolError, match="HTTP 404") as raised:
        client.query("up")
    assert not isinstance(raised.value, RetryableToolError)


def test_slow_prometheus_times_out_as_retryable(client: PrometheusClient, http_server: LoopbackServer) -> None:
    http_server.routes["/api/v1/query"] = lambda _: Reply(200, b"{}", JSON, delay_seconds=2.0)
    with pytest.raises(RetryableToolError, match="timed out"):
        client.query("up")


def test_compact_truncates_and_keeps_non_finite_values_as_strings() -> None:
    data = {
        "resultType": "matrix",
        "result": [
            {"metric": {"i": "0"}, "values": [[1, "0.5"], [2, "NaN"]]},
            {"metric": {"i": "1"}, "values": [[1, "+Inf"]]},
            {"metric": {"i": "2"}, "values": [[1, "3"]]},
        ],
    }
    assert compact(data, max_series=2) == {
        "resultType": "matrix",
        "series": 3,
        "truncated": True,
        "result": [
            {"metric": {"i": "0"}, "values": [[1.0, 0.5], [2.0, "NaN"]]},
            {"metric": {"i": "1"}, "values": [[1.0, "+Inf"]]},
        ],
    }


def test_compact_scalar_and_string() -> None:
    assert compact({"resultType": "scalar", "result": [5, "2"]}, 10) == {
        "resultType": "scalar",
        "result": {"value": 2.0, "timestamp": 5.0},
    }
    assert compact({"resultType": "string", "result": [5, "hi"]}, 10)["result"] == {"value": "hi", "timestamp": 5.0}


def test_malformed_success_response_is_a_tool_error(client: PrometheusClient, http_server: LoopbackServer) -> None:
    http_server.routes["/api/v1/query"] = lambda _: prom_reply(
        200, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}
    )
    with pytest.raises(ToolError, match="malformed Prometheus response"):
        client.query("up")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800), ("1.5m", 90)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "1h 30m", "m5"])
def test_bad_durations_are_tool_errors(text: str) -> None:
    with pytest.raises(ToolError, match="invalid duration"):
        parse_duration(text)


def test_resolve_time_forms() -> None:
    now = 1_000_000.0
    assert resolve_time("time", "now", now) == "1000000.000"
    assert resolve_time("time", "now-1h", now) == "996400.000"
    assert resolve_time("time", " now - 5m ", now) == "999700.000"
    assert resolve_time("time", 12.5, now) == "12.500"
    assert resolve_time("time", "12", now) == "12.000"
    assert resolve_time("time", "2024-01-01T00:00:00Z", now) == "2024-01-01T00:00:00Z"
    for bad in ("yesterday", "now+1h", True, [1], float("nan")):
        with pytest.raises(ToolError, match="time"):
            resolve_time("time", bad, now)


@pytest.mark.parametrize("step", [0, -5, "0s", "fast", None])
def test_bad_steps_are_refused_before_any_request(
    client: PrometheusClient, http_server: LoopbackServer, step: object
) -> None:
    with pytest.raises(ToolError):
        client.query_range("up", start="now-1h", end="now", step=step)
    assert http_server.requests == []


def test_repr_names_the_server(client: PrometheusClient, http_server: LoopbackServer) -> None:
    assert repr(client) == f"PrometheusClient('http://127.0.0.1:{http_server.port}')"
