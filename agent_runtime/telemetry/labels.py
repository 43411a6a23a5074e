"""The cardinality guard: the one place that decides every metric label value.

Label values come from sets the runtime knows (configured agents and tools,
fixed enums from the catalog). Anything else is folded to ``other`` and the
folding is counted, so a hostile client cannot grow the series count.

Example::

    >>> guard = LabelGuard(agents=("writer",), tools=("search",))
    >>> guard.agent("writer"), guard.agent("<script>")
    ('writer', 'other')
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Final

from agent_runtime.telemetry import catalog
from agent_runtime.vocabulary import GenAiOperation, values

OTHER: Final = catalog.OTHER
ENUMS: Final = catalog.ENUM_LABELS


class LabelGuard:
    """Folds label values outside the known sets to ``other`` and counts the folds.

    ``on_fold(label)`` is called once per folded value (the metrics listener
    counts it); keep it cheap.
    """

    def __init__(
        self,
        agents: Iterable[str] = (),
        tools: Iterable[str] = (),
        models: Iterable[str] = (),
        providers: Iterable[str] = (),
        on_fold: Callable[[str], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._dynamic: dict[str, frozenset[str]] = {
            "agent": frozenset(agents),
            "tool": frozenset(tools),
            "breaker": frozenset(tools),
            "gen_ai_request_model": frozenset(models),
            "gen_ai_provider_name": frozenset(providers),
            "gen_ai_operation_name": frozenset(values(GenAiOperation)),
        }
        self._enums = {name: frozenset(allowed) for name, allowed in ENUMS.items()}
        self._on_fold = on_fold

    def set_on_fold(self, on_fold: Callable[[str], None]) -> None:
        """Install the fold counter (done by the metrics listener)."""
        self._on_fold = on_fold

    def labels(self) -> tuple[str, ...]:
        """Every label name the guard decides values for."""
        return tuple(sorted({*self._dynamic, *self._enums}))

    def allowed(self, label: str) -> frozenset[str]:
        """The values ``label`` may take besides ``other``."""
        return self._dynamic.get(label) or self._enums.get(label) or frozenset()

    def fold(self, label: str, value: str) -> str:
        """``value`` if it is known for ``label``, else ``other`` (counted)."""
        if value in self.allowed(label):
            return value
        if value != OTHER and self._on_fold is not None:
            self._on_fold(label)
        return OTHER

    def agent(self, value: str) -> str:
        """A safe ``agent`` label value."""
        return self.fold("agent", value)

    def tool(self, value: str) -> str:
        """A safe ``tool`` label value."""
        return self.fold("tool", value)

    def extend(self, label: str, values: Iterable[str]) -> None:
        """Admit more values for a dynamic label (a config reload or a new model)."""
        with self._lock:
            self._dynamic[label] = self._dynamic.get(label, frozenset()) | frozenset(values)
