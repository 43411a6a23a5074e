"""The task router: decision cache first, then confidence scoring and the gates.

``route`` answers, in order:

1. a task that names its agent gets that agent (``UnknownAgentError`` if it is
   not configured), source ``scored``, never cached;
2. an exact decision-cache hit on the task's fingerprint, source ``cache``;
3. a paraphrase hit on its similarity sketch, source ``similar``: the cached
   decision of a *different* task, a deliberate approximation whose agreement
   with fresh routing is measured by ``bench/bench_routing.py``;
4. fresh scoring of every agent, then:

   - best confidence below ``min_confidence``: the first configured agent of
     ``fallback_chain``, source ``fallback`` (the best agent, source
     ``scored``, when the chain names no configured agent);
   - otherwise (the fallback chain takes precedence: a task no agent
     understands is not planned either) the planning gate: when
     ``planning_agent`` is configured and
     the task's complexity is at least ``planning_complexity`` or the best
     confidence is below ``planning_confidence``, the planning agent with
     ``gated=True``; the explanation says which condition held;
   - otherwise the best agent, source ``scored``.

Fresh decisions are cached by fingerprint under the current ``CacheVersions``:
the configuration (version plus reload generation), ``health_version()`` and
the experience epoch with its terms, naming the agents whose experience the
decision depends on: those the task concerns. For the others only a negative
term counts, in their scores and their explanations alike, and a negative
term moving drops every decision; otherwise a new epoch drops only the
decisions that depend on an agent whose term moved (see ``DecisionCache``).
Scoring reads nothing else that can change, so an exact hit is always the
decision fresh routing would make now. The runtime's part of
that contract: ``health_version()`` must change whenever any answer of the
scorer's ``tool_health`` changes (wire both to the circuit breakers).

Only *stable* decisions are indexed for paraphrases: those whose confidence is
at least ``similar_min_margin`` (default ``SIMILAR_MIN_MARGIN``) away from
every threshold that decided them and from the runner-up. A paraphrase moves
scores a little; a decision on a knife edge is exactly the one it could flip.

Example::

    >>> from agent_runtime.config.models import AgentSpec, RoutingSettings, RuntimeConfig, Specialty
    >>> config = RuntimeConfig(agents=(
    ...     AgentSpec("cache-expert", specialties=(Specialty("cache", {"cache": 1.0, "hit rate": 0.9}),)),
    ...     AgentSpec("generalist"),
    ... ), routing=RoutingSettings(fallback_chain=("generalist",)), version="v1")
    >>> router = TaskRouter.from_config(config)
    >>> task = Task("Why did the cache hit rate drop?")
    >>> first = router.route(task, router.analyse(task.text))
    >>> first.agent, str(first.source)
    ('cache-expert', 'scored')
    >>> str(router.route(task, router.analyse(task.text)).source)
    'cache'
    >>> str(router.route(Task("sing me a song"), router.analyse("sing me a song")).source)
    'fallback'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from agent_runtime.config.models import RoutingSettings, RuntimeConfig
from agent_runtime.errors import ConfigError, UnknownAgentError
from agent_runtime.results import AgentScore, RoutingDecision, Task
from agent_runtime.routing.decision_cache import CacheVersions, DecisionCache, SimilarHit
from agent_runtime.scoring.analysis import TaskAnalyser, TaskAnalysis
from agent_runtime.scoring.experience import ExperienceSnapshot, ExperienceTracker
from agent_runtime.scoring.matrix import CapabilityMatrix
from agent_runtime.scoring.scorer import ConfidenceScorer, ScoreBoard, always_healthy
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import RoutingSource

SIMILAR_MIN_MARGIN = 0.08
"""How far (in confidence or complexity) a decision must sit from every
threshold and from the runner-up to be offered to paraphrases. On the
default configuration a paraphrase moves the best confidence by up to about
0.07 around the planning gate; at 0.03 one paraphrase hit in 25 disagreed
with fresh scoring, at 0.08 fewer than one in 100 (``bench/bench_routing.py``)."""

CANDIDATES_KEPT = 3
"""Top candidates recorded in a decision (each explanation costs a few microseconds)."""


def no_health_changes() -> int:
    """The default health version: tool health never changes."""
    return 0


@dataclass(frozen=True)
class _State:
    """Everything derived from one configuration, swapped as one on reload."""

    config: RuntimeConfig
    generation: int
    scorer: ConfidenceScorer
    analyser: TaskAnalyser

    @cached_property
    def cache_config(self) -> str:
        # The generation guards against a reload that keeps the version string.
        return f"{self.config.version}#{self.generation}"

    @cached_property
    def vocabulary_id(self) -> str:
        """The analyser's vocabulary id (an attribute read per task, not a chain of properties)."""
        return self.analyser.vocabulary_id

    @cached_property
    def experience(self) -> ExperienceTracker:
        """The scorer's experience tracker."""
        return self.scorer.experience

    @cached_property
    def planner(self) -> str | None:
        """The planning agent, when it is configured (looked up once per configuration, not per task)."""
        routing = self.config.routing
        return routing.planning_agent if routing.planning_agent and self.config.agent(routing.planning_agent) else None

    @cached_property
    def fallback(self) -> str | None:
        """The first configured agent of the fallback chain, or None."""
        return next((name for name in self.config.routing.fallback_chain if self.config.agent(name) is not None), None)


class TaskRouter:
    """Routes tasks to agents: cached, paraphrased or freshly scored decisions.

    Thread-safe: ``route`` reads one immutable state snapshot; ``reload``
    swaps it. ``scorer`` must score ``config.agents`` and take its settings
    from ``config.routing``; ``TaskRouter.from_config`` wires it all.
    ``similar_min_margin`` trades paraphrase hits for paraphrase agreement
    (0 offers every decision to paraphrases; see ``bench/bench_routing.py``).
    """

    def __init__(
        self,
        config: RuntimeConfig,
        scorer: ConfidenceScorer,
        analyser: TaskAnalyser,
        cache: DecisionCache,
        *,
        health_version: Callable[[], int] = no_health_changes,
        listener: RuntimeListener | None = None,
        similar_min_margin: float = SIMILAR_MIN_MARGIN,
    ) -> None:
        if tuple(spec.name for spec in scorer.agents) != tuple(spec.name for spec in config.agents):
            raise ValueError("the scorer was built for different agents than the configuration")
        self._cache = cache
        self._health_version = health_version
        self._listener = listener if listener is not None else RuntimeListener()
        self._similar_min_margin = similar_min_margin
        self._reload_lock = threading.Lock()
        self._state = _State(config, 0, scorer, analyser)
        self._versions = CacheVersions(self._state.cache_config, -1, -1)
        # Similar hits already restamped, by the hit's identity (the cache answers an unchanged
        # index with the same hit object): (hit, decision); the hit is kept so the id stays its own.
        self._restamped_hits: dict[int, tuple[SimilarHit, RoutingDecision]] = {}

    @classmethod
    def from_config(
        cls,
        config: RuntimeConfig,
        *,
        experience: ExperienceTracker | None = None,
        tool_health: Callable[[str], bool] = always_healthy,
        health_version: Callable[[], int] = no_health_changes,
        listener: RuntimeListener | None = None,
        similar_min_margin: float = SIMILAR_MIN_MARGIN,
    ) -> TaskRouter:
        """A router with matrix, scorer, analyser and cache built from ``config.routing``."""
        routing = config.routing
        if experience is None:
            experience = ExperienceTracker(routing.experience_half_life_seconds)
        matrix = CapabilityMatrix(config.agents)
        return cls(
            config,
            ConfidenceScorer(config.agents, matrix, routing, experience, tool_health),
            _analyser(matrix, routing, listener),
            DecisionCache.from_settings(routing, listener),
            health_version=health_version,
            listener=listener,
            similar_min_margin=similar_min_margin,
        )

    @property
    def config(self) -> RuntimeConfig:
        """The configuration routing currently follows."""
        return self._state.config

    @property
    def analyser(self) -> TaskAnalyser:
        """The analyser for the current vocabulary (replaced when a reload changes it)."""
        return self._state.analyser

    @property
    def scorer(self) -> ConfidenceScorer:
        """The scorer for the current configuration."""
        return self._state.scorer

    @property
    def cache(self) -> DecisionCache:
        """The decision cache."""
        return self._cache

    @property
    def experience(self) -> ExperienceTracker:
        """The experience tracker (kept across reloads)."""
        return self._state.scorer.experience

    def analyse(self, text: str) -> TaskAnalysis:
        """Analyse ``text`` with the current analyser (memoised)."""
        return self._state.analyser.analyse(text)

    def reload(self, config: RuntimeConfig) -> None:
        """Route by ``config`` from now on; cached decisions are dropped.

        The experience tracker and tool-health probe carry over. The analyser,
        and its memo, carry over too when the agents' vocabulary is unchanged.
        """
        with self._reload_lock:
            old = self._state
            routing = config.routing
            matrix = CapabilityMatrix(config.agents)
            analyser = old.analyser
            if (
                analyser.vocabulary_id != matrix.vocabulary_id
                or analyser.cache_size != routing.analysis_cache_size
                or analyser.max_bytes != routing.analysis_cache_max_bytes
            ):
                analyser = _analyser(matrix, routing, self._listener)
            scorer = ConfidenceScorer(config.agents, matrix, routing, old.scorer.experience, old.scorer.tool_health)
            self._state = _State(config, old.generation + 1, scorer, analyser)
            self._cache.reconfigure(
                routing.decision_cache_size, routing.similarity_threshold, routing.decision_cache_max_bytes
            )

    def route(
        self,
        task: Task,
        analysis: TaskAnalysis,
        timings: dict[str, float] | None = None,
    ) -> RoutingDecision:
        """Choose the agent for ``task``; ``analysis`` is ``self.analyse(task.text)``.

        When ``timings`` is given and scoring runs, its duration in seconds is
        stored under ``"score"``.
        """
        state = self._state
        if analysis.vocabulary_id != state.vocabulary_id:
            # Analysed before a reload changed the vocabulary: redo it, or the
            # decision cached under the new version would not be the fresh one.
            analysis = state.analyser.analyse(task.text)
        if task.agent is not None:
            return self._requested(state, task.agent, analysis, timings)

        experience = state.experience
        snapshot = experience.snapshot()
        health = self._health_version()
        versions = self._versions
        if versions.health != health or versions.experience != snapshot.epoch or versions.config != state.cache_config:
            # One object while they hold: the cache then checks them by identity.
            versions = self._versions = CacheVersions(state.cache_config, health, snapshot.epoch, snapshot.terms)

        cached = self._cache.get(analysis.fingerprint, versions)
        if cached is not None:
            return cached  # filed with source "cache" already: a hit copies nothing
        # The sketch is derived only when something is indexed to compare it with.
        hit = self._cache.get_similar_to(lambda: analysis.sketch, versions)
        if hit is not None:
            restamped = self._restamped_hits.get(id(hit))
            if restamped is not None and restamped[0] is hit:
                return restamped[1]  # the same hit again (the index has not changed): the same decision
            decision = _restamped(hit.decision, RoutingSource.SIMILAR, _paraphrase_note(hit))
            if len(self._restamped_hits) >= 1024:
                self._restamped_hits.clear()
            self._restamped_hits[id(hit)] = (hit, decision)
            return decision

        board = self._score(state, analysis, snapshot, timings)
        decision, margin = self._decide(state, analysis, board, health)
        stable = margin >= self._similar_min_margin
        # Store only if nothing moved while scoring; otherwise the entry would
        # be filed under versions it was not made with.
        if self._cache.max_entries and self._health_version() == health and experience.epoch == snapshot.epoch:
            filed = _restamped(decision, RoutingSource.CACHE, decision.explanation)
            self._cache.put(
                analysis.fingerprint, analysis.sketch, filed, versions, similar=stable, depends_on=board.concerned
            )
        return decision

    def _requested(
        self,
        state: _State,
        agent: str,
        analysis: TaskAnalysis,
        timings: dict[str, float] | None,
    ) -> RoutingDecision:
        if state.config.agent(agent) is None:
            known = ", ".join(spec.name for spec in state.config.agents) or "none"
            raise UnknownAgentError(f"unknown agent {agent!r}; configured agents: {known}")
        health = self._health_version()
        board = self._score(state, analysis, state.scorer.experience.snapshot(), timings)
        score = board.of(agent)
        return RoutingDecision(
            agent=agent,
            confidence=score.confidence,
            source=RoutingSource.SCORED,
            explanation=f"requested by the task; {score.explanation}",
            config_version=state.config.version,
            health_version=health,
            candidates=(score,),
        )

    @staticmethod
    def _score(
        state: _State,
        analysis: TaskAnalysis,
        snapshot: ExperienceSnapshot,
        timings: dict[str, float] | None,
    ) -> ScoreBoard:
        started = time.perf_counter()
        board = state.scorer.evaluate(analysis, snapshot)
        if timings is not None:
            timings["score"] = time.perf_counter() - started
        return board

    @staticmethod
    def _decide(
        state: _State,
        analysis: TaskAnalysis,
        board: ScoreBoard,
        health: int,
    ) -> tuple[RoutingDecision, float]:
        """The decision for a freshly scored task, and its stability margin for paraphrases."""
        config = state.config
        routing = config.routing
        candidates = tuple(board.top(CANDIDATES_KEPT))
        if not candidates:
            raise ConfigError("agents", "no agents are configured, so no task can be routed")
        best = candidates[0]
        margin = best.confidence - candidates[1].confidence if len(candidates) > 1 else 1.0
        # ``gaps``: distances from every threshold (and the runner-up) that
        # decided the outcome; the smallest says how easily a paraphrase flips it.
        gaps = [abs(best.confidence - routing.min_confidence)]
        agent, confidence, source, gated = best.agent, best.confidence, RoutingSource.SCORED, False
        planner = state.planner
        fallback: str | None = None

        if best.confidence < routing.min_confidence:
            fallback = state.fallback
            if fallback is None:
                gaps.append(margin)
            else:
                agent, confidence, source = fallback, board.confidence(fallback), RoutingSource.FALLBACK
        else:
            if planner is not None:
                gaps += [
                    abs(best.confidence - routing.planning_confidence),
                    abs(analysis.complexity - routing.planning_complexity),
                ]
                gated = (
                    analysis.complexity >= routing.planning_complexity or best.confidence < routing.planning_confidence
                )
            if gated:
                agent = planner or agent
            else:
                gaps.append(margin)

        decision = RoutingDecision(
            agent=agent,
            confidence=confidence,
            source=source,
            explanation=_explain(routing, analysis, best, fallback, gated),
            gated=gated,
            fallback=source is RoutingSource.FALLBACK,
            config_version=config.version,
            health_version=health,
            candidates=candidates,
        )
        return decision, min(gaps)


def _analyser(matrix: CapabilityMatrix, routing: RoutingSettings, listener: RuntimeListener | None) -> TaskAnalyser:
    """The analyser for ``matrix``'s vocabulary, its memo bounded by ``routing``."""
    return TaskAnalyser(matrix, routing.analysis_cache_size, listener, max_bytes=routing.analysis_cache_max_bytes)


def _explain(
    routing: RoutingSettings,
    analysis: TaskAnalysis,
    best: AgentScore,
    fallback: str | None,
    gated: bool,
) -> str:
    """A fresh decision's explanation: the best candidate's, with the fallback or the gate that overrode it."""
    if best.confidence < routing.min_confidence:
        below = f"best {best.agent} {best.confidence:.2f} < min confidence {routing.min_confidence:.2f}"
        if fallback is None:
            return f"{below}, no fallback agent configured; {best.explanation}"
        return f"{below}; fallback to {fallback}"
    if not gated:
        return best.explanation
    reasons = []
    if analysis.complexity >= routing.planning_complexity:
        reasons.append(f"complexity {analysis.complexity:.2f} >= {routing.planning_complexity:.2f}")
    if best.confidence < routing.planning_confidence:
        reasons.append(f"confidence {best.confidence:.2f} < {routing.planning_confidence:.2f}")
    return f"planning gate: {', '.join(reasons)}; best {best.agent}: {best.explanation}"


def _paraphrase_note(hit: SimilarHit) -> str:
    """The explanation of a paraphrase hit: the similarity, then the cached decision's own explanation."""
    return f"paraphrase of a cached task (similarity {hit.similarity:.2f}); {hit.decision.explanation}"


def _restamped(decision: RoutingDecision, source: RoutingSource, explanation: str) -> RoutingDecision:
    """A copy with another source and explanation (direct construction: ``dataclasses.replace`` costs 3x more)."""
    return RoutingDecision(
        agent=decision.agent,
        confidence=decision.confidence,
        source=source,
        explanation=explanation,
        gated=decision.gated,
        fallback=decision.fallback,
        config_version=decision.config_version,
        health_version=decision.health_version,
        candidates=decision.candidates,
    )
