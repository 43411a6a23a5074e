"""A real agent runtime under load, for the on-call kit's live Prometheus tests.

``LiveRuntime`` builds the runtime the way the service does
(``build_runtime``: built-in tools, the configuration below, a metrics
registry served on a loopback port) with every agent kind:

- plan agents: ``searcher`` (``knowledge_search``, cached in L0 and the L1
  disk layer, so ``agent_runtime_cache_layer_up`` has a series), ``watcher``
  (``promql_query`` against the test's own Prometheus, uncached, with an
  injected error fault so tool errors and retries are real) and the
  fallback agent ``generalist``;
- a Python agent, ``tally``;
- two LLM agents on the real llama.cpp server (Gemma 3 270M, json_schema
  actions): ``investigator`` searches and answers; ``hasty`` may generate
  only 3 tokens a turn, so its reply is cut off mid-JSON: a real
  ``invalid_json`` action and a ``max_steps`` stop.

``run_model_tasks()`` makes the few real model calls (three short turns,
a few seconds on two CPUs) plus one request longer than the server's
context, which the server refuses with HTTP 400: a real failed
call with ``error_type="bad_request"`` and an ``error`` stop.
``BackgroundLoad`` keeps cheap traffic flowing meanwhile: plan and Python
tasks, unroutable questions (fallbacks, repeated ones served from the
decision cache) and, once the model tasks ran, their repeats, answered
from the LLM cache without calling the model.

Example (in a fixture)::

    live = LiveRuntime(tmp_path, llama_server, prometheus_url="http://127.0.0.1:9090")
    with live, BackgroundLoad(live.runtime):   # /metrics on live.metrics_port
        results = run_model_tasks(live.runtime)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from prometheus_client import CollectorRegistry, start_http_server

from agent_runtime import Runtime, Task
from agent_runtime.agents.python_agent import AgentContext
from agent_runtime.bootstrap import build_runtime
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings
from agent_runtime.config.models import ModelPrice
from agent_runtime.ops.fault_store import FaultRequest
from agent_runtime.ops.faults import FaultInjector
from agent_runtime.ops.local_model import PROVIDER
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.registry import AgentRegistry
from agent_runtime.results import TaskResult
from tests.support.llama import LlamaServer

CONFIG: Final = """
agents:
  - name: searcher
    description: Searches the runbooks.
    base_confidence: 0.6
    tools: [knowledge_search]
    specialties: [{domain: caches, keywords: {cache: 1.0, hit rate: 1.0, dropping: 0.8, breaker: 1.0}}]
    plan:
      - {id: hits, tool: knowledge_search, args: {query: "{task}", top_k: 3}}
  - name: watcher
    description: Lists firing alerts.
    base_confidence: 0.6
    tools: [promql_query]
    specialties: [{domain: alerts, keywords: {alerts: 1.0, firing: 1.0, prometheus: 1.0}}]
    plan:
      - {id: up, tool: promql_query, args: {query: 'count(up)'}}
  - name: generalist
    description: Searches everything when no specialist fits.
    base_confidence: 0.2
    tools: [knowledge_search]
    plan:
      - {id: hits, tool: knowledge_search, args: {query: "{task}", top_k: 3}}
  - name: investigator
    kind: llm
    description: Investigates with the model.
    base_confidence: 0.6
    tool_call_mode: auto
    max_steps: 2
    max_tokens_per_turn: 48
    token_budget: 4000
    tools: [knowledge_search]
    instructions: >-
      You answer questions about an agent runtime. Call knowledge_search once with a few words
      from the question. When you have its result, reply with final_answer: one short sentence.
    tool_schemas:
      knowledge_search:
        type: object
        properties:
          query: {type: string, minLength: 1, maxLength: 40}
        required: [query]
    specialties: [{domain: investigation, keywords: {investigate: 1.0, root cause: 1.0}}]
  - name: hasty
    kind: llm
    description: Answers in a hurry (3 tokens a turn, never enough for a whole action).
    base_confidence: 0.6
    tool_call_mode: json_schema
    max_steps: 1
    max_tokens_per_turn: 3
    token_budget: 1000
    tools: [knowledge_search]
    instructions: Answer at once.
    specialties: [{domain: hurry, keywords: {hurry: 1.0, quickly: 1.0}}]
routing:
  min_confidence: 0.35
  fallback_chain: [generalist]
cache:
  directory: {cache_dir}
execution:
  max_in_flight_tasks: 16
  task_timeout_seconds: 60
tools:
  knowledge_search: {timeout_seconds: 5, ttl_seconds: 600, cache_tags: [corpus]}
  promql_query:
    timeout_seconds: 2
    cacheable: false
    cache_tags: [prometheus]
    retry: {max_attempts: 2, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.02, multiplier: 2.0,
            jitter_seconds: 0.0}
  llm_chat: {timeout_seconds: 60, ttl_seconds: 600}
"""
DOCS: Final = {
    "cache.md": "# Cache hit rate drop\n\nWhen the tool cache hit rate drops, a deploy flushed the cache or "
                "Redis is down. Check agent_runtime_cache_layer_up and warm the cache.\n",
    "breaker.md": "# Circuit breaker open\n\nA breaker opens when a tool keeps failing; calls get the "
                  "fallback until a half-open probe succeeds.\n",
}
PRICE: Final = ModelPrice(input_per_million=0.5, output_per_million=1.5)

# The real model calls: one investigation, one hurried answer cut off mid-JSON.
MODEL_TASKS: Final = ("investigate the root cause of slow answers", "hurry, quickly")
# Longer than the server's 4096-token context: llama-server answers HTTP 400 before decoding anything.
OVERSIZED_TASK: Final = "investigate " + "overflow " * 5000
# Cheap traffic, round-robin: specialists, the Python agent, and questions no agent fits (fallbacks).
PLAN_TASKS: Final = (
    "why is the cache hit rate dropping",
    "which alerts are firing in prometheus",
    "tally the runbooks",
    "zzz qqq",
    "is the circuit breaker open {n}",
    "lorem ipsum {n}",
)


def _tally(task: Task, ctx: AgentContext) -> str:
    """A Python agent: searches the runbooks and counts the passages found."""
    hits = ctx.call("knowledge_search", query="breaker runbook")
    return f"{len(hits) if isinstance(hits, list) else 0} passages about {task.text!r}"


def _python_agents() -> AgentRegistry:
    agents = AgentRegistry()
    agents.agent("tally", tools=("knowledge_search",), keywords={"tally": 1.0, "count": 1.0},
                 base_confidence=0.6)(_tally)  # fmt: skip
    return agents


class LiveRuntime:
    """The runtime (its metrics on ``metrics_port``) with its model on ``llama``; a context manager."""

    def __init__(
        self, workdir: Path, llama: LlamaServer, *, prometheus_url: str, metrics_port: int | None = None
    ) -> None:
        self.workdir = workdir
        self.llama = llama
        self.prometheus_url = prometheus_url
        self.metrics_port = metrics_port if metrics_port is not None else free_port()
        self.registry = CollectorRegistry()
        self._runtime: Runtime | None = None
        self._injector: FaultInjector | None = None
        self._server: Any = None

    @property
    def runtime(self) -> Runtime:
        """The running runtime."""
        if self._runtime is None:
            raise RuntimeError("the live runtime is not started")
        return self._runtime

    def start(self) -> LiveRuntime:
        """Build the runtime, fault its Prometheus tool, serve its metrics."""
        docs = self.workdir / "docs"
        docs.mkdir(parents=True, exist_ok=True)
        for name, text in DOCS.items():
            (docs / name).write_text(text)
        config = self.workdir / "agents.yaml"
        config.write_text(CONFIG.replace("{cache_dir}", str(self.workdir / "cache")))
        settings = BuiltinToolSettings(
            corpus_paths=(str(docs),),
            index_path=str(self.workdir / "index.sqlite3"),
            prometheus_url=self.prometheus_url,
            llm=LlmSettings(base_url=self.llama.base_url, model=self.llama.model, provider=PROVIDER,
                            read_timeout_seconds=60.0, prices={self.llama.model: PRICE}),
        )  # fmt: skip
        self._runtime = build_runtime(config, metrics_registry=self.registry, builtin_settings=settings,
                                      agents=_python_agents())  # fmt: skip
        # A flaky dependency: a third of the Prometheus tool's attempts fail (retried, sometimes in vain).
        self._injector = FaultInjector(self._runtime, tick_seconds=0)
        self._injector.inject(FaultRequest(kind="error", tools=("promql_query",), rate=0.3))
        self._server, _ = start_http_server(self.metrics_port, addr="127.0.0.1", registry=self.registry)
        return self

    def stop(self) -> None:
        """Stop serving metrics, the fault injector and the runtime (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._injector is not None:
            self._injector.close()
            self._injector = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def __enter__(self) -> LiveRuntime:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_model_tasks(runtime: Runtime) -> list[TaskResult]:
    """The real model calls, one task after another (the server has one slot); their results."""
    return [runtime.handle(Task(text)) for text in (*MODEL_TASKS, OVERSIZED_TASK)]


class BackgroundLoad:
    """Cheap tasks on a thread, about ``rate`` a second, until the context exits.

    Keep the rate low: the model server shares the machine's CPUs, and at 10
    tasks/s its calls already take three times as long as at 5.

    After ``model_tasks_done()`` the loop also repeats ``MODEL_TASKS``: their
    decisions, model turns and tool results all come from the caches, so the
    LLM agents keep running without another model call.
    """

    def __init__(self, runtime: Runtime, *, rate: float = 5.0) -> None:
        self.runtime = runtime
        self.period = 1.0 / rate
        self.handled = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._warm = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-load", daemon=True)

    def model_tasks_done(self) -> None:
        """The model tasks ran once: from now on their repeats are cache hits."""
        self._warm.set()

    def _tasks(self) -> Iterator[str]:
        n = 0
        while True:
            n += 1
            for text in PLAN_TASKS:
                yield text.format(n=n % 20)
            if self._warm.is_set():
                yield from MODEL_TASKS

    def _run(self) -> None:
        for text in self._tasks():
            if self._stop.wait(self.period):
                return
            try:
                self.runtime.handle(Task(text))
                self.handled += 1
            except Exception as exc:  # reported by the fixture; the load goes on
                self.errors.append(exc)

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
