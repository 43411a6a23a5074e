"""The tasks of a realistic workload: on-call questions from templates, with Zipf popularity.

Tasks come from templates of on-call questions (caches, breakers, latency,
errors, alerts, docs, fetching pages, writing summaries), each *intent*
(a template with its slots filled) phrased several ways. Intents are drawn
with Zipf-distributed popularity, so a few are asked often (caches have
something to find) and many rarely; the phrasing is drawn uniformly, so the
router's similarity cache sees paraphrases. ``mix`` weights the families,
named after the agent each is written for (diagnostics, researcher,
fetcher, writer, investigator); the router still chooses the agent. Two
families are not in the default mix: ``investigator`` (root-cause questions
for the LLM agent, which is configured only with a model) and ``offtopic``
(hobbies, food, travel; thousands of distinct questions that fit no agent:
add it to exercise the router's fallback). ``fresh_share`` makes that
share of tasks new text (an intent with a unique suffix), so caches miss
them: with a model behind the runtime, that is the knob for how many
model calls a workload causes.

A ``Workload`` is a ``TaskSource`` for ``agent_runtime.ops.loadgen``'s
``LoadGenerator``, which sends its tasks to a service.

Example::

    >>> workload = Workload(seed=1)
    >>> task = workload.next_task()
    >>> sorted(task) in (["task"], ["context", "task"])
    True
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_MIX: Final[Mapping[str, float]] = {"diagnostics": 0.4, "researcher": 0.25, "fetcher": 0.15, "writer": 0.2}
ZIPF_EXPONENT: Final = 1.1
# Families drawn uniformly: off-topic questions are a long tail, not a few favourites.
_UNIFORM_FAMILIES: Final = frozenset({"offtopic"})

_TOOLS: Final = ("knowledge_search", "vector_search", "promql_query", "http_fetch")
_STAGES: Final = ("route", "score", "execute", "aggregate")
_ALERTS: Final = ("ErrorBudgetBurn", "ToolLatencyHigh", "CacheHitRateDrop", "CircuitBreakerOpen", "Saturation")
_TOPICS: Final = ("the tool cache", "the router", "the OTLP exporter", "the scoring matrix", "the plan executor")
_PAGES: Final = ("status", "changelog", "incident-log", "deploys", "capacity")
_INCIDENTS: Final = ("the latency spike", "the breaker that kept opening", "the dropped spans", "the failed deploy",
                     "yesterday's paging storm")  # fmt: skip
# Off-topic questions are many distinct combinations, as real ones are: few repeat, so the
# router's decision cache cannot answer them and they reach the fallback.
_OFFTOPIC: Final = tuple(
    f"{opener} {subject} {tail}{who}?"
    for opener in ("any tips on", "what do you think about", "tell me a fun fact about", "is it worth trying",
                   "how much does it cost to try", "recommend something like", "why do people love",
                   "give me trivia about")
    for subject in ("banana bread", "sourdough", "rugby", "jazz piano", "origami", "tango", "chess",
                    "birdwatching", "kayaking", "pottery", "haiku", "astronomy")
    for tail in ("in Lisbon", "this weekend", "for a birthday", "on holiday", "with kids", "in winter",
                 "near the coast", "for beginners", "after dinner", "in Kyoto")
    for who in ("", " for my aunt", " for two", " as a hobby", " in the rain", " at night")
)  # fmt: skip

# family → (phrasings, slot values); every phrasing of a template uses the same slot.
_TEMPLATES: Final[Mapping[str, Sequence[tuple[Sequence[str], Sequence[str]]]]] = {
    "diagnostics": (
        (
            (
                "why is the cache hit rate dropping for {}?",
                "cache hit rate drop on {}: diagnose it",
                "{} cache misses spiking, what is the mitigation?",
            ),
            _TOOLS,
        ),
        (
            (
                "is the circuit breaker for {} open?",
                "circuit breaker open on {}, troubleshoot",
                "{} breaker keeps opening: diagnose the symptom",
            ),
            _TOOLS,
        ),
        (
            (
                "p95 latency of the {} stage is high, why?",
                "investigate slow {} stage latency p99",
                "{} stage is the bottleneck: diagnose the latency",
            ),
            _STAGES,
        ),
        (
            (
                "the {} alert is firing, what does the runbook say?",
                "paged for {}: diagnosis and mitigation",
                "on-call: {} alert firing, how do I mitigate?",
            ),
            _ALERTS,
        ),
        (
            (
                "error rate spiking on {}, diagnose",
                "{} errors and timeouts increasing: troubleshoot",
                "{} failing with retries and timeouts, investigate",
            ),
            _TOOLS,
        ),
    ),
    "researcher": (
        (("explain how {} works", "documentation overview of {}", "how does {} work? find the docs"), _TOPICS),
        (
            (
                "find the configuration reference for {}",
                "list the configuration options of {} from the docs",
                "search the docs for {} configuration settings",
            ),
            _TOPICS,
        ),
        (
            (
                "explain the architecture and design of {}",
                "design overview of {} in the docs",
                "find the architecture guide for {}",
            ),
            _TOPICS,
        ),
    ),
    "fetcher": (
        (("fetch the {} web page", "download the {} page from the url", "fetch the {} webpage over http"), _PAGES),
    ),
    "writer": (
        (
            (
                "write a summary of {} for the handover",
                "draft handover notes summarising {}",
                "summarise {} in a short report",
            ),
            _TOPICS,
        ),
        (
            (
                "draft a status update about the {} incident",
                "write a postmortem summary for the {} alert",
                "write a short status update on {}",
            ),
            _ALERTS,
        ),
    ),
    # Root-cause questions for the LLM agent (the bundled `investigator`, present only with a model
    # configured). Not in the default mix: every one that misses the caches is a model call.
    "investigator": (
        (
            (
                "dig into the root cause of {}",
                "investigate the root cause of {} and correlate the signals",
                "explain the incident: what was the root cause of {}?",
            ),
            _INCIDENTS,
        ),
    ),
    # Questions no agent is for: the router falls back. Not in the default mix.
    "offtopic": ((("{}",), _OFFTOPIC),),
}


@dataclass(frozen=True)
class Intent:
    """One question with its slot filled, phrased several ways."""

    family: str
    phrasings: tuple[str, ...]
    slot: str


def build_intents(family: str) -> list[Intent]:
    """Every intent of ``family`` (one per template and slot value)."""
    return [
        Intent(family, tuple(p.format(value) for p in phrasings), value)
        for phrasings, values in _TEMPLATES[family]
        for value in values
    ]


def parse_mix(text: str) -> dict[str, float]:
    """``diagnostics=0.4,writer=0.6`` as weights; raises ``ValueError`` saying what is wrong."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        if not sep or name.strip() not in _TEMPLATES:
            raise ValueError(f"mix entries are FAMILY=WEIGHT with FAMILY one of {', '.join(_TEMPLATES)}, got {part!r}")
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"the weight of {name.strip()} must be a number, got {weight!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"the weight of {name.strip()} must be >= 0, got {weight!r}")
        mix[name.strip()] = value
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the mix needs at least one family with a weight > 0")
    return mix


class Workload:
    """Draws tasks: a family by ``mix``, an intent by Zipf popularity, a phrasing uniformly.

    ``fetch_base`` is the URL prefix of pages the fetcher family asks for
    (sent as the task context ``url``); without it that family is left out.
    ``fresh_share`` (0..1) of the tasks get a unique suffix (``(#n)``), so no
    cache has seen them. Thread-safe; the sequence is reproducible for a
    given ``seed``.
    """

    def __init__(
        self,
        mix: Mapping[str, float] | None = None,
        *,
        seed: int | None = None,
        fetch_base: str | None = None,
        zipf_exponent: float = ZIPF_EXPONENT,
        fresh_share: float = 0.0,
    ) -> None:
        if not 0.0 <= fresh_share <= 1.0:
            raise ValueError(f"fresh_share must be between 0 and 1, got {fresh_share}")
        weights = dict(DEFAULT_MIX if mix is None else mix)
        if fetch_base is None:
            weights.pop("fetcher", None)
        weights = {name: w for name, w in weights.items() if w > 0}
        if not weights:
            raise ValueError("the mix has no family left to draw from (fetcher needs fetch_base)")
        self._families = sorted(weights)
        self._family_weights = list(itertools.accumulate(weights[f] for f in self._families))
        self._fetch_base = (fetch_base or "").rstrip("/")
        self._rng = random.Random(seed)
        self._fresh_share = fresh_share
        self._fresh = itertools.count(1)
        self._lock = threading.Lock()
        self._intents: dict[str, list[Intent]] = {}
        self._cumulative: dict[str, list[float]] = {}
        for family in self._families:
            intents = build_intents(family)
            # A seeded shuffle decides which intents are the popular ones.
            self._rng.shuffle(intents)
            self._intents[family] = intents
            exponent = 0.0 if family in _UNIFORM_FAMILIES else zipf_exponent
            ranks = (1.0 / (rank**exponent) for rank in range(1, len(intents) + 1))
            self._cumulative[family] = list(itertools.accumulate(ranks))

    @property
    def families(self) -> tuple[str, ...]:
        """The families this workload draws from."""
        return tuple(self._families)

    def next_task(self) -> dict[str, Any]:
        """The next request body for ``POST /v1/tasks``."""
        with self._lock:
            family = self._rng.choices(self._families, cum_weights=self._family_weights)[0]
            intent = self._rng.choices(self._intents[family], cum_weights=self._cumulative[family])[0]
            text = self._rng.choice(intent.phrasings)
            if self._fresh_share and self._rng.random() < self._fresh_share:
                text = f"{text} (#{next(self._fresh)})"
        body: dict[str, Any] = {"task": text}
        if family == "fetcher":
            body["context"] = {"url": f"{self._fetch_base}/{intent.slot}"}
        return body
