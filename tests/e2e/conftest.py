"""One live stack for the whole e2e session, in production shape, and the drill run against it.

Two runtime replicas (two targets of the runtime job), each a gunicorn master with two workers,
sharing one Redis as the L2 tool cache (each with an L1 directory of its own); llama.cpp's
``llama-server`` with Gemma 3 270M as their model; Prometheus, Alertmanager, the receiver and the
background workload. Rules are time-scaled by ``TIME_SCALE`` (a ``5m`` window is 5 s, ``for: 15m``
is 15 s), Prometheus scrapes and evaluates every second and Alertmanager's grouping timings are
scaled the same way, so every alert can be proven in seconds. ``tests/e2e/live.py`` explains the
runtime settings the e2e run changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.ops.local_model import MODEL_ALIAS
from agent_runtime.ops.stack.launcher import Stack
from agent_runtime.ops.stack.options import StackOptions
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.ops.stack.render import Ports
from tests.e2e.drill import (
    HEALTHY_SECONDS,
    LONG_HEALTHY_SECONDS,
    REPEATED_QUESTION,
    WARMUP_QUESTION,
    DrillResult,
    run_drill,
)
from tests.e2e.live import (
    INTERVAL_SECONDS,
    LLM_MAX_TOKENS,
    REPLICAS,
    THREADS_PER_WORKER,
    TIME_SCALE,
    WORKERS,
    WORKLOAD_MIX,
    WORKLOAD_RATE,
    LiveStack,
    e2e_config,
)
from tests.support.binaries import require_binary
from tests.support.llama import require_local_model


@pytest.fixture(scope="session")
def live_stack(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The shared stack, started once per session and stopped at its end."""
    for binary in ("prometheus", "promtool", "prometheus-alertmanager", "gunicorn", "redis-server"):
        require_binary(binary)
    require_local_model()
    state = tmp_path_factory.mktemp("stack")
    ports = Ports(runtime=free_port(), prometheus=free_port(), alertmanager=free_port(), receiver=free_port(),
                  llama=free_port(), more_runtimes=tuple(free_port() for _ in range(REPLICAS - 1)),
                  redis=free_port())  # fmt: skip
    options = StackOptions(
        root=repo_root,
        state_dir=state,
        workers=WORKERS,
        replicas=REPLICAS,
        time_scale=TIME_SCALE,
        interval_seconds=INTERVAL_SECONDS,
        rate=WORKLOAD_RATE,
        mix=WORKLOAD_MIX,
        concurrency=16,
        seed=2024,
        config_path=str(e2e_config(repo_root, state / "agents.yaml", MODEL_ALIAS)),
        ports=ports,
        extra_env={"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128", "GUNICORN_CMD_ARGS": f"--threads {THREADS_PER_WORKER}"},
        local_llm=True,
        shared_cache=True,
        llm_max_tokens=LLM_MAX_TOKENS,
        # Model calls through the receiver's pass-through, which the drill can slow down.
        model_proxy=True,
        # One model call on each replica before Prometheus starts: the series of answered model calls and
        # their cost exist from the start (a first call would otherwise create them unseen by rate()),
        # and the repeated question is in the shared model cache.
        warmup=({"task": REPEATED_QUESTION}, {"task": WARMUP_QUESTION}),
    )
    stack = Stack(options)
    info = stack.up()
    assert not info.missing, info.missing
    assert info.llm_url is not None and info.redis_url is not None, info.notes
    try:
        yield LiveStack(stack, info, repo_root, INTERVAL_SECONDS)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def drill(live_stack: LiveStack) -> DrillResult:
    """Every fault scenario, run once against the shared stack (healthy run first: ten minutes of it with
    ``AGENT_RUNTIME_E2E_LONG=1``)."""
    long_run = os.environ.get("AGENT_RUNTIME_E2E_LONG") == "1"
    return run_drill(live_stack, LONG_HEALTHY_SECONDS if long_run else HEALTHY_SECONDS)
