"""The composition root: the one place that wires tools, agents, listeners and the runtime.

``build_runtime()`` is what the HTTP service, the CLI and the gunicorn entry
point call: it loads the configuration, registers the built-in and composite
tools with a ``ToolServices`` handle (their way to the runtime's listeners
and pipeline), builds the ``Runtime`` and binds the handle to it.

LLM agents in the configuration (``kind: llm``) need a model: with none
configured (``AGENT_RUNTIME_LLM_BASE_URL`` and ``AGENT_RUNTIME_LLM_MODEL``)
they are left out, with one log line each, and everything else works as
without them.

Example::

    >>> runtime = build_runtime(metrics_registry=None)          # doctest: +SKIP
    >>> runtime.handle("why is the cache hit rate dropping?").agent  # doctest: +SKIP
    'diagnostics'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

from prometheus_client import REGISTRY, CollectorRegistry

from agent_runtime.builtin_tools import BuiltinToolSettings, register_builtin_tools
from agent_runtime.builtin_tools.answers import register_composite_tools
from agent_runtime.config.loader import load_config
from agent_runtime.config.models import RuntimeConfig
from agent_runtime.registry import AgentRegistry, ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.services import ToolServices
from agent_runtime.vocabulary import AgentKind

logger = logging.getLogger(__name__)


def build_runtime(
    config_path: str | os.PathLike[str] | None = None,
    *,
    metrics_registry: CollectorRegistry | None = REGISTRY,
    builtin_settings: BuiltinToolSettings | None = None,
    listeners: Iterable[RuntimeListener] = (),
    agents: AgentRegistry | None = None,
) -> Runtime:
    """A ``Runtime`` with the built-in and composite tools and the configuration loaded.

    ``config_path``: a YAML file, else ``$AGENT_RUNTIME_CONFIG``, else the
    bundled ``default.yaml``. ``builtin_settings``: where the corpus,
    Prometheus and the model are, else from ``AGENT_RUNTIME_*`` variables.
    ``agents``: Python agents to add. Raises ``ConfigError`` naming the
    file, key and problem.
    """
    # The config is read first, so a broken file fails before any index is opened.
    config = _with_deployment_overrides(load_config(config_path), os.environ)
    settings = builtin_settings if builtin_settings is not None else BuiltinToolSettings.from_env()
    llm = settings.llm
    if not llm.is_configured:
        config = _without_llm_agents(config)
    elif config.model_prices:
        # Prices in the configuration file win over the environment's.
        settings = replace(settings, llm=replace(llm, prices={**llm.prices, **config.model_prices}))
    services = ToolServices()
    tools = ToolRegistry()
    register_builtin_tools(tools, settings, services)
    register_composite_tools(tools, services)
    runtime = Runtime(
        config,
        tools=tools,
        agents=agents,
        listeners=listeners,
        metrics_registry=metrics_registry,
        # The configured model and provider are bounded label values, not user input.
        models=(settings.llm.model,) if settings.llm.is_configured and settings.llm.model else (),
        providers=(settings.llm.provider,) if settings.llm.is_configured else (),
    )
    services.bind(runtime.listener, runtime.call_tool)
    return runtime


def _without_llm_agents(config: RuntimeConfig) -> RuntimeConfig:
    """``config`` without its ``kind: llm`` agents (no model is configured), and without references to them."""
    dropped = {agent.name for agent in config.agents if agent.kind is AgentKind.LLM}
    if not dropped:
        return config
    for name in sorted(dropped):
        logger.info(
            "agent %s left out: it is an llm agent and no model is configured "
            "(set AGENT_RUNTIME_LLM_BASE_URL and AGENT_RUNTIME_LLM_MODEL)",
            name,
        )
    routing = config.routing
    routing = replace(
        routing,
        fallback_chain=tuple(name for name in routing.fallback_chain if name not in dropped),
        planning_agent=None if routing.planning_agent in dropped else routing.planning_agent,
    )
    agents = tuple(
        replace(agent, tools=tuple(t for t in agent.tools if t not in dropped))
        for agent in config.agents
        if agent.name not in dropped
    )
    return replace(config, agents=agents, routing=routing, version=f"{config.version}-no-llm")


def _with_deployment_overrides(config: RuntimeConfig, environ: Mapping[str, str]) -> RuntimeConfig:
    """Apply ``AGENT_RUNTIME_REDIS_URL`` and ``AGENT_RUNTIME_CACHE_DIR`` (set per deployment, e.g. compose)."""
    cache = config.cache
    redis_url = environ.get("AGENT_RUNTIME_REDIS_URL")
    cache_dir = environ.get("AGENT_RUNTIME_CACHE_DIR")
    if redis_url:
        cache = replace(cache, redis_url=redis_url)
    if cache_dir:
        cache = replace(cache, directory=cache_dir)
    return config if cache is config.cache else replace(config, cache=cache)
