"""The PromQL tools against a real Prometheus."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agent_runtime.builtin_tools import BuiltinToolSettings, register_builtin_tools
from agent_runtime.builtin_tools.promql import PrometheusClient
from agent_runtime.errors import RetryableToolError, ToolError
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.registry import ToolRegistry
from agent_runtime.telemetry.listener import RuntimeListener
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(prometheus: PrometheusServer) -> Iterator[PrometheusClient]:
    promql = PrometheusClient(prometheus.url, read_timeout_seconds=2.5)  # fractional: sent as 2.5
    yield promql
    promql.close()


def test_up_is_a_vector_with_value_one(client: PrometheusClient, prometheus: PrometheusServer) -> None:
    result = client.query("up")
    assert result["resultType"] == "vector"
    assert result["truncated"] is False
    [series] = result["result"]
    assert series["metric"] == {"__name__": "up", "instance": f"127.0.0.1:{prometheus.port}", "job": "prometheus"}
    assert series["value"] == 1.0
    assert abs(series["timestamp"] - time.time()) < 60


def test_query_at_a_relative_time_and_a_scalar(client: PrometheusClient) -> None:
    assert client.query("1 + 1", time="now-10s")["result"]["value"] == 2.0


def test_range_query_returns_a_matrix_of_samples(client: PrometheusClient, prometheus: PrometheusServer) -> None:
    prometheus.wait_for("count_over_time(up[10s]) >= 2")
    result = client.query_range("up", start="now-10s", end="now", step="1s")
    assert result["resultType"] == "matrix"
    [series] = result["result"]
    assert series["metric"]["job"] == "prometheus"
    assert len(series["values"]) >= 2
    assert {value for _, value in series["values"]} == {1.0}


def test_bad_query_is_a_tool_error_with_prometheus_parse_message(client: PrometheusClient) -> None:
    with pytest.raises(ToolError) as raised:
        client.query("sum(up{job=")
    assert not isinstance(raised.value, RetryableToolError)
    message = str(raised.value)
    assert message.startswith("bad_data: ")
    assert "parse error" in message


def test_invalid_time_parameter_is_rejected_by_prometheus(client: PrometheusClient) -> None:
    with pytest.raises(ToolError, match=r"^bad_data: .*time"):
        client.query("up", time="2024-13-45T99:00:00Z")


def test_closed_port_is_retryable() -> None:
    closed = PrometheusClient(f"http://127.0.0.1:{free_port()}", connect_timeout_seconds=1.0)
    try:
        with pytest.raises(RetryableToolError, match="unreachable"):
            closed.query("up")
    finally:
        closed.close()


def test_registered_tools_query_the_configured_prometheus(prometheus: PrometheusServer) -> None:
    registry = ToolRegistry()
    register_builtin_tools(
        registry, BuiltinToolSettings(corpus_paths=(), prometheus_url=prometheus.url), RuntimeListener()
    )
    instant = registry.get("promql_query").func(query='up{job="prometheus"}')
    assert instant["result"][0]["value"] == 1.0
    ranged = registry.get("promql_range_query").func(query="up", start="now-5s", end="now", step="1s")
    assert ranged["resultType"] == "matrix"
