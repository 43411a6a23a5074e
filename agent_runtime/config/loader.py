"""Load and validate the YAML configuration.

Every problem is reported as a ``ConfigError`` naming the file, the key path
and what is wrong, so a user can fix it without reading this code::

    agents.yaml: tools.promql_query.timeout_seconds: must be > 0, got -1

Example::

    >>> config = parse_config({"agents": [{"name": "writer"}]}, source="inline")
    >>> config.agents[0].name
    'writer'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agent_runtime.config.models import (
    AgentSpec,
    BreakerSettings,
    CacheSettings,
    ExecutionSettings,
    ModelPrice,
    PlanStep,
    RetryPolicy,
    RoutingSettings,
    RuntimeConfig,
    Specialty,
    ToolSpec,
)
from agent_runtime.errors import ConfigError
from agent_runtime.vocabulary import AgentKind, ToolCallMode, values

T = TypeVar("T")

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")
CONFIG_ENV = "AGENT_RUNTIME_CONFIG"

# Numeric fields that must be strictly positive / within 0..1.
_POSITIVE = {
    "timeout_seconds",
    "ttl_seconds",
    "max_attempts",
    "window_size",
    "minimum_calls",
    "consecutive_failures",
    "open_seconds",
    "max_open_seconds",
    "half_open_max_calls",
    "l0_max_entries",
    "l0_max_bytes",
    "max_in_flight_tasks",
    "max_parallel_tool_calls",
    "task_timeout_seconds",
    "decision_cache_size",
    "analysis_cache_size",
    "decision_cache_max_bytes",
    "analysis_cache_max_bytes",
    "experience_half_life_seconds",
    "redis_timeout_seconds",
    "layer_initial_backoff_seconds",
    "layer_max_backoff_seconds",
    "l1_size_limit_bytes",
    "max_steps",
    "token_budget",
    "max_tokens_per_turn",
    "max_agent_depth",
}
_RATIO = {
    "failure_rate_threshold",
    "base_confidence",
    "min_confidence",
    "planning_complexity",
    "planning_confidence",
    "similarity_threshold",
    "experience_weight",
}


class _Reader:
    """Converts plain YAML data into the config dataclasses, tracking the key path."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key, problem, source=self.source)

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def record(self, cls: type[T], value: Any, key: str, **fixed: Any) -> T:
        """Build dataclass ``cls`` from a mapping, checking names, types and ranges."""
        data = self.mapping(value, key)
        assert is_dataclass(cls)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known) - set(fixed))
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}" if key else unknown[0],
                f"unknown key; expected one of: {', '.join(sorted(set(known) - set(fixed)))}",
            )
        kwargs: dict[str, Any] = dict(fixed)
        for name, raw in data.items():
            kwargs[name] = self.scalar(cls, name, raw, f"{key}.{name}" if key else name)
        return cls(**kwargs)

    def scalar(self, cls: type[Any], name: str, raw: Any, key: str) -> Any:
        default = _default_of(cls, name)
        if isinstance(default, bool):
            if not isinstance(raw, bool):
                raise self.fail(key, f"must be true or false, got {raw!r}")
            return raw
        if isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise self.fail(key, f"must be a number, got {raw!r}")
            if name in _POSITIVE and raw <= 0:
                raise self.fail(key, f"must be > 0, got {raw}")
            if name in _RATIO and not 0 <= raw <= 1:
                raise self.fail(key, f"must be between 0 and 1, got {raw}")
            if raw < 0:
                raise self.fail(key, f"must not be negative, got {raw}")
            return type(default)(raw) if isinstance(default, float) else raw
        if isinstance(default, tuple):
            if isinstance(raw, str) or not isinstance(raw, list | tuple):
                raise self.fail(key, f"must be a list of strings, got {raw!r}")
            for item in raw:
                if not isinstance(item, str) or not item:
                    raise self.fail(key, f"must be a list of non-empty strings, got {item!r}")
            return tuple(raw)
        if raw is not None and not isinstance(raw, str):
            raise self.fail(key, f"must be a string, got {raw!r}")
        return raw

    def tool(self, name: str, value: Any) -> ToolSpec:
        key = f"tools.{name}"
        data = dict(self.mapping(value, key))
        retry = self.record(RetryPolicy, data.pop("retry", None), f"{key}.retry")
        breaker = self.record(BreakerSettings, data.pop("breaker", None), f"{key}.breaker")
        if breaker.max_open_seconds < breaker.open_seconds:
            raise self.fail(f"{key}.breaker.max_open_seconds", "must be >= open_seconds")
        return self.record(ToolSpec, data, key, name=name, retry=retry, breaker=breaker)

    def cache(self, value: Any) -> CacheSettings:
        cache = self.record(CacheSettings, value, "cache")
        if cache.layer_max_backoff_seconds < cache.layer_initial_backoff_seconds:
            raise self.fail(
                "cache.layer_max_backoff_seconds",
                f"must be >= layer_initial_backoff_seconds ({cache.layer_initial_backoff_seconds:g}), "
                f"got {cache.layer_max_backoff_seconds:g}; raise it or lower layer_initial_backoff_seconds",
            )
        return cache

    def agent(self, index: int, value: Any) -> AgentSpec:
        data = dict(self.mapping(value, f"agents[{index}]"))
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"agents[{index}].name", "every agent needs a non-empty name")
        key = f"agents.{name}"
        specialties = tuple(
            self.specialty(f"{key}.specialties[{i}]", raw)
            for i, raw in enumerate(self.sequence(data.pop("specialties", []), f"{key}.specialties"))
        )
        plan = tuple(
            self.step(f"{key}.plan[{i}]", raw)
            for i, raw in enumerate(self.sequence(data.pop("plan", []), f"{key}.plan"))
        )
        kind = self.choice(AgentKind, data.pop("kind", AgentKind.PLAN), f"{key}.kind")
        mode = self.choice(ToolCallMode, data.pop("tool_call_mode", ToolCallMode.AUTO), f"{key}.tool_call_mode")
        schemas = {
            str(tool): dict(self.mapping(schema, f"{key}.tool_schemas.{tool}"))
            for tool, schema in self.mapping(data.pop("tool_schemas", None), f"{key}.tool_schemas").items()
        }
        instructions = data.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise self.fail(f"{key}.instructions", f"must be a string, got {type(instructions).__name__}")
        if kind is not AgentKind.PLAN and plan:
            raise self.fail(f"{key}.plan", f"only plan agents have a plan; this agent is kind: {kind}")
        if kind is AgentKind.LLM and not data.get("tools"):
            raise self.fail(f"{key}.tools", "an llm agent needs at least one tool to choose from")
        return self.record(
            AgentSpec, data, key, specialties=specialties, plan=plan, kind=kind, tool_call_mode=mode,
            tool_schemas=schemas,
        )

    def choice(self, enum: type[T], value: Any, key: str) -> T:
        """A member of ``enum`` (a StrEnum) from its value, or a ConfigError listing the values."""
        try:
            return enum(value)  # type: ignore[call-arg]
        except ValueError:
            allowed = ", ".join(values(enum))  # type: ignore[arg-type]
            raise self.fail(key, f"must be one of: {allowed}; got {value!r}") from None

    def prices(self, value: Any, key: str) -> dict[str, ModelPrice]:
        """``{model: {input, output}}`` in dollars per million tokens."""
        found: dict[str, ModelPrice] = {}
        for model, raw in self.mapping(value, key).items():
            entry = self.mapping(raw, f"{key}.{model}")
            unknown = sorted(set(entry) - {"input", "output"})
            if unknown:
                raise self.fail(f"{key}.{model}.{unknown[0]}", "unknown key; expected input and output")
            for side in ("input", "output"):
                price = entry.get(side, 0.0)
                if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                    raise self.fail(f"{key}.{model}.{side}", f"must be dollars per million tokens >= 0, got {price!r}")
            found[str(model)] = ModelPrice(float(entry.get("input", 0.0)), float(entry.get("output", 0.0)))
        return found

    def sequence(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {type(value).__name__}")
        return value

    def specialty(self, key: str, value: Any) -> Specialty:
        data = self.mapping(value, key)
        domain = data.get("domain")
        if not isinstance(domain, str) or not domain:
            raise self.fail(f"{key}.domain", "must be a non-empty string")
        raw_keywords = data.get("keywords")
        keywords: dict[str, float] = {}
        if isinstance(raw_keywords, list):
            keywords = {str(word): 1.0 for word in raw_keywords}
        elif isinstance(raw_keywords, Mapping):
            for word, weight in raw_keywords.items():
                if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                    raise self.fail(f"{key}.keywords.{word}", f"weight must be a number > 0, got {weight!r}")
                keywords[str(word)] = float(weight)
        else:
            raise self.fail(f"{key}.keywords", "must be a list of words or a mapping word: weight")
        if not keywords:
            raise self.fail(f"{key}.keywords", "must name at least one keyword")
        rest = {k: v for k, v in data.items() if k not in ("domain", "keywords")}
        return self.record(Specialty, rest, key, domain=domain, keywords=keywords)

    def step(self, key: str, value: Any) -> PlanStep:
        data = dict(self.mapping(value, key))
        for required in ("id", "tool"):
            if not isinstance(data.get(required), str) or not data[required]:
                raise self.fail(f"{key}.{required}", "must be a non-empty string")
        args = self.mapping(data.pop("args", None), f"{key}.args")
        return self.record(PlanStep, data, key, args=dict(args))


def _default_of(cls: type[Any], name: str) -> Any:
    """The declared default of a dataclass field (None when it has none)."""
    for item in fields(cls):
        if item.name == name:
            if item.default is not MISSING:
                return item.default
            if item.default_factory is not MISSING:
                return item.default_factory()
    return None


def parse_config(data: Any, *, source: str | None = None) -> RuntimeConfig:
    """Validate already-parsed YAML/JSON data and build a ``RuntimeConfig``."""
    reader = _Reader(source)
    top = reader.mapping(data, "")
    allowed = {"agents", "tools", "routing", "cache", "execution", "stage_targets_seconds", "llm"}
    for key in top:
        if key not in allowed:
            raise reader.fail(str(key), f"unknown top-level key; expected one of: {', '.join(sorted(allowed))}")
    tools = tuple(reader.tool(str(name), value) for name, value in reader.mapping(top.get("tools"), "tools").items())
    agents = tuple(reader.agent(i, raw) for i, raw in enumerate(reader.sequence(top.get("agents"), "agents")))
    targets: dict[str, float] = {}
    for stage, target in reader.mapping(top.get("stage_targets_seconds"), "stage_targets_seconds").items():
        if isinstance(target, bool) or not isinstance(target, int | float) or target <= 0:
            raise reader.fail(f"stage_targets_seconds.{stage}", f"must be a number > 0, got {target!r}")
        targets[str(stage)] = float(target)
    routing = reader.record(RoutingSettings, top.get("routing"), "routing")
    llm = dict(reader.mapping(top.get("llm"), "llm"))
    unknown_llm = sorted(set(llm) - {"prices"})
    if unknown_llm:
        raise reader.fail(f"llm.{unknown_llm[0]}", "unknown key; expected: prices")
    config = RuntimeConfig(
        agents=agents,
        tools=tools,
        routing=routing,
        cache=reader.cache(top.get("cache")),
        execution=reader.record(ExecutionSettings, top.get("execution"), "execution"),
        stage_targets_seconds=targets,
        model_prices=reader.prices(llm.get("prices"), "llm.prices"),
        version=_digest(data),
        source=source,
    )
    _check_references(config, reader)
    return config


def _check_references(config: RuntimeConfig, reader: _Reader) -> None:
    """Cross-field checks: duplicate names, dangling agent and fallback references."""
    seen: set[str] = set()
    for agent in config.agents:
        if agent.name in seen:
            raise reader.fail(f"agents.{agent.name}", "defined twice")
        seen.add(agent.name)
        step_ids = [step.id for step in agent.plan]
        duplicates = {sid for sid in step_ids if step_ids.count(sid) > 1}
        if duplicates:
            raise reader.fail(f"agents.{agent.name}.plan", f"duplicate step id {sorted(duplicates)[0]!r}")
    routing = config.routing
    for name in routing.fallback_chain:
        if name not in seen:
            raise reader.fail("routing.fallback_chain", f"names unknown agent {name!r}")
    if routing.planning_agent is not None and routing.planning_agent not in seen:
        raise reader.fail("routing.planning_agent", f"names unknown agent {routing.planning_agent!r}")
    tool_names = {tool.name for tool in config.tools}
    for tool in config.tools:
        if tool.fallback is not None and tool.fallback not in tool_names:
            raise reader.fail(f"tools.{tool.name}.fallback", f"names unknown tool {tool.fallback!r}")
        if tool.fallback == tool.name:
            raise reader.fail(f"tools.{tool.name}.fallback", "a tool cannot be its own fallback")


def _digest(data: Any) -> str:
    """A short content hash: the configuration version cached decisions depend on."""
    canonical = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:12]


def load_config(path: str | os.PathLike[str] | None = None) -> RuntimeConfig:
    """Load a YAML config file: ``path``, else ``$AGENT_RUNTIME_CONFIG``, else the default set.

    Raises ``ConfigError`` naming the file, key and problem.
    """
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror or exc}", source=str(chosen)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "(file)", f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", source=str(chosen)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, f"invalid YAML: {problem}", source=str(chosen)) from None
    config = parse_config(data if data is not None else {}, source=str(chosen))
    if not config.agents:
        raise ConfigError("agents", "the file defines no agents; add at least one under agents:", source=str(chosen))
    return config
