"""``cache``, ``breakers`` and ``bottlenecks`` against a real service on a loopback port."""

from __future__ import annotations

import json

import pytest
import requests

from agent_runtime.cli.main import main
from agent_runtime.ops.stack.ports import free_port
from tests.integration.service_fixtures import ADMIN_TOKEN, TOOLS, LiveService, live_service_fixture  # noqa: F401


@pytest.fixture()
def service(live_service: LiveService, monkeypatch: pytest.MonkeyPatch) -> LiveService:
    """The live service, with AGENT_RUNTIME_URL pointing at it and one task run."""
    monkeypatch.setenv("AGENT_RUNTIME_URL", live_service.url)
    assert requests.post(live_service.url + "/v1/tasks", json={"task": "cache latency"}, timeout=10).ok
    return live_service


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agent-runtime: error: "), captured.err
    return lines[0]


def test_cache_stats_text_and_json(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert isinstance(stats, dict) and set(stats) == set(service.get("/v1/cache/stats").json())
    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert out.strip() and all(":" in line for line in out.splitlines())


def test_cache_invalidate_by_tool_and_tag(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "invalidate", "--tool", "lookup", "--token", ADMIN_TOKEN]) == 0
    assert capsys.readouterr().out.startswith("invalidated ")
    assert main(["cache", "invalidate", "--tag", "docs", "--token", ADMIN_TOKEN, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tag"] == "docs"


def test_token_from_the_environment(
    service: LiveService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_ADMIN_TOKEN", ADMIN_TOKEN)
    assert main(["cache", "invalidate", "--tool", "lookup"]) == 0
    assert "cached entries of tool lookup" in capsys.readouterr().out


def test_missing_token_is_one_line_with_a_hint(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "invalidate", "--tool", "lookup"]) == 1
    line = one_error_line(capsys)
    assert f"POST {service.url}/v1/cache/invalidate: 401 unauthorized" in line
    assert "pass --token or set $AGENT_RUNTIME_ADMIN_TOKEN" in line


def test_wrong_token_is_one_line(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["breakers", "reset", "lookup", "--token", "wrong"]) == 1
    assert "401 unauthorized" in one_error_line(capsys)


def test_unknown_tool_shows_the_service_message(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "invalidate", "--tool", "nope", "--token", ADMIN_TOKEN]) == 1
    line = one_error_line(capsys)
    assert ": 404: unknown tool 'nope'; registered tools: " in line


def test_cache_warm_shows_progress(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "warm", "--top-n", "3", "--token", ADMIN_TOKEN]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("warmed ")
    assert "warming the cache" in captured.err


def test_breakers_table_and_reset(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["breakers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["breaker", "state", "failures"]
    assert [line.split()[0] for line in lines[1:]] == list(TOOLS)
    assert main(["breakers", "reset", "lookup", "--token", ADMIN_TOKEN]) == 0
    assert capsys.readouterr().out.strip() == "breaker of lookup reset: closed"
    assert main(["breakers", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(TOOLS)


def test_breakers_reset_needs_a_tool(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["breakers", "reset", "--token", ADMIN_TOKEN]) == 1
    assert "needs the tool name" in one_error_line(capsys)


def test_bottlenecks_table_and_json(service: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bottlenecks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "tasks, task p95" in lines[0]
    assert lines[1].split()[:5] == ["stage", "share", "p50", "p95", "target"]
    assert main(["bottlenecks", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks"] >= 1


def test_service_down_is_one_line_naming_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (["bottlenecks"], ["breakers"], ["cache", "stats"]):
        assert main([*argv, "--url", url]) == 1
        line = one_error_line(capsys)
        assert f"cannot reach the agent-runtime service at {url}" in line
        assert "agent-runtime serve" in line


def test_bad_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["breakers", "--url", "ftp://example.org"]) == 1
    assert "--url must be an http:// or https:// URL" in one_error_line(capsys)
    assert main(["cache", "stats", "--url", "http://[::1"]) == 1
    assert "--url is not a valid URL (Invalid IPv6 URL)" in one_error_line(capsys)


@pytest.mark.parametrize("timeout", ["inf", "1e400", "nan", "0"])
def test_a_timeout_must_be_a_finite_positive_number(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "stats", "--timeout", timeout, "--url", "http://127.0.0.1:1"]) == 2
    assert f"argument --timeout: must be a finite number > 0, got {timeout}" in capsys.readouterr().err
