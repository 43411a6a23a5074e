"""``agent-runtime serve``: the gunicorn command line, the dev server and early errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from agent_runtime.cli.common import CliError
from agent_runtime.cli.main import main
from agent_runtime.cli.serve_cmd import parse_bind
from agent_runtime.ops.stack.ports import free_port, port_in_use


class Exec:
    """Stands in for ``os.execv``: records the command instead of replacing the process."""

    def __init__(self) -> None:
        self.argv: list[str] = []

    def __call__(self, path: str, argv: list[str]) -> None:
        assert path == argv[0]
        self.argv = list(argv)


@pytest.fixture()
def execv(monkeypatch: pytest.MonkeyPatch) -> Exec:
    recorder = Exec()
    monkeypatch.setattr(os, "execv", recorder)
    return recorder


def test_gunicorn_command_line(execv: Exec, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "3", "--bind", "0.0.0.0:9000"]) == 0
    argv = execv.argv
    assert argv[:3] == [sys.executable, "-m", "gunicorn"]
    conf = Path(argv[argv.index("-c") + 1])
    assert conf.name == "gunicorn_conf.py" and conf.parent.name == "serving" and conf.is_file()
    assert "agent_runtime.serving.wsgi:app" in argv
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:9000"
    assert "starting gunicorn on 0.0.0.0:9000 with 3 workers" in capsys.readouterr().err


@pytest.mark.parametrize("workers", ["0", "abc"])
def test_a_bad_web_concurrency_is_an_error_of_serve_only_and_names_the_variable(
    execv: Exec, workers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", workers)
    assert main(["serve"]) == 1 and execv.argv == []
    assert "$WEB_CONCURRENCY must be" in capsys.readouterr().err  # the variable is named, not --workers
    assert main(["agents"]) == 0  # other commands do not read it
    assert main(["serve", "--workers", "3"]) == 0 and execv.argv[execv.argv.index("--workers") + 1] == "3"


def test_bad_service_settings_fail_before_gunicorn_starts(
    execv: Exec, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_MAX_BODY_BYTES", "abc")
    assert main(["serve"]) == 1
    assert execv.argv == []
    assert "AGENT_RUNTIME_MAX_BODY_BYTES: must be an integer, got 'abc'; fix it in the environment" in (
        capsys.readouterr().err
    )


def test_config_reaches_the_workers_as_an_absolute_path(
    execv: Exec, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config_file.parent)
    monkeypatch.setenv("AGENT_RUNTIME_CONFIG", "restored after the test")
    assert main(["serve", "--config", config_file.name]) == 0
    assert os.environ["AGENT_RUNTIME_CONFIG"] == str(config_file)


def test_bad_config_fails_before_gunicorn_starts(
    execv: Exec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: {}\n")
    assert main(["serve", "--config", str(bad)]) == 1
    assert execv.argv == []
    [line] = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("…")]
    assert line == (
        f"agent-runtime: error: {bad}: agents: must be a list, got dict; fix agents in that file; "
        "the server was not started"
    )


def test_dev_server_runs_the_app_on_the_bind_address(
    monkeypatch: pytest.MonkeyPatch, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(app: Flask, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(Flask, "run", fake_run)
    assert main(["serve", "--dev", "--bind", "127.0.0.1:8123", "--config", str(config_file)]) == 0
    [call] = calls
    assert (call["host"], call["port"], call["threaded"], call["use_reloader"]) == ("127.0.0.1", 8123, True, False)
    assert "/v1/tasks" in {rule.rule for rule in call["app"].url_map.iter_rules()}
    assert "serving on http://127.0.0.1:8123" in capsys.readouterr().err


def test_dev_server_with_a_bad_bind_is_one_line(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--dev", "--bind", "localhost", "--config", str(config_file)]) == 1
    assert capsys.readouterr().err.strip() == (
        "agent-runtime: error: --bind must be HOST:PORT with a port from 1 to 65535, got 'localhost'"
    )


@pytest.mark.parametrize(
    ("bind", "expected"),
    [("127.0.0.1:8000", ("127.0.0.1", 8000)), ("[::1]:80", ("::1", 80)), ("0.0.0.0:65535", ("0.0.0.0", 65535))],
)
def test_parse_bind(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["8000", ":8000", "host:", "host:0", "host:70000", "host:http"])
def test_parse_bind_refuses(bind: str) -> None:
    with pytest.raises(CliError, match="HOST:PORT"):
        parse_bind(bind)


UNKNOWN_TOOL_CONFIGS = {
    "agents.fetcher.tools": """
agents:
  - name: fetcher
    tools: [extractive_summary, no_such_tool]
    specialties: [{domain: web, keywords: {fetch: 1.0}}]
    plan: [{id: page, tool: extractive_summary, args: {text: "{task}"}}]
""",
    "agents.fetcher.plan[1].tool": """
agents:
  - name: fetcher
    specialties: [{domain: web, keywords: {fetch: 1.0}}]
    plan:
      - {id: page, tool: extractive_summary, args: {text: "{task}"}}
      - {id: more, tool: no_such_tool, args: {}}
""",
}


@pytest.mark.parametrize("key", sorted(UNKNOWN_TOOL_CONFIGS))
def test_unknown_tools_fail_serve_before_gunicorn_starts(
    key: str, execv: Exec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN_TOOL_CONFIGS[key])
    assert main(["serve", "--config", str(bad)]) == 1
    assert execv.argv == []
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("…")]
    assert errors == [
        f"agent-runtime: error: {bad}: {key}: unknown tool 'no_such_tool'; name a registered tool there or "
        "remove it (`agent-runtime tools` lists the registered tools; built-in ones may need their "
        "AGENT_RUNTIME_* settings); the server was not started"
    ]


def test_a_real_serve_with_an_unknown_tool_exits_with_one_line_and_no_gunicorn(
    tmp_path: Path, isolated_corpus: Path
) -> None:
    """``agent-runtime serve`` as run from a shell: gunicorn used to start and its workers to die at boot."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNKNOWN_TOOL_CONFIGS["agents.fetcher.tools"])
    port = free_port()
    argv = [sys.executable, "-m", "agent_runtime.cli.main", "serve", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
    done = subprocess.run(
        [*argv, "--config", str(bad)], capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("…")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"agent-runtime: error: {bad}: agents.fetcher.tools: unknown tool 'no_such_tool'; ")
    assert "gunicorn" not in done.stderr.replace("the server was not started", "")
    assert "Worker failed to boot" not in done.stderr and "Booting worker" not in done.stderr
    assert not port_in_use(port)
