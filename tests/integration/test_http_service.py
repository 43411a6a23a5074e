"""The HTTP service over a real loopback socket: every endpoint, every bad input, admin auth."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.ops.stack.ports import free_port
from agent_runtime.service import ServiceSettings
from tests.integration.service_fixtures import (  # noqa: F401
    ADMIN_TOKEN,
    AGENTS,
    MAX_IN_FLIGHT,
    TOOLS,
    LiveService,
    live_service_fixture,
    make_live_service_fixture,
)
from tests.support.binaries import ManagedProcess, require_binary, wait_until

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED_PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def error_of(response: requests.Response, status: int, code: str) -> str:
    """Assert a JSON error with ``status`` and ``code``; its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and len(message) > 10
    return str(message)


def run_task(service: LiveService, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = service.post("/v1/tasks", json=body, **kwargs)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- tasks -----------------------------------------------------------------


def test_task_is_routed_and_runs_its_plan_in_parallel(live_service: LiveService) -> None:
    result = run_task(live_service, {"task": "why is the cache latency so high?"})
    assert result["agent"] == "ops"
    assert result["outcome"] == "success"
    assert result["decision"]["source"] in ("scored", "cache")
    assert {call["tool"]: call["outcome"] for call in result["tool_calls"]} == {
        "lookup": "success",
        "metrics": "success",
    }
    assert result["output"] == {
        "docs": "doc about why is the cache latency so high?",
        "numbers": {"p95_seconds": 0.42},
    }
    assert result["stage_seconds"]["execute"] >= 0


def test_forced_agent_and_context_reach_the_plan(live_service: LiveService) -> None:
    assert run_task(live_service, {"task": "anything", "agent": "writer"})["output"] == "ANYTHING"
    fetched = run_task(live_service, {"task": "fetch it", "agent": "fetcher", "context": {"url": "http://x"}})
    assert fetched["output"] == "doc about http://x"


def test_failing_tool_gives_200_with_the_call_marked_failed(live_service: LiveService) -> None:
    result = run_task(live_service, {"task": "explode now", "agent": "flaky"})
    assert result["outcome"] == "error"
    [call] = result["tool_calls"]
    assert call["tool"] == "explode"
    assert call["outcome"] in ("error", "short_circuited")
    assert result["output"] is None
    assert "explode" in result["error"]


def test_incoming_traceparent_becomes_the_task_trace(live_service: LiveService) -> None:
    result = run_task(live_service, {"task": "cache latency"}, headers={"traceparent": SAMPLED_PARENT})
    assert result["trace_id"] == TRACE_ID


def test_malformed_traceparent_is_ignored(live_service: LiveService) -> None:
    result = run_task(live_service, {"task": "cache latency"}, headers={"traceparent": "00-zz-not-a-trace"})
    assert result["outcome"] == "success"
    assert result["trace_id"] != TRACE_ID


# --- introspection ---------------------------------------------------------


def test_agents_lists_configured_agents_and_routing(live_service: LiveService) -> None:
    body = live_service.get("/v1/agents").json()
    assert [agent["name"] for agent in body["agents"]] == list(AGENTS)
    assert body["routing"]["fallback_chain"] == ["writer"]
    ops = body["agents"][0]
    assert ops["tools"] == ["lookup", "metrics"]
    assert ops["plan"][0] == {"id": "docs", "tool": "lookup", "args": {"query": "{task}"}, "depends_on": []}
    assert ops["specialties"][0]["keywords"]["cache"] == 1.0


def test_tools_lists_registered_tools_with_settings(live_service: LiveService) -> None:
    tools = {tool["name"]: tool for tool in live_service.get("/v1/tools").json()["tools"]}
    assert tuple(tools) == TOOLS
    assert tools["lookup"]["cache_tags"] == ["docs"]
    assert tools["lookup"]["ttl_seconds"] == 60
    assert tools["explode"]["breaker"]["consecutive_failures"] == 2


def test_bottlenecks_cache_stats_and_breakers(live_service: LiveService) -> None:
    run_task(live_service, {"task": "cache latency report"})
    report = live_service.get("/v1/bottlenecks").json()
    assert report["tasks"] >= 1
    stages = {stage["stage"] for stage in report["by_share"]}
    assert {"route", "execute"} <= stages
    assert isinstance(report["over_target"], list)
    stats = live_service.get("/v1/cache/stats")
    assert stats.status_code == 200 and isinstance(stats.json(), dict)
    breakers = live_service.get("/v1/breakers").json()["breakers"]
    assert set(breakers) == set(TOOLS)
    assert breakers["lookup"]["state"] == "closed"


def test_health_and_readiness(live_service: LiveService) -> None:
    assert live_service.get("/healthz").json() == {"status": "ok"}
    ready = live_service.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["max_in_flight_tasks"] == MAX_IN_FLIGHT


def test_at_the_in_flight_limit_readyz_is_503_and_tasks_get_429(live_service: LiveService) -> None:
    live_service.gate.reset()
    replies: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: replies.append(live_service.post("/v1/tasks", json={"task": "hold it"})))
        for _ in range(MAX_IN_FLIGHT)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: live_service.gate.waiting == MAX_IN_FLIGHT, 5, "the blocking tasks to start")
        busy = live_service.get("/readyz")
        assert busy.status_code == 503
        assert busy.json()["status"] == "busy"
        refused = live_service.post("/v1/tasks", json={"task": "cache latency"})
        assert "in-flight limit" in error_of(refused, 429, "over_capacity")
        assert refused.headers["Retry-After"] == "1"
    finally:
        live_service.gate.release()
        for thread in threads:
            thread.join(timeout=10)
    assert [reply.status_code for reply in replies] == [200] * MAX_IN_FLIGHT
    assert {reply.json()["output"] for reply in replies} == {"released"}
    assert live_service.get("/readyz").status_code == 200


# --- metrics ---------------------------------------------------------------


def test_metrics_in_text_format(live_service: LiveService) -> None:
    run_task(live_service, {"task": "cache latency"})
    response = live_service.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'agent_runtime_tasks_total{agent="ops",outcome="success"}' in response.text


def test_metrics_in_openmetrics_format_carry_trace_exemplars(live_service: LiveService) -> None:
    run_task(live_service, {"task": "cache latency exemplar"}, headers={"traceparent": SAMPLED_PARENT})
    response = live_service.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert f'# {{trace_id="{TRACE_ID}"}}' in response.text


def test_metrics_merge_worker_files_in_multiprocess_mode(
    live_service: LiveService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A separate process writes a counter the way a gunicorn worker would.
    script = "from prometheus_client import Counter\nCounter('worker_probe', 'written by another process').inc(3)\n"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = live_service.get("/metrics").text
    assert "worker_probe_total 3.0" in text
    # The in-process registry is not what a multiprocess scrape reads.
    assert "agent_runtime_tasks_total" not in text


def test_missing_multiprocess_directory_degrades_to_this_process(
    live_service: LiveService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with caplog.at_level(logging.WARNING, logger="agent_runtime.service.metrics_endpoint"):
        first = live_service.get("/metrics")
        second = live_service.get("/metrics")
    assert first.status_code == second.status_code == 200
    assert "agent_runtime_tasks_total" in first.text
    assert [r.getMessage() for r in caplog.records if "not a directory" in r.getMessage()] == [
        f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'missing'} is not a directory: /metrics serves this process's "
        "metrics only; create it or unset the variable"
    ]


# --- admin -----------------------------------------------------------------


def test_admin_needs_the_token(live_service: LiveService) -> None:
    missing = live_service.post("/v1/cache/invalidate", json={"tool": "lookup"})
    assert "Authorization: Bearer" in error_of(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = live_service.post("/v1/cache/invalidate", json={"tool": "lookup"}, headers={"Authorization": "Bearer no"})
    assert "wrong" in error_of(wrong, 401, "unauthorized")
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    basic = live_service.post("/v1/breakers/lookup/reset", headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
    error_of(basic, 401, "unauthorized")


def test_admin_disabled_without_a_token_says_how_to_enable(
    make_live_service: Callable[[ServiceSettings], LiveService],
) -> None:
    service = make_live_service(ServiceSettings(admin_token=None))
    for path in ("/v1/cache/invalidate", "/v1/cache/warm", "/v1/breakers/lookup/reset"):
        message = error_of(service.post(path, json={}, headers=AUTH), 403, "admin_disabled")
        assert "AGENT_RUNTIME_ADMIN_TOKEN" in message


def test_invalidate_by_tool_and_by_tag(live_service: LiveService) -> None:
    run_task(live_service, {"task": "cache latency invalidation"})
    by_tool = live_service.post("/v1/cache/invalidate", json={"tool": "lookup"}, headers=AUTH)
    assert by_tool.status_code == 200
    assert by_tool.json()["tool"] == "lookup" and by_tool.json()["invalidated"] >= 0
    by_tag = live_service.post("/v1/cache/invalidate", json={"tag": "docs"}, headers=AUTH)
    assert by_tag.json() == {"invalidated": by_tag.json()["invalidated"], "tool": None, "tag": "docs"}
    after = run_task(live_service, {"task": "cache latency invalidation"})
    assert next(c for c in after["tool_calls"] if c["tool"] == "lookup")["cache_layer"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tool": "nope"}, 404, "unknown_tool"),
        ({"tag": "nope"}, 404, "unknown_tag"),
        ({"tool": "lookup", "tag": "docs"}, 400, "invalid_body"),
        ({}, 400, "invalid_body"),
        ({"tool": 3}, 400, "invalid_type"),
        ({"tools": "lookup"}, 400, "unknown_field"),
    ],
)
def test_invalidate_refuses_bad_bodies(live_service: LiveService, body: dict[str, Any], status: int, code: str) -> None:
    error_of(live_service.post("/v1/cache/invalidate", json=body, headers=AUTH), status, code)


def test_warm_with_and_without_a_body(live_service: LiveService) -> None:
    run_task(live_service, {"task": "cache latency warm"})
    live_service.post("/v1/cache/invalidate", json={"tool": "lookup"}, headers=AUTH)
    warmed = live_service.post("/v1/cache/warm", json={"top_n": 5}, headers=AUTH)
    assert warmed.status_code == 200 and warmed.json()["warmed"] >= 1
    assert live_service.post("/v1/cache/warm", headers=AUTH).status_code == 200
    error_of(live_service.post("/v1/cache/warm", json={"top_n": 0}, headers=AUTH), 400, "invalid_value")
    error_of(live_service.post("/v1/cache/warm", json={"top_n": "5"}, headers=AUTH), 400, "invalid_type")
    error_of(live_service.post("/v1/cache/warm", json={"top_n": True}, headers=AUTH), 400, "invalid_type")


def test_breaker_trips_and_resets(live_service: LiveService) -> None:
    for _ in range(3):
        run_task(live_service, {"task": "explode", "agent": "flaky"})
    assert live_service.get("/v1/breakers").json()["breakers"]["explode"]["state"] == "open"
    reset = live_service.post("/v1/breakers/explode/reset", headers=AUTH)
    assert reset.status_code == 200
    assert reset.json()["breaker"]["state"] == "closed"
    assert live_service.get("/v1/breakers").json()["breakers"]["explode"]["state"] == "closed"
    error_of(live_service.post("/v1/breakers/nope/reset", headers=AUTH), 404, "unknown_tool")


# --- bad input -------------------------------------------------------------

JSON = {"Content-Type": "application/json"}
BAD_TASKS: list[tuple[str, dict[str, Any], int, str]] = [
    ("malformed JSON", {"data": b'{"task": ', "headers": JSON}, 400, "malformed_json"),
    ("NaN", {"data": b'{"task": NaN}', "headers": JSON}, 400, "malformed_json"),
    ("not UTF-8", {"data": b'{"task": "\xff\xfe"}', "headers": JSON}, 400, "malformed_json"),
    ("deep nesting", {"data": b"[" * 30000 + b"]" * 30000, "headers": JSON}, 400, "malformed_json"),
    ("huge integer", {"data": b'{"task": ' + b"9" * 5000 + b"}", "headers": JSON}, 400, "malformed_json"),
    ("array body", {"json": ["task"]}, 400, "invalid_body"),
    ("empty body", {"headers": JSON}, 400, "missing_body"),
    ("task missing", {"json": {"context": {}}}, 400, "missing_field"),
    ("task a number", {"json": {"task": 42}}, 400, "invalid_type"),
    ("task null", {"json": {"task": None}}, 400, "invalid_type"),
    ("task empty", {"json": {"task": ""}}, 400, "empty_task"),
    ("task blank", {"json": {"task": " \n\t "}}, 400, "empty_task"),
    ("task too long", {"json": {"task": "x" * 4001}}, 400, "task_too_long"),
    ("context a list", {"json": {"task": "cache", "context": ["a"]}}, 400, "invalid_type"),
    ("context a string", {"json": {"task": "cache", "context": "url=x"}}, 400, "invalid_type"),
    (
        "context too big",
        {"json": {"task": "cache", "context": {str(i): i for i in range(65)}}},
        400,
        "context_too_large",
    ),
    ("agent a number", {"json": {"task": "cache", "agent": 7}}, 400, "invalid_type"),
    ("agent empty", {"json": {"task": "cache", "agent": ""}}, 400, "invalid_value"),
    ("unknown agent", {"json": {"task": "cache", "agent": "<script>evil"}}, 400, "unknown_agent"),
    ("unknown field", {"json": {"task": "cache", "text": "cache"}}, 400, "unknown_field"),
    ("missing context key", {"json": {"task": "fetch it", "agent": "fetcher"}}, 400, "invalid_task"),
    (
        "text/plain",
        {"data": b'{"task": "cache"}', "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("form", {"data": {"task": "cache"}}, 415, "unsupported_media_type"),
    ("no content type", {"data": b'{"task": "cache"}'}, 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(("case", "kwargs", "status", "code"), BAD_TASKS, ids=[case[0] for case in BAD_TASKS])
def test_bad_task_requests_get_a_json_4xx(
    live_service: LiveService, case: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    error_of(live_service.post("/v1/tasks", **kwargs), status, code)


def test_error_messages_name_the_problem_and_the_fix(live_service: LiveService) -> None:
    unknown = error_of(live_service.post("/v1/tasks", json={"task": "x", "agent": "nope"}), 400, "unknown_agent")
    assert "'nope'" in unknown and "ops" in unknown and 'omit "agent"' in unknown
    long = error_of(live_service.post("/v1/tasks", json={"task": "x" * 5000}), 400, "task_too_long")
    assert "5000" in long and "4000" in long
    media = error_of(
        live_service.post("/v1/tasks", data=b"{}", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert "application/json" in media and "text/plain" in media
    missing = error_of(live_service.post("/v1/tasks", json={"task": "x", "agent": "fetcher"}), 400, "invalid_task")
    assert "'url'" in missing and "context" in missing
    malformed = error_of(live_service.post("/v1/tasks", data=b'{"task": }', headers=JSON), 400, "malformed_json")
    assert "line 1 column" in malformed


def test_body_over_the_limit_is_413(make_live_service: Callable[[ServiceSettings], LiveService]) -> None:
    service = make_live_service(ServiceSettings(admin_token=ADMIN_TOKEN, max_body_bytes=1024))
    body = json.dumps({"task": "x" * 2000}).encode()
    message = error_of(service.post("/v1/tasks", data=body, headers=JSON), 413, "payload_too_large")
    assert "1024 bytes" in message
    chunked = service.post("/v1/tasks", data=iter([body[:1000], body[1000:]]), headers=JSON)
    error_of(chunked, 413, "payload_too_large")
    assert service.post("/v1/tasks", json={"task": "cache latency"}).status_code == 200


def test_unknown_routes_and_wrong_methods_are_json(live_service: LiveService) -> None:
    assert "/openapi.json" in error_of(live_service.get("/v1/nope"), 404, "not_found")
    assert "/openapi.json" in error_of(live_service.get("/"), 404, "not_found")
    wrong = live_service.get("/v1/tasks")
    assert error_of(wrong, 405, "method_not_allowed") == "GET is not allowed on /v1/tasks; use POST"
    assert "POST" in wrong.headers["Allow"]
    error_of(live_service.request("DELETE", "/healthz"), 405, "method_not_allowed")
    error_of(live_service.request("PUT", "/v1/cache/invalidate", headers=AUTH), 405, "method_not_allowed")


def test_internal_error_is_a_500_without_the_traceback(
    live_service: LiveService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(live_service.runtime, "bottlenecks", explode)
    with caplog.at_level(logging.ERROR, logger="agent_runtime.service.errors"):
        response = live_service.get("/v1/bottlenecks")
    message = error_of(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "logged" in message
    assert any("secret internal detail" in (record.exc_text or "") for record in caplog.records)


def test_bad_input_adds_no_metric_label_values(live_service: LiveService) -> None:
    hostile = ["<script>", "../../etc/passwd", "x" * 300, "ops\n", "OPS", "other", "none"]
    for name in hostile:
        live_service.post("/v1/tasks", json={"task": "cache", "agent": name})
        live_service.post(f"/v1/breakers/{quote(name, safe='')}/reset", headers=AUTH)
        live_service.post("/v1/cache/invalidate", json={"tool": name}, headers=AUTH)
        live_service.post("/v1/tasks", data=name.encode(), headers=JSON)
    for case in BAD_TASKS:
        assert live_service.post("/v1/tasks", **case[1]).status_code < 500
    known = {"agent": {*AGENTS, "none", "other"}, "tool": {*TOOLS, "other"}, "breaker": {*TOOLS, "other"}}
    seen: dict[str, set[str]] = {label: set() for label in known}
    for family in text_string_to_metric_families(live_service.get("/metrics").text):
        for sample in family.samples:
            for label, values in seen.items():
                if label in sample.labels:
                    values.add(sample.labels[label])
    for label, values in seen.items():
        assert values <= known[label], (label, values - known[label])
    assert seen["agent"] and seen["tool"]


# --- OpenAPI ---------------------------------------------------------------


def test_openapi_document_validates_and_lists_every_route(live_service: LiveService) -> None:
    document = live_service.get("/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    routes = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in live_service.app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["summary"]
            assert {"200", "201"} & set(operation["responses"])
            assert "default" in operation["responses"]


# --- agent-runtime serve -----------------------------------------------------

SERVE_CONFIG = """
agents:
  - name: merger
    tools: [merge_results]
    specialties: [{domain: merging, keywords: {merge: 1.0}}]
    plan: [{id: merged, tool: merge_results, args: {results: [], top_k: 3}}]
"""


def test_agent_runtime_serve_runs_the_service_under_gunicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_binary("gunicorn")
    config = tmp_path / "agents.yaml"
    config.write_text(SERVE_CONFIG)
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_PATHS", str(tmp_path))
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_INDEX", str(tmp_path / "index.sqlite3"))
    monkeypatch.setenv("AGENT_RUNTIME_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    url = f"http://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "agent_runtime.cli.main", "serve", "--workers", "2", "--bind", url[7:]]
    process = ManagedProcess([*argv, "--config", str(config)], tmp_path / "serve.log")
    try:
        wait_until(lambda: requests.get(url + "/readyz", timeout=2).ok, 60, "agent-runtime serve to be ready")
        result = requests.post(url + "/v1/tasks", json={"task": "merge please"}, timeout=10).json()
        assert (result["agent"], result["outcome"], result["output"]) == ("merger", "success", [])
        invalidated = requests.post(url + "/v1/cache/invalidate", json={"tag": "corpus"}, headers=AUTH, timeout=10)
        assert invalidated.status_code == 200
        wait_until(
            lambda: (
                'agent_runtime_tasks_total{agent="merger",outcome="success"} 1.0'
                in requests.get(url + "/metrics", timeout=2).text
            ),
            10,
            "the task to be counted in the merged worker metrics",
        )
    except BaseException:
        print(process.log())
        raise
    finally:
        process.stop()
