"""How the local stack runs and where it runs: ``StackOptions`` and ``StackInfo``.

``StackOptions`` is what ``agent-runtime stack up`` (or a test) asks for;
``choose_ports`` picks the usual ports where free; ``replica_names`` names
the runtime replicas' processes; ``StackInfo`` says where everything of a
running stack is, and what is not running and why (``to_dict`` is what
``<state_dir>/stack.json`` records and ``stack status`` shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent_runtime.ops.stack.ports import free_port, port_in_use
from agent_runtime.ops.stack.render import Ports

PREFERRED_PORTS: Final = Ports(runtime=8000, prometheus=9090, alertmanager=9093, receiver=9095, llama=8080)
PREFERRED_REDIS_PORT: Final = 6379
# Ports the second, third, ... runtime replica prefers (else free ones).
_MORE_RUNTIME_PORTS: Final = (8001, 8002, 8003, 8004, 8005, 8006, 8007)
# The stack's llama-server: two slots of 4k context each, so one long answer does not hold up every
# other model call (on two cores they share the CPU either way), and answers capped at 128 tokens:
# the runtime's write_answer sets no max_tokens, and its prompts (search passages) are 1-2k tokens.
LLAMA_PARALLEL: Final = 2
LLAMA_CTX_SIZE: Final = 8192
LLAMA_N_PREDICT: Final = 128


@dataclass(frozen=True)
class StackOptions:
    """How to run the stack.

    ``root`` is the checkout with ``prometheus/`` and ``alertmanager/``;
    ``time_scale`` > 1 loads rules with every window and ``for:`` divided by
    it (and scrapes, evaluates and groups notifications that much faster).
    ``rate`` 0 runs no background workload; ``mix`` is its family weights
    (``agent-runtime loadgen --mix``; None: the loadgen's default). ``ports``
    None takes the usual ports (8000, 8001.. for more replicas, 9090, 9093,
    9095, 8080 for the model server, 6379 for Redis) where free and free ports
    otherwise. ``replicas`` runtime replicas of ``workers`` gunicorn workers
    each. ``shared_cache`` gives every replica an L1 cache directory of its
    own and one Redis for all as L2. ``local_llm`` starts the local model
    server when the ``local-llm`` extra is installed (``agent-runtime stack
    up`` sets it unless ``--no-llm``; off by default, so a programmatic stack
    keeps its timing without a model on the CPU unless it asks for one);
    ``llm_max_tokens`` caps the tokens it generates for a request that sets
    no ``max_tokens`` (generation is the slow part on a busy CPU).
    ``model_proxy`` sends the runtime's model calls through the receiver's
    pass-through (``/model``), which a drill can slow down
    (``PUT /control/model``); off, the runtime calls the server directly.
    ``warmup`` are task bodies sent once, the i-th to replica ``i mod
    replicas``, before Prometheus starts: they fill caches and create the
    series their paths count (a series that first appears with a count of
    one hides that first event from ``rate()``), unseen by the rules.
    """

    root: Path
    state_dir: Path
    workers: int = 2
    replicas: int = 1
    time_scale: int = 1
    interval_seconds: float | None = None
    rate: float = 5.0
    concurrency: int = 16
    seed: int | None = None
    config_path: str | None = None
    ports: Ports | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    local_llm: bool = False
    shared_cache: bool = False
    mix: dict[str, float] | None = None
    llm_max_tokens: int = LLAMA_N_PREDICT
    model_proxy: bool = False
    warmup: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.workers < 1:
            raise ValueError(f"replicas and workers must be >= 1, got {self.replicas} and {self.workers}")


@dataclass
class StackInfo:
    """Where everything is: URLs, the admin token, and what is not running and why.

    ``runtime_url`` is the first replica's, ``runtime_urls`` every replica's;
    ``redis_url`` the shared L2 cache's (None without ``shared_cache``).
    """

    state_dir: Path
    ports: Ports
    token: str
    runtime_url: str
    receiver_url: str
    runtime_urls: list[str] = field(default_factory=list)
    redis_url: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    llm_note: str | None = None
    # Where the runtime sends its model calls when they go through the receiver (StackOptions.model_proxy).
    llm_proxy_url: str | None = None
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the token itself is left out: it is in ``<state_dir>/token``)."""
        return {
            "state_dir": str(self.state_dir),
            "token_file": str(self.state_dir / "token"),
            "runtime_url": self.runtime_url,
            "runtime_urls": self.runtime_urls or [self.runtime_url],
            "redis_url": self.redis_url,
            "prometheus_url": self.prometheus_url,
            "alertmanager_url": self.alertmanager_url,
            "llm_url": self.llm_url,
            "llm_model": self.llm_model,
            "llm_note": self.llm_note,
            "llm_proxy_url": self.llm_proxy_url,
            "alerts_url": f"{self.receiver_url}/alerts",
            "receiver_url": self.receiver_url,
            "missing": self.missing,
            "notes": self.notes,
        }


def choose_ports(replicas: int = 1) -> Ports:
    """The preferred ports (``PREFERRED_PORTS``, 8001.. for more replicas, 6379 for Redis) where free, else
    free ones."""

    def pick(port: int) -> int:
        return port if not port_in_use(port) else free_port()

    more = tuple(pick(_MORE_RUNTIME_PORTS[i]) if i < len(_MORE_RUNTIME_PORTS) else free_port()
                 for i in range(replicas - 1))  # fmt: skip
    return Ports(
        runtime=pick(PREFERRED_PORTS.runtime),
        prometheus=pick(PREFERRED_PORTS.prometheus),
        alertmanager=pick(PREFERRED_PORTS.alertmanager),
        receiver=pick(PREFERRED_PORTS.receiver),
        llama=pick(PREFERRED_PORTS.llama or 8080),
        more_runtimes=more,
        redis=pick(PREFERRED_REDIS_PORT),
    )


def replica_names(replicas: int) -> list[str]:
    """The process names of the runtime replicas: ``runtime`` alone, else ``runtime-1``, ``runtime-2``, ..."""
    return ["runtime"] if replicas == 1 else [f"runtime-{i}" for i in range(1, replicas + 1)]
