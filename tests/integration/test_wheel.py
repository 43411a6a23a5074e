"""A wheel built from the checkout works outside it: default configuration and search corpus ship inside."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROBE = """
import agent_runtime
from agent_runtime.bootstrap import build_runtime
assert "site-packages" in agent_runtime.__file__, agent_runtime.__file__
runtime = build_runtime(metrics_registry=None)
result = runtime.handle("how does the circuit breaker work?")
runtime.close()
passages = result.output["runbooks"]
print(result.agent, passages[0]["path"])
"""


def test_an_installed_wheel_routes_and_searches_its_shipped_corpus(repo_root: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo_root)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    venv = tmp_path / "venv"
    # The venv sees the dependencies already installed here; only the package comes from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("agent_runtime-*.whl"))
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=120)
    done = subprocess.run(
        [python, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["diagnostics", "runbooks/AgentRuntimeCircuitBreakerOpen.md"]
