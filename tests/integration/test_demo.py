"""``scripts/demo`` as the README runs it, on this machine: stack, model, drill, summary, exit 0.

It installs what is missing with apt-get when it runs as root, so the test runs where the suite is
root (CI is); elsewhere docs/stack.md has the manual check on a machine without Prometheus. One
minute of workload (``DEMO_SECONDS=60``) is enough for everything the summary reports: the drill
alone waits for its alert to be delivered and resolved.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.llama import require_local_model

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

SECTIONS = ("== summary:", "Tasks by agent and outcome", "p95 by stage", "Caches: hit ratio",
            "Circuit breakers (worst worker)", "Alerts", "Open")  # fmt: skip


def test_the_demo_sets_itself_up_drills_and_ends_with_a_summary(repo_root: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("scripts/demo installs system packages as root; docs/stack.md has the manual check")
    for binary in ("prometheus", "prometheus-alertmanager", "redis-server", "agent-runtime"):
        require_binary(binary)
    require_local_model()
    env = {**os.environ, "DEMO_SECONDS": "60", "DEMO_KEEP": "0"}
    done = subprocess.run(["bash", "scripts/demo"], cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=450, check=False)  # fmt: skip
    out = done.stdout
    (tmp_path / "demo.out").write_text(out + done.stderr)  # kept by pytest for a look after a failure
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    for section in SECTIONS:
        assert section in out, f"no {section!r} in the demo's output:\n{out[-4000:]}"
    # The drill: its alert fired, reached the ticket receiver and resolved after the clear.
    assert re.search(r"AgentRuntimeCircuitBreakerOpen\{breaker=promql_query\} warning -> ticket: pending "
                     r"\+[\d.]+s, firing \+[\d.]+s, delivered \+[\d.]+s after the fault; resolved \+[\d.]+s "
                     r"after the clear", out), out[-4000:]  # fmt: skip
    # The LLM agent answered with the real model, through its tools.
    match = re.search(r"LLM agent \(investigator, (\d+) model turns, tools .*, stop reason (\w+), ", out)
    assert match is not None, out[-4000:]
    assert int(match.group(1)) >= 1 and match.group(2) in ("final", "forced_final"), match.group(0)
    assert re.search(r"  A: \S", out), out[-4000:]
    # Where to see its trace and its model metrics.
    assert re.search(r"  trace [0-9a-f]{32}: ", out), out[-4000:]
    assert "/graph?g0.expr=gen_ai_client_operation_duration_seconds_count" in out
    assert "== stack stopped" in out
