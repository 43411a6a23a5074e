"""The stack without Prometheus binaries: runtime, receiver and workload run, the CLI reports and stops them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent_runtime.cli import stack_cmd
from agent_runtime.ops.stack import launcher
from agent_runtime.ops.stack.launcher import INSTALL_HINT, Stack, StackOptions
from agent_runtime.ops.stack.processes import free_port
from agent_runtime.ops.stack.render import Ports
from tests.support.binaries import require_binary


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
    with pytest.raises(launcher.StackError, match="already running"):
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
    # Ports of its own, free right now, so the run does not depend on 8000 or 9095 being free.
    monkeypatch.setattr(launcher, "PREFERRED_PORTS", Ports(free_port(), free_port(), free_port(), free_port()))
    code = stack_cmd.main(["up", "--duration", "3", "--workers", "1", "--rate", "5", "--root", str(tmp_path),
                           "--state-dir", str(tmp_path / "state")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert "agent runtime stack is up" in out.out and "Stop with Ctrl-C" in out.out
    assert "stopping the stack: ran for 3s" in out.err
    assert "alert deliveries: none" in out.out
    assert "workload: " in out.out and "errors" in out.out
    assert not (tmp_path / "state" / "stack.json").exists()
