"""What every request handler shares: the runtime, the settings, the task count.

``create_app`` stores one ``ServiceState`` in ``app.extensions``; blueprints
reach it through ``current_state()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from flask import current_app

from agent_runtime.runtime import Runtime
from agent_runtime.service.settings import ServiceSettings

EXTENSION_KEY: Final = "agent_runtime"


class ServiceState:
    """The runtime behind an app, its settings and the tasks it is running."""

    def __init__(self, runtime: Runtime, settings: ServiceSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Tasks this app is running right now (this process only)."""
        return self._in_flight

    @property
    def at_capacity(self) -> bool:
        """True when a new task would be refused by the runtime's in-flight limit."""
        return self._in_flight >= self.runtime.config.execution.max_in_flight_tasks

    @contextmanager
    def track_task(self) -> Iterator[None]:
        """Count a task as in flight for the duration of the block (feeds ``/readyz``)."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1


def current_state() -> ServiceState:
    """The ``ServiceState`` of the app handling the current request."""
    state = current_app.extensions[EXTENSION_KEY]
    assert isinstance(state, ServiceState)
    return state
