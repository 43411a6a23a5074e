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

Experience refines the choice among the agents a task concerns (shares a
term or a domain with): for an agent the task does not concern, only a
negative term counts. A good track record never makes an agent fit a task
it has no keyword or domain for, so a task nothing matches still goes to
the fallback chain after a long healthy run.

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
    values: tuple[float, ...]  # for an agent the task concerns: with its experience term
    clamped: tuple[float, ...]  # for one it does not (clamped): with a negative term only
    explained: tuple[str, ...]  # "tools 2/2 healthy; base 0.50; experience +0.00"
    explained_unconcerned: tuple[str, ...]
    order: tuple[int, ...]  # agents by (-clamped value, name)


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
        analysis: TaskAnalysis,
        *,
        touched_confidence: dict[int, float],
        domain: dict[int, float],
        postings_visited: int,
        specialty_weights: Sequence[Mapping[str, float]],
        name_rank: tuple[int, ...],
    ) -> None:
        self._matrix = matrix
        self._baseline = baseline
        self._analysis = analysis
        self._touched_confidence = touched_confidence
        self._domain = domain  # uncapped domain match, touched agents only
        self._specialty_weights = specialty_weights
        # (-confidence, name rank) orders as (-confidence, name): ranks follow the sorted names.
        ranked = sorted([(-confidence, name_rank[i], i) for i, confidence in touched_confidence.items()])
        self._touched = [i for _, _, i in ranked]
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
    def concerned(self) -> tuple[str, ...]:
        """The agents the task concerns (shares a term or a domain with): only their positive experience counts."""
        names = self._matrix.names
        return tuple(names[i] for i in self._touched_confidence)

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
        analysis = self._analysis
        # Name the domain contributing most (the first, in share order, on ties).
        best, contribution = "", 0.0
        weights = self._specialty_weights[i]
        for name, share in analysis.domain_weights.items():
            weight = weights.get(name)
            if weight is not None and share * weight > contribution:
                best, contribution = name, share * weight
        terms = analysis.term_weights
        covered = self._matrix.covered_terms(i, terms)
        if covered:
            surface = analysis.surface
            named = ", ".join([surface.get(term, term) for term in covered[:EXPLAINED_TERMS]])
            more = ", ..." if len(covered) > EXPLAINED_TERMS else ""
            covers = f"covers {len(covered)}/{len(terms)} terms ({named}{more})"
        else:
            covers = f"covers 0/{len(terms)} terms"
        if best:
            return f"domain {best} {min(1.0, self._domain.get(i, 0.0)):.2f}; {covers}; {self._baseline.explained[i]}"
        if i not in self._touched_confidence:
            return f"no domain match; {covers}; {self._baseline.explained_unconcerned[i]}"
        return f"no domain match; {covers}; {self._baseline.explained[i]}"


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
        # Per term: (agent, capped weight, weight) for every posting, as plain tuples.
        self._postings = {
            term: tuple((p.agent, p.capped, p.weight) for p in matrix.postings(term)) for term in matrix.terms
        }
        # Per agent: its position among the agents sorted by name, the ranking's tie-breaker.
        names = matrix.names
        by_name = sorted(range(len(names)), key=names.__getitem__)
        self._name_rank = tuple(sorted(range(len(names)), key=by_name.__getitem__))
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
        health = tuple(map(bool, map(self._tool_health, matrix.all_tools)))
        baseline = self._baseline
        if baseline is None or baseline.snapshot is not snapshot or baseline.health != health:
            # Racing threads may both rebuild; both results are equal, either may stay.
            baseline = self._baseline = self._build_baseline(snapshot, health)

        # The matrix's term pass (``CapabilityMatrix.match``), inlined over plain tuples.
        covered: dict[int, float] = {}
        matched: dict[int, float] = {}
        visited = 0
        postings_of = self._postings
        for term, task_weight in analysis.term_weights.items():
            postings = postings_of.get(term)
            if postings is None:
                continue
            visited += len(postings)
            for i, capped, weight in postings:
                covered[i] = covered.get(i, 0.0) + task_weight * capped
                matched[i] = matched.get(i, 0.0) + weight
        domain: dict[int, float] = {}
        for name, share in analysis.domain_weights.items():
            for i, specialty_weight in self._domain_agents.get(name, ()):
                domain[i] = domain.get(i, 0.0) + share * specialty_weight

        # Coverage and focus are fractions by construction (covered <= total
        # task weight, matched <= the agent's keyword total): no capping needed.
        total_weight = sum(analysis.term_weights.values())
        coverage_scale = COVERAGE_WEIGHT / total_weight if total_weight else 0.0
        focus_scale, values = self._focus_scale, baseline.values
        touched: dict[int, float] = {}
        for i in domain.keys() | covered.keys():
            domain_match = domain.get(i, 0.0)
            bonus = (
                DOMAIN_WEIGHT * (domain_match if domain_match < 1.0 else 1.0)
                + coverage_scale * covered.get(i, 0.0)
                + focus_scale[i] * matched.get(i, 0.0)
            )
            touched[i] = _clamp(values[i] + bonus)
        return ScoreBoard(
            matrix,
            baseline,
            analysis,
            touched_confidence=touched,
            domain=domain,
            postings_visited=visited,
            specialty_weights=self._specialty_weights,
            name_rank=self._name_rank,
        )

    def _build_baseline(self, snapshot: ExperienceSnapshot, health: tuple[bool, ...]) -> _Baseline:
        matrix = self._matrix
        healthy = dict(zip(matrix.all_tools, health, strict=True))
        weight = self._settings.experience_weight
        values: list[float] = []
        unconcerned: list[float] = []
        explained: list[str] = []
        explained_unconcerned: list[str] = []
        for i, name in enumerate(matrix.names):
            tools = matrix.tools[i]
            up = sum(1 for tool in tools if healthy[tool])
            term = weight * snapshot.term(name)
            fixed = TOOLS_WEIGHT * (up / len(tools) if tools else 1.0) + BASE_WEIGHT * self._bases[i]
            values.append(fixed + term)
            unconcerned.append(fixed + min(term, 0.0))
            prefix = f"{f'tools {up}/{len(tools)} healthy' if tools else 'no tools'}; base {self._bases[i]:.2f}"
            explained.append(f"{prefix}; experience {term:+.2f}")
            # What counts, and only that: a good record, which does not count here, must not show in
            # the words either, or every cached decision naming the agent would go stale with it.
            explained_unconcerned.append(f"{prefix}; experience {min(term, 0.0):+.2f}")
        clamped = tuple(_clamp(value) for value in unconcerned)
        order = sorted(range(len(values)), key=lambda i: (-clamped[i], matrix.names[i]))
        return _Baseline(
            snapshot, health, tuple(values), clamped, tuple(explained), tuple(explained_unconcerned), tuple(order)
        )

    def score(self, analysis: TaskAnalysis, experience: ExperienceSnapshot | None = None) -> list[AgentScore]:
        """Every agent's explained score, best first (ties by name)."""
        return self.evaluate(analysis, experience).top()
