"""``agent-runtime run``: one task in process, readable and JSON output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_runtime.cli.main import main

TEXT = "Summarise this. The cache hit rate dropped after the deploy flushed the cache. Lunch was good."


def stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The last stderr line, after checking there is no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_json_output_has_the_decision_calls_and_output(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", TEXT, "--json", "--config", str(config_file)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["agent"] == "summariser"
    assert result["outcome"] == "success"
    assert result["decision"]["source"] == "scored"
    [call] = result["tool_calls"]
    assert (call["tool"], call["outcome"], call["attempts"]) == ("extractive_summary", "success", 1)
    assert result["output"]["summary"] == "The cache hit rate dropped after the deploy flushed the cache."
    assert "running the task" in captured.err


def test_readable_output_shows_agent_calls_and_output(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", TEXT, "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("agent:       summariser (confidence ")
    assert lines[1].startswith("why:         domain text")
    assert lines[2].startswith("outcome:     success in ")
    call_line = next(line for line in lines if "extractive_summary" in line)
    assert call_line.split()[:4] == ["✓", "summary", "extractive_summary", "success"]
    assert "cache=miss" in call_line and "attempts=1" in call_line
    assert "output:" in lines
    assert "The cache hit rate dropped" in out


def test_forced_agent_and_context(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "fetch it", "--agent", "fetcher", "--context", "url=Docs are here. They are good docs."]
    assert main([*argv, "--json", "--config", str(config_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["agent"] == "fetcher"
    assert result["output"]["total_sentences"] == 2


def test_failed_task_prints_the_result_and_exits_1(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "explode please", "--agent", "broken", "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    assert "outcome:     error" in out
    call_line = next(line for line in out.splitlines() if line.lstrip().startswith("✗"))
    assert call_line.split()[:4] == ["✗", "boom", "extractive_summary", "error"]
    assert "max_sentences must be between 1 and" in call_line
    assert "(none)" in out


def test_unknown_agent_is_one_line(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x", "--agent", "nope", "--config", str(config_file)]) == 1
    line = stderr_line(capsys)
    assert line == "agent-runtime: error: unknown agent 'nope'; configured agents: summariser, fetcher, broken"


def test_missing_context_key_says_how_to_pass_it(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "fetch it", "--agent", "fetcher", "--config", str(config_file)]) == 1
    line = stderr_line(capsys)
    assert "'url'" in line and "--context KEY=VALUE" in line


def test_empty_task_is_refused(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "  ", "--config", str(config_file)]) == 1
    assert "task text is empty" in stderr_line(capsys)


def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools:\n  extractive_summary:\n    timeout_seconds: -1\n")
    assert main(["run", "x", "--config", str(bad)]) == 1
    line = stderr_line(capsys)
    assert line == f"agent-runtime: error: {bad}: tools.extractive_summary.timeout_seconds: must be > 0, got -1"


def test_missing_config_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["run", "x", "--config", str(missing)]) == 1
    line = stderr_line(capsys)
    assert str(missing) in line and "cannot read" in line


def test_config_from_the_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_CONFIG", str(config_file))
    assert main(["run", TEXT, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["agent"] == "summariser"
