"""Generation: committed artifacts are current, drift is detected, the CLI behaves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observability.__main__ import main
from observability.generate import MANAGED, drift, write


def _copy_managed(repo_root: Path, target: Path) -> None:
    for directory in MANAGED:
        shutil.copytree(repo_root / directory, target / directory)
    shutil.copy(repo_root / "pyproject.toml", target / "pyproject.toml")


def test_committed_artifacts_are_byte_identical_to_a_fresh_render(
    artifacts: dict[str, str], repo_root: Path
) -> None:
    assert drift(repo_root, artifacts) == []
    for relative, text in artifacts.items():
        assert (repo_root / relative).read_bytes() == text.encode("utf-8"), relative


def test_rendering_is_deterministic(artifacts: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path, artifacts)
    assert drift(tmp_path, artifacts) == []
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(artifacts)


def test_drift_reports_changed_missing_and_stale_files(artifacts: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path, artifacts)
    (tmp_path / "prometheus/rules/alerts.yml").write_text("groups: []\n")
    (tmp_path / "runbooks/AgentRuntimeDown.md").unlink()
    (tmp_path / "runbooks/AgentRuntimeRemoved.md").write_text("# gone\n")
    assert drift(tmp_path, artifacts) == [
        "out of date: prometheus/rules/alerts.yml",
        "missing: runbooks/AgentRuntimeDown.md",
        "stale (not generated): runbooks/AgentRuntimeRemoved.md",
    ]
    changes = write(tmp_path, artifacts)
    assert "deleted runbooks/AgentRuntimeRemoved.md" in changes
    assert drift(tmp_path, artifacts) == []


def test_cli_check_passes_on_the_repository(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--check", "--root", str(repo_root)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_check_fails_on_drift_and_generate_repairs_it(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _copy_managed(repo_root, tmp_path)
    dashboard = tmp_path / "grafana/dashboards/overview.json"
    dashboard.write_text(dashboard.read_text().replace("Task rate", "Task Rate"))
    assert main(["generate", "--check", "--root", str(tmp_path)]) == 1
    assert "out of date: grafana/dashboards/overview.json" in capsys.readouterr().err
    assert main(["generate", "--root", str(tmp_path)]) == 0
    assert main(["generate", "--check", "--root", str(tmp_path)]) == 0


def test_cli_runbook_base_url_changes_annotations(repo_root: Path, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    assert main(["generate", "--root", str(tmp_path), "--runbook-base-url", "https://wiki.example/rb"]) == 0
    alerts = (tmp_path / "prometheus/rules/alerts.yml").read_text()
    assert "runbook_url: https://wiki.example/rb/AgentRuntimeDown.md" in alerts
    assert main(["generate", "--check", "--root", str(repo_root), "--runbook-base-url", "https://x"]) == 1


def test_cli_time_scale_writes_only_scaled_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scaled"
    assert main(["generate", "--time-scale", "60", "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alerts.yml", "recording.yml"]
    text = (out / "alerts.yml").read_text()
    assert "job:agent_runtime_task_errors:ratio_rate1h > 0.144" in text  # names keep their windows
    assert "for: 500ms" in text and "[5s]" in (out / "recording.yml").read_text()
    assert str(out / "alerts.yml") in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--time-scale", "60"],
        ["generate", "--time-scale", "0", "--output-dir", "x"],
        ["generate", "--time-scale", "60", "--output-dir", "x", "--check"],
        ["generate", "--output-dir", "x"],
        ["generate", "--root", "/"],
        [],
    ],
)
def test_cli_rejects_inconsistent_options(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
