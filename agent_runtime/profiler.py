"""Per-stage timing and the bottleneck report.

Every task records how long each stage took (analyse, score, route, plan,
execute, each tool as ``tool:<name>``, aggregate). The profiler keeps the
last ``window`` tasks and ranks stages by their share of task time and by
their p95 against the per-stage targets from configuration.

Shares are ``time in stage / task time`` summed over the window. Stages nest
(``score`` is inside ``route``, tools inside ``execute``) and tools run in
parallel, so shares are read one by one and do not add up to 1.

Example::

    >>> profiler = Profiler(targets={"route": 0.001})
    >>> profiler.record({"route": 0.004, "execute": 0.010}, task_seconds=0.015)
    >>> report = profiler.report()
    >>> report.stages[0].stage, report.stages[0].over_target
    ('execute', False)
    >>> [s.stage for s in report.over_target()]
    ['route']
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StageStats:
    """One stage's figures over the profiler window."""

    stage: str
    samples: int
    share_of_task_time: float
    mean_seconds: float
    p50_seconds: float
    p95_seconds: float
    target_seconds: float | None

    @property
    def over_target(self) -> bool:
        """True when the stage's p95 exceeds its configured target."""
        return self.target_seconds is not None and self.p95_seconds > self.target_seconds

    @property
    def p95_to_target(self) -> float | None:
        """p95 divided by the target (above 1 means over target)."""
        if self.target_seconds is None:
            return None
        return self.p95_seconds / self.target_seconds

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "stage": self.stage,
            "samples": self.samples,
            "share_of_task_time": round(self.share_of_task_time, 4),
            "mean_seconds": round(self.mean_seconds, 6),
            "p50_seconds": round(self.p50_seconds, 6),
            "p95_seconds": round(self.p95_seconds, 6),
            "target_seconds": self.target_seconds,
            "over_target": self.over_target,
        }


@dataclass(frozen=True)
class BottleneckReport:
    """Stages ranked by share of task time (largest first)."""

    tasks: int
    task_p95_seconds: float
    stages: tuple[StageStats, ...]

    def over_target(self) -> tuple[StageStats, ...]:
        """Stages whose p95 exceeds target, worst (highest p95/target) first."""
        over = [s for s in self.stages if s.over_target]
        return tuple(sorted(over, key=lambda s: -(s.p95_to_target or 0.0)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as served by ``GET /v1/bottlenecks``."""
        return {
            "tasks": self.tasks,
            "task_p95_seconds": round(self.task_p95_seconds, 6),
            "by_share": [s.to_dict() for s in self.stages],
            "over_target": [s.stage for s in self.over_target()],
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class Profiler:
    """Keeps the stage timings of the last ``window`` tasks (thread-safe)."""

    def __init__(self, targets: Mapping[str, float] | None = None, *, window: int = 2048) -> None:
        self._targets = dict(targets or {})
        self._tasks: deque[tuple[Mapping[str, float], float]] = deque(maxlen=window)
        self._lock = threading.Lock()

    def set_targets(self, targets: Mapping[str, float]) -> None:
        """Replace the per-stage targets (on a configuration reload)."""
        self._targets = dict(targets)

    def record(self, stages: Mapping[str, float], *, task_seconds: float) -> None:
        """Record one task's stage timings and its total time."""
        with self._lock:
            self._tasks.append((dict(stages), task_seconds))

    def report(self) -> BottleneckReport:
        """Rank stages by share of task time over the window."""
        with self._lock:
            tasks = list(self._tasks)
        total = sum(seconds for _, seconds in tasks)
        per_stage: dict[str, list[float]] = {}
        for stages, _ in tasks:
            for stage, seconds in stages.items():
                per_stage.setdefault(stage, []).append(seconds)
        stats = []
        for stage, values in per_stage.items():
            values.sort()
            target = self._targets.get(stage)
            if target is None and stage.startswith("tool:"):
                target = self._targets.get("tool")
            stats.append(
                StageStats(
                    stage=stage,
                    samples=len(values),
                    share_of_task_time=(sum(values) / total) if total > 0 else 0.0,
                    mean_seconds=sum(values) / len(values),
                    p50_seconds=_quantile(values, 0.5),
                    p95_seconds=_quantile(values, 0.95),
                    target_seconds=target,
                )
            )
        stats.sort(key=lambda s: (-s.share_of_task_time, s.stage))
        durations = sorted(seconds for _, seconds in tasks)
        return BottleneckReport(len(tasks), _quantile(durations, 0.95), tuple(stats))
