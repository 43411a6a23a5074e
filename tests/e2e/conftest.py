"""One live stack for the whole e2e session: runtime (gunicorn), Prometheus, Alertmanager, receiver, workload.

Rules are time-scaled by ``TIME_SCALE`` (a ``5m`` window is 5 s, ``for: 15m``
is 15 s), Prometheus scrapes and evaluates every second and Alertmanager's
grouping timings are scaled the same way, so every alert can be proven in
seconds. The runtime runs the bundled agents under gunicorn with the changes
``tests/e2e/live.py`` explains: one worker with 32 threads, an in-flight
limit of 24 below them, and the promql_query breaker's open time scaled.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.ops.stack.launcher import Stack, StackOptions
from agent_runtime.ops.stack.processes import free_port
from agent_runtime.ops.stack.render import Ports
from tests.e2e.drill import DrillResult, run_drill
from tests.e2e.live import THREADS_PER_WORKER, TIME_SCALE, WORKERS, WORKLOAD_RATE, LiveStack, e2e_config
from tests.support.binaries import require_binary


@pytest.fixture(scope="session")
def live_stack(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The shared stack, started once per session and stopped at its end."""
    for binary in ("prometheus", "promtool", "prometheus-alertmanager", "gunicorn"):
        require_binary(binary)
    state = tmp_path_factory.mktemp("stack")
    options = StackOptions(
        root=repo_root,
        state_dir=state,
        workers=WORKERS,
        time_scale=TIME_SCALE,
        interval_seconds=1.0,
        rate=WORKLOAD_RATE,
        concurrency=16,
        seed=2024,
        config_path=str(e2e_config(repo_root, state / "agents.yaml")),
        ports=Ports(runtime=free_port(), prometheus=free_port(), alertmanager=free_port(), receiver=free_port()),
        extra_env={"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128", "GUNICORN_CMD_ARGS": f"--threads {THREADS_PER_WORKER}"},
    )
    stack = Stack(options)
    info = stack.up()
    assert not info.missing, info.missing
    try:
        yield LiveStack(stack, info, repo_root)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def drill(live_stack: LiveStack) -> DrillResult:
    """Every fault scenario, run once against the shared stack (healthy run first)."""
    return run_drill(live_stack)
