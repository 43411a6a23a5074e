"""Settings of the built-in tools, from code or from ``AGENT_RUNTIME_*`` variables.

Example::

    >>> settings = BuiltinToolSettings.from_env({"AGENT_RUNTIME_PROMETHEUS_URL": "http://prom:9090"})
    >>> settings.prometheus_url
    'http://prom:9090'
    >>> settings.llm.is_configured
    False
    >>> "secret" in repr(LlmSettings(base_url="http://llm", model="m", api_key="secret"))
    False
    >>> prices = '{"small": {"input": 0.15, "output": 0.6}}'
    >>> BuiltinToolSettings.from_env({"AGENT_RUNTIME_LLM_PRICES": prices}).llm.prices["small"]
    ModelPrice(input_per_million=0.15, output_per_million=0.6)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent_runtime.config.models import ModelPrice
from agent_runtime.errors import ConfigError

__all__ = ["DEFAULT_CORPUS_PATHS", "DEFAULT_PROMETHEUS_URL", "BuiltinToolSettings", "LlmSettings", "ModelPrice"]

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DEFAULT_CORPUS_PATHS = ("runbooks", "docs")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class LlmSettings:
    """An OpenAI-compatible chat-completions endpoint.

    The tool is enabled only when ``base_url`` and ``model`` are set;
    ``api_key`` may stay None for local servers that need none. The key is
    kept out of ``repr`` so settings can be logged. ``provider`` is the
    ``gen_ai.provider.name`` reported for the calls.

    ``prices`` maps a model name to its ``ModelPrice`` (dollars per million
    input and output tokens); a model without one costs 0. Model calls are
    cached by the runtime's tool cache only when deterministic (temperature
    0), unless ``cache_nondeterministic`` is True.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    provider: str = "openai"
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 60.0
    temperature: float = 0.0
    max_tokens: int | None = None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    cache_nondeterministic: bool = False

    def __post_init__(self) -> None:
        for model, price in self.prices.items():
            if not isinstance(price, ModelPrice):
                raise ConfigError(f"builtin_tools.llm.prices.{model}", f"must be a ModelPrice, got {price!r}")
            for side, value in (("input", price.input_per_million), ("output", price.output_per_million)):
                if not math.isfinite(value) or value < 0:
                    key = f"builtin_tools.llm.prices.{model}.{side}"
                    raise ConfigError(key, f"must be dollars per million tokens >= 0, got {value}")

    @property
    def is_configured(self) -> bool:
        """True when there is an endpoint and a model to call."""
        return bool(self.base_url) and bool(self.model)


@dataclass(frozen=True)
class BuiltinToolSettings:
    """Everything the built-in tools need to know about their surroundings.

    ``corpus_paths`` are files or folders of Markdown/text documents; relative
    ones are resolved against ``corpus_root`` (None: the source checkout when
    running from one, else the current working directory). ``index_path`` is
    the SQLite index file (None: a per-corpus file in the user's cache
    directory). ``http_allowed_hosts`` entries are ``host``, ``host:port`` or
    ``*.domain``; an empty list refuses every fetch.
    """

    corpus_paths: tuple[str, ...] = DEFAULT_CORPUS_PATHS
    corpus_root: str | None = None
    index_path: str | None = None
    index_refresh_seconds: float = 2.0
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    prometheus_connect_timeout_seconds: float = 2.0
    prometheus_read_timeout_seconds: float = 15.0
    prometheus_max_series: int = 200
    http_allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    max_response_bytes: int = 1_000_000
    http_max_redirects: int = 5
    http_connect_timeout_seconds: float = 3.0
    http_read_timeout_seconds: float = 10.0
    llm: LlmSettings = field(default_factory=LlmSettings)

    def __post_init__(self) -> None:
        positive = {
            "index_refresh_seconds": self.index_refresh_seconds,
            "prometheus_connect_timeout_seconds": self.prometheus_connect_timeout_seconds,
            "prometheus_read_timeout_seconds": self.prometheus_read_timeout_seconds,
            "prometheus_max_series": self.prometheus_max_series,
            "max_response_bytes": self.max_response_bytes,
            "http_connect_timeout_seconds": self.http_connect_timeout_seconds,
            "http_read_timeout_seconds": self.http_read_timeout_seconds,
            "llm.connect_timeout_seconds": self.llm.connect_timeout_seconds,
            "llm.read_timeout_seconds": self.llm.read_timeout_seconds,
        }
        for key, value in positive.items():
            # index_refresh_seconds may be 0 (re-scan on every call), the rest must be > 0.
            if value < 0 or (value == 0 and key != "index_refresh_seconds"):
                raise ConfigError(f"builtin_tools.{key}", f"must be > 0, got {value}")
        if self.http_max_redirects < 0:
            raise ConfigError("builtin_tools.http_max_redirects", f"must be >= 0, got {self.http_max_redirects}")

    def resolved_corpus_root(self) -> Path:
        """The folder relative corpus paths are resolved against."""
        if self.corpus_root is not None:
            return Path(self.corpus_root).expanduser().resolve()
        checkout = Path(__file__).resolve().parents[2]
        # Running from a source checkout: the repository's own runbooks/ and docs/.
        if (checkout / "pyproject.toml").is_file() and any((checkout / p).exists() for p in self.corpus_paths):
            return checkout
        # Installed from a wheel: the copies the build put into the package (setup.py).
        shipped = Path(__file__).resolve().parents[1] / "corpus"
        if any((shipped / p).exists() for p in self.corpus_paths):
            return shipped
        return Path.cwd().resolve()

    def resolved_corpus_paths(self) -> tuple[Path, ...]:
        """The corpus paths as absolute paths (missing ones included; the corpus skips them)."""
        root = self.resolved_corpus_root()
        return tuple((root / Path(p).expanduser()).resolve() for p in self.corpus_paths)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BuiltinToolSettings:
        """Settings from ``AGENT_RUNTIME_*`` variables (``os.environ`` by default).

        Variables: ``AGENT_RUNTIME_CORPUS_PATHS`` (``os.pathsep``-separated),
        ``AGENT_RUNTIME_CORPUS_ROOT``, ``AGENT_RUNTIME_CORPUS_INDEX``,
        ``AGENT_RUNTIME_PROMETHEUS_URL``, ``AGENT_RUNTIME_HTTP_ALLOWED_HOSTS``
        (comma-separated), ``AGENT_RUNTIME_HTTP_ALLOW_PRIVATE``,
        ``AGENT_RUNTIME_HTTP_MAX_RESPONSE_BYTES``, ``AGENT_RUNTIME_LLM_BASE_URL``,
        ``AGENT_RUNTIME_LLM_MODEL``, ``AGENT_RUNTIME_LLM_API_KEY``,
        ``AGENT_RUNTIME_LLM_PROVIDER``, ``AGENT_RUNTIME_LLM_PRICES`` (JSON
        ``{"model": {"input": 0.15, "output": 0.6}}``, dollars per million
        tokens) and ``AGENT_RUNTIME_LLM_CACHE_NONDETERMINISTIC``. Unset
        variables keep the defaults.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"AGENT_RUNTIME_{name}")
            return value.strip() if value is not None and value.strip() else None

        defaults = cls()
        paths = get("CORPUS_PATHS")
        hosts = get("HTTP_ALLOWED_HOSTS")
        max_bytes = get("HTTP_MAX_RESPONSE_BYTES")
        llm = LlmSettings(
            base_url=_parse_url("AGENT_RUNTIME_LLM_BASE_URL", get("LLM_BASE_URL")),
            model=get("LLM_MODEL"),
            api_key=get("LLM_API_KEY"),
            provider=get("LLM_PROVIDER") or LlmSettings.provider,
            prices=_parse_prices("AGENT_RUNTIME_LLM_PRICES", get("LLM_PRICES")),
            cache_nondeterministic=_parse_bool(
                "AGENT_RUNTIME_LLM_CACHE_NONDETERMINISTIC", get("LLM_CACHE_NONDETERMINISTIC")
            ),
        )
        return cls(
            corpus_paths=tuple(p for p in paths.split(os.pathsep) if p) if paths else defaults.corpus_paths,
            corpus_root=get("CORPUS_ROOT"),
            index_path=get("CORPUS_INDEX"),
            prometheus_url=_parse_url("AGENT_RUNTIME_PROMETHEUS_URL", get("PROMETHEUS_URL")) or defaults.prometheus_url,
            http_allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()) if hosts else (),
            allow_private=_parse_bool("AGENT_RUNTIME_HTTP_ALLOW_PRIVATE", get("HTTP_ALLOW_PRIVATE")),
            max_response_bytes=(
                _parse_int("AGENT_RUNTIME_HTTP_MAX_RESPONSE_BYTES", max_bytes)
                if max_bytes
                else defaults.max_response_bytes
            ),
            llm=llm,
        )


def _parse_bool(name: str, value: str | None) -> bool:
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise ConfigError(name, f"must be true or false, got {value!r}")


def _parse_url(name: str, value: str | None) -> str | None:
    """``value`` when it is an http(s) URL with a host (None stays None)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check (an out-of-range or non-numeric one raises)
    except ValueError as exc:
        raise ConfigError(name, f"is not a valid URL ({exc}): {value!r}; e.g. http://127.0.0.1:8080") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, f"must be an http(s) URL with a host, got {value!r}; e.g. http://127.0.0.1:8080")
    return value


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {value!r}") from None


_PRICES_EXAMPLE = '{"model": {"input": 0.15, "output": 0.6}}'


def _parse_prices(name: str, value: str | None) -> dict[str, ModelPrice]:
    """``{"model": {"input": ..., "output": ...}}`` (dollars per million tokens) as ``ModelPrice``s."""
    if value is None:
        return {}
    try:
        data: Any = json.loads(value)
    except ValueError as exc:
        raise ConfigError(name, f"must be JSON like {_PRICES_EXAMPLE}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(name, f"must be a JSON object like {_PRICES_EXAMPLE}, got {type(data).__name__}")
    prices: dict[str, ModelPrice] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict):
            example = '{"input": 0.15, "output": 0.6}'
            raise ConfigError(f"{name}.{model}", f"must be an object like {example}, got {entry!r}")
        unknown = sorted(set(entry) - {"input", "output"})
        if unknown:
            raise ConfigError(f"{name}.{model}.{unknown[0]}", "unknown key; expected input and output")
        sides: dict[str, float] = {}
        for side in ("input", "output"):
            price = entry.get(side, 0.0)
            if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price) or price < 0:
                raise ConfigError(f"{name}.{model}.{side}", f"must be dollars per million tokens >= 0, got {price!r}")
            sides[side] = float(price)
        prices[model] = ModelPrice(input_per_million=sides["input"], output_per_million=sides["output"])
    return prices
