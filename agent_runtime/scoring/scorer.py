"""Confidence scoring: how well each agent fits an analysed task, and why.

An agent's confidence is a weighted sum of five signals, each in 0..1, plus
its experience, clamped to 0..1::

    DOMAIN_WEIGHT   * domain match    the task's domain shares the agent has
                                      specialties in (times specialty weight)
  + COVERAGE_WEIGHT * coverage        fraction of the task's term weight the
                                      agent's keywords cover (times keyword weight)
  + FOCUS_WEIGHT    * focus           fraction of the agent's own keyword mass
                                      the task hit: breaks ties for a specialist
                                      over a generalist covering the same terms
  + TOOLS_WEIGHT    * tool health     fraction of the agent's tools that are
                                      healthy (no tools counts as healthy)
  + BASE_WEIGHT     * base confidence the agent's configured prior
  + experience_weight * experience    quantised term in [-1, 1]

The five weights sum to 1, so an agent that matches nothing scores
``TOOLS_WEIGHT + BASE_WEIGHT * base`` (0.225 at base 0.5, below the default
``min_confidence`` of 0.3) and a perfect, healthy match scores near 1.

Cost: the last three signals do not depend on the task. Their sum, the
*baseline*, is computed per agent and ranked once per (tool health,
experience snapshot) and reused until either changes. Per task, one pass
over its terms in the ``CapabilityMatrix`` and one over its (few) domains
give the other signals for the agents they touch; the ranking merges those
agents with the pre-ranked baseline, so taking the top few candidates never
walks agents the task does not concern.

Example::

    >>> from agent_runtime.config.models import AgentSpec, RoutingSettings, Specialty
    >>> from agent_runtime.scoring.analysis import TaskAnalyser
    >>> from agent_runtime.scoring.experience import ExperienceTracker
    >>> agents = [
    ...     AgentSpec("cache-expert", specialties=(Specialty("cache", {"cache": 1.0, "hit rate": 0.9}),)),
    ...     AgentSpec("writer", specialties=(Specialty("writing", {"write": 1.0, "report": 0.8}),)),
    ... ]
    >>> matrix = CapabilityMatrix(agents)
    >>> scorer = ConfidenceScorer(agents, matrix, RoutingSettings(), ExperienceTracker())
    >>> best = scorer.score(TaskAnalyser(matrix).analyse("Why did the cache hit rate drop?"))[0]
    >>> best.agent, round(best.confidence, 2)
    ('cache-expert', 0.83)
    >>> best.explanation
    'domain cache 0.86; covers 3/4 terms (cache, hit, rate); no tools; base 0.50; experience +0.00'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from agent_runtime.config.models import AgentSpec, RoutingSettings
from agent_runtime.errors import UnknownAgentError
from agent_runtime.results import AgentScore
from agent_runtime.scoring.analysis import TaskAnalysis
from agent_runtime.scoring.experience import ExperienceSnapshot, ExperienceTracker
from agent_runtime.scoring.matrix import CapabilityMatrix

DOMAIN_WEIGHT = 0.35
COVERAGE_WEIGHT = 0.30
FOCUS_WEIGHT = 0.05
TOOLS_WEIGHT = 0.15
BASE_WEIGHT = 0.15

EXPLAINED_TERMS = 4
"""Covered terms named in an explanation; more are summarised as "..."."""


def always_healthy(tool: str) -> bool:
    """The default tool health: every tool is up."""
    return True


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


@dataclass(frozen=True, slots=True)
class _Baseline:
    """The task-independent part of every agent's confidence, for one health and experience state."""

    snapshot: ExperienceSnapshot
    health: tuple[bool, ...]
    values: tuple[float, ...]
    clamped: tuple[float, ...]
    explained: tuple[str, ...]  # "tools 2/2 healthy; base 0.50; experience +0.00"
    order: tuple[int, ...]  # agents by (-clamped value, name)


@dataclass(frozen=True, slots=True)
class _TaskSignals:
    """The task-dependent signals, for the agents the task touched only."""

    analysis: TaskAnalysis
    bonus: dict[int, float]  # DOMAIN + COVERAGE + FOCUS parts, touched agents only
    domain: dict[int, float]  # uncapped domain match


class ScoreBoard:
    """Every agent's confidence for one task, ranked; explanations built on demand.

    Ranking is by confidence descending, then agent name, so ties are
    deterministic. Building an ``AgentScore`` formats its explanation, so the
    router asks only for the few it keeps.
    """

    def __init__(
        self,
        matrix: CapabilityMatrix,
        baseline: _Baseline,
        signals: _TaskSignals,
        postings_visited: int,
        specialty_weights: Sequence[Mapping[str, float]],
    ) -> None:
        self._matrix = matrix
        self._specialty_weights = specialty_weights
        self._baseline = baseline
        self._signals = signals
        values, names = baseline.values, matrix.names
        self._touched_confidence = {i: _clamp(values[i] + bonus) for i, bonus in signals.bonus.items()}
        self._touched = sorted(self._touched_confidence, key=lambda i: (-self._touched_confidence[i], names[i]))
        self.postings_visited = postings_visited
        """Postings the term pass touched: the task-dependent cost of scoring."""

    def __len__(self) -> int:
        return len(self._matrix)

    def _confidence(self, i: int) -> float:
        confidence = self._touched_confidence.get(i)
        return self._baseline.clamped[i] if confidence is None else confidence

    def _ranked(self) -> Iterator[int]:
        """Agent indices best first: the touched agents merged into the pre-ranked rest."""
        names, clamped = self._matrix.names, self._baseline.clamped
        touched, confidence = self._touched, self._touched_confidence
        rest = (i for i in self._baseline.order if i not in confidence)
        position, candidate = 0, next(rest, None)
        while position < len(touched) or candidate is not None:
            if candidate is None or (
                position < len(touched)
                and (-confidence[touched[position]], names[touched[position]]) < (-clamped[candidate], names[candidate])
            ):
                yield touched[position]
                position += 1
            else:
                yield candidate
                candidate = next(rest, None)

    @property
    def ranking(self) -> tuple[str, ...]:
        """Agent names, best first."""
        names = self._matrix.names
        return tuple(names[i] for i in self._ranked())

    def confidence(self, agent: str) -> float:
        """One agent's confidence (``UnknownAgentError`` if it is not scored here)."""
        return self._confidence(self._position(agent))

    def top(self, count: int | None = None) -> list[AgentScore]:
        """The best ``count`` agents (all when None), explained."""
        return [self._score(i) for i in itertools.islice(self._ranked(), count)]

    def of(self, agent: str) -> AgentScore:
        """One agent's explained score (``UnknownAgentError`` if it is not scored here)."""
        return self._score(self._position(agent))

    @property
    def best(self) -> AgentScore | None:
        """The top agent, or None when there are no agents."""
        return next((self._score(i) for i in self._ranked()), None)

    @property
    def margin(self) -> float:
        """Best minus runner-up confidence (1.0 with fewer than two agents)."""
        first_two = [self._confidence(i) for i in itertools.islice(self._ranked(), 2)]
        return first_two[0] - first_two[1] if len(first_two) == 2 else 1.0

    def _position(self, agent: str) -> int:
        position = self._matrix.index(agent)
        if position is None:
            known = ", ".join(sorted(self._matrix.names)) or "none"
            raise UnknownAgentError(f"unknown agent {agent!r}; configured agents: {known}")
        return position

    def _score(self, i: int) -> AgentScore:
        return AgentScore(self._matrix.names[i], self._confidence(i), self._explain(i))

    def _explain(self, i: int) -> str:
        signals, matrix = self._signals, self._matrix
        analysis = signals.analysis
        # Name the domain contributing most (the first, in share order, on ties).
        best, contribution = "", 0.0
        for name, share in analysis.domain_weights.items():
            value = share * self._specialty_weights[i].get(name, 0.0)
            if value > contribution:
                best, contribution = name, value
        parts = [f"domain {best} {min(1.0, signals.domain.get(i, 0.0)):.2f}" if best else "no domain match"]
        covered = matrix.covered_terms(i, analysis.term_weights)
        named = [analysis.surface.get(term, term) for term in covered[:EXPLAINED_TERMS]]
        if len(covered) > EXPLAINED_TERMS:
            named.append("...")
        covers = f"covers {len(covered)}/{len(analysis.term_weights)} terms"
        parts.append(f"{covers} ({', '.join(named)})" if named else covers)
        parts.append(self._baseline.explained[i])
        return "; ".join(parts)


class ConfidenceScorer:
    """Scores every configured agent for an analysed task.

    ``matrix`` must be built from the same ``agents``. ``tool_health(tool)``
    is asked once per distinct tool per scoring (wire it to the circuit
    breakers: an open breaker is an unhealthy tool). Experience comes from
    ``experience`` unless a snapshot is passed in, which the router does so
    that it caches the decision under the very epoch it scored with.
    """

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        matrix: CapabilityMatrix,
        settings: RoutingSettings,
        experience: ExperienceTracker,
        tool_health: Callable[[str], bool] = always_healthy,
    ) -> None:
        specs = tuple(agents)
        if tuple(spec.name for spec in specs) != matrix.names:
            raise ValueError("the capability matrix was built from different agents")
        self._specs = specs
        self._matrix = matrix
        self._settings = settings
        self._experience = experience
        self._tool_health = tool_health
        self._bases = tuple(_clamp(spec.base_confidence) for spec in specs)
        self._baseline: _Baseline | None = None
        # Per-task arithmetic pre-folded into per-agent constants.
        self._focus_scale = tuple(FOCUS_WEIGHT / total if total else 0.0 for total in matrix.keyword_totals)
        self._domain_agents = {
            name: tuple((i, _clamp(w)) for i, w in matrix.domain_agents(name))
            for name in frozenset().union(*matrix.domains)
        }
        self._specialty_weights: tuple[dict[str, float], ...] = tuple(
            {s.domain: _clamp(s.weight) for s in spec.specialties} for spec in specs
        )

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        """The scored agents, in matrix order."""
        return self._specs

    @property
    def matrix(self) -> CapabilityMatrix:
        """The capability matrix scoring reads."""
        return self._matrix

    @property
    def settings(self) -> RoutingSettings:
        """The routing settings (``experience_weight`` is read from here)."""
        return self._settings

    @property
    def experience(self) -> ExperienceTracker:
        """The experience tracker."""
        return self._experience

    @property
    def tool_health(self) -> Callable[[str], bool]:
        """The tool health probe."""
        return self._tool_health

    def evaluate(self, analysis: TaskAnalysis, experience: ExperienceSnapshot | None = None) -> ScoreBoard:
        """Score every agent; explanations are formatted only when asked for."""
        matrix = self._matrix
        snapshot = experience if experience is not None else self._experience.snapshot()
        health = tuple(bool(self._tool_health(tool)) for tool in matrix.all_tools)
        baseline = self._baseline
        if baseline is None or baseline.snapshot is not snapshot or baseline.health != health:
            # Racing threads may both rebuild; both results are equal, either may stay.
            baseline = self._baseline = self._build_baseline(snapshot, health)

        match = matrix.match(analysis.term_weights)
        covered, matched = match.covered_weight, match.matched_keyword_weight
        domain: dict[int, float] = {}
        for name, share in analysis.domain_weights.items():
            for i, specialty_weight in self._domain_agents.get(name, ()):
                domain[i] = domain.get(i, 0.0) + share * specialty_weight

        # Coverage and focus are fractions by construction (covered <= total
        # task weight, matched <= the agent's keyword total): no capping needed.
        total_weight = sum(analysis.term_weights.values())
        coverage_scale = COVERAGE_WEIGHT / total_weight if total_weight else 0.0
        focus_scale = self._focus_scale
        bonus: dict[int, float] = {}
        for i in domain.keys() | covered.keys():
            domain_match = domain.get(i, 0.0)
            bonus[i] = (
                DOMAIN_WEIGHT * (domain_match if domain_match < 1.0 else 1.0)
                + coverage_scale * covered.get(i, 0.0)
                + focus_scale[i] * matched.get(i, 0.0)
            )
        signals = _TaskSignals(analysis, bonus, domain)
        return ScoreBoard(matrix, baseline, signals, match.postings_visited, self._specialty_weights)

    def _build_baseline(self, snapshot: ExperienceSnapshot, health: tuple[bool, ...]) -> _Baseline:
        matrix = self._matrix
        healthy = dict(zip(matrix.all_tools, health, strict=True))
        weight = self._settings.experience_weight
        values: list[float] = []
        explained: list[str] = []
        for i, name in enumerate(matrix.names):
            tools = matrix.tools[i]
            up = sum(1 for tool in tools if healthy[tool])
            term = weight * snapshot.term(name)
            values.append(TOOLS_WEIGHT * (up / len(tools) if tools else 1.0) + BASE_WEIGHT * self._bases[i] + term)
            tools_part = f"tools {up}/{len(tools)} healthy" if tools else "no tools"
            explained.append(f"{tools_part}; base {self._bases[i]:.2f}; experience {term:+.2f}")
        clamped = tuple(_clamp(value) for value in values)
        order = sorted(range(len(values)), key=lambda i: (-clamped[i], matrix.names[i]))
        return _Baseline(snapshot, health, tuple(values), clamped, tuple(explained), tuple(order))

    def score(self, analysis: TaskAnalysis, experience: ExperienceSnapshot | None = None) -> list[AgentScore]:
        """Every agent's explained score, best first (ties by name)."""
        return self.evaluate(analysis, experience).top()
