"""Settings of the HTTP service, from code or from ``AGENT_RUNTIME_*`` variables.

Example::

    >>> settings = ServiceSettings.from_env({"AGENT_RUNTIME_ADMIN_TOKEN": "s3cret"})
    >>> settings.admin_enabled, settings.max_task_chars
    (True, 4000)
    >>> "s3cret" in repr(settings)
    False
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from agent_runtime.errors import ConfigError
from agent_runtime.ops.faults import FaultSettings

ADMIN_TOKEN_ENV: Final = "AGENT_RUNTIME_ADMIN_TOKEN"
MAX_TASK_CHARS_ENV: Final = "AGENT_RUNTIME_MAX_TASK_CHARS"
MAX_BODY_BYTES_ENV: Final = "AGENT_RUNTIME_MAX_BODY_BYTES"


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and credentials of the HTTP service.

    ``admin_token`` protects the admin endpoints (cache invalidation and
    warming, breaker reset); None disables them. ``max_body_bytes`` bounds
    every request body (413 above it), ``max_task_chars`` the task text,
    ``max_context_keys`` the task context and ``max_warm_top_n`` a cache
    warming request. ``faults`` turns the fault-injection endpoints on (None:
    ``FaultSettings.from_env()``). The token is kept out of ``repr`` so settings
    can be logged.
    """

    admin_token: str | None = field(default=None, repr=False)
    max_task_chars: int = 4000
    max_body_bytes: int = 64 * 1024
    max_context_keys: int = 64
    max_warm_top_n: int = 10_000
    faults: FaultSettings | None = None

    def __post_init__(self) -> None:
        for name in ("max_task_chars", "max_body_bytes", "max_context_keys", "max_warm_top_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"service.{name}", f"must be an integer > 0, got {value!r}")
        if self.admin_token is not None and not self.admin_token.strip():
            raise ConfigError("service.admin_token", "must not be blank; leave it unset to disable admin endpoints")

    @property
    def admin_enabled(self) -> bool:
        """True when admin endpoints accept requests (a token is configured)."""
        return self.admin_token is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Settings from ``AGENT_RUNTIME_ADMIN_TOKEN``, ``AGENT_RUNTIME_MAX_TASK_CHARS``,
        ``AGENT_RUNTIME_MAX_BODY_BYTES`` and the fault-injection variables
        (``os.environ`` by default); unset or empty variables keep the defaults.
        """
        env = os.environ if environ is None else environ
        token = (env.get(ADMIN_TOKEN_ENV) or "").strip() or None
        defaults = cls()
        return cls(
            admin_token=token,
            max_task_chars=_int_env(env, MAX_TASK_CHARS_ENV, defaults.max_task_chars),
            max_body_bytes=_int_env(env, MAX_BODY_BYTES_ENV, defaults.max_body_bytes),
            faults=FaultSettings.from_env(env),
        )


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(name, f"must be > 0, got {value}")
    return value
