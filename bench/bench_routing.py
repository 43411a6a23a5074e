"""Benchmark: routing with the decision cache, scoring without it, and a naive scorer.

Not a test: it measures and reports. One workload, three routers:

(a) ours, cached: ``TaskRouter`` with its analysis memo and decision cache
    (exact by fingerprint, paraphrases by SimHash sketch);
(b) ours, uncached: the same analyser and scorer with both caches off, so
    every task is normalised, analysed and scored from scratch;
(c) naive: the obvious baseline, written here: for every agent, for every
    keyword, a substring test on the lower-cased text (agents x keywords).

The workload is templated tasks over eight domains: each *intent* (a domain,
two of its keywords, an adjective, a kind of request) has four paraphrased
surface forms, and intents repeat with a Zipf-like popularity, as real task
streams do. Some texts also get random casing and punctuation.

Reported per agent count: microseconds per task for (a), (b), (c); the
ratios naive / ours; the decision-cache hit rate (exact and similar); and the
paraphrase agreement rate: of the tasks answered by the similar layer, the
fraction whose agent equals what fresh scoring picks for that very text.

Run from the repository root::

    python bench/bench_routing.py            # prints a table, writes bench/results/routing.json
    python bench/bench_routing.py --quick    # fewer tasks
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# The checkout this file is in, ahead of any installed copy of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from profiles import profile_top  # bench/profiles.py (this script's directory is on sys.path)

from agent_runtime.config.loader import load_config
from agent_runtime.config.models import AgentSpec, RoutingSettings, RuntimeConfig, Specialty
from agent_runtime.results import RoutingDecision, Task
from agent_runtime.routing.decision_cache import CacheVersions, DecisionCache, SimilarHit
from agent_runtime.routing.router import SIMILAR_MIN_MARGIN, TaskRouter
from agent_runtime.scoring.experience import ExperienceTracker
from agent_runtime.telemetry.listener import RuntimeListener

RESULTS = Path(__file__).resolve().parent / "results" / "routing.json"


def _keywords(text: str) -> list[str]:
    return [word.strip() for word in text.split(",")]


DOMAINS: dict[str, list[str]] = {
    "cache": _keywords(
        "cache, hit rate, miss, eviction, ttl, redis, memcached, warmup, invalidation, stale, expiry, lru, "
        "hot key, cold start, memory, serialization"
    ),
    "database": _keywords(
        "database, sql, query, index, postgres, mysql, table, schema, migration, deadlock, replication, "
        "vacuum, transaction, join, row, connection pool"
    ),
    "writing": _keywords(
        "write, report, summary, draft, email, document, blog, announcement, release notes, proofread, "
        "tone, paragraph, outline, newsletter, memo, wording"
    ),
    "alerts": _keywords(
        "alert, incident, prometheus, page, rule, alertmanager, silence, on call, firing, threshold, runbook, "
        "escalation, severity, pager, inhibition, notification"
    ),
    "network": _keywords(
        "network, dns, latency, packet, tcp, timeout, load balancer, tls, certificate, firewall, routing, "
        "bandwidth, proxy, ingress, socket, http"
    ),
    "deploy": _keywords(
        "deploy, release, rollback, kubernetes, pod, container, image, helm, canary, pipeline, build, ci, "
        "rollout, manifest, cluster, node"
    ),
    "security": _keywords(
        "security, vulnerability, cve, password, secret, token, permission, audit, access, encryption, "
        "breach, phishing, key rotation, sso, mfa, policy"
    ),
    "billing": _keywords(
        "billing, invoice, payment, refund, charge, subscription, pricing, credit card, receipt, tax, "
        "discount, coupon, customer account, chargeback, currency, quota"
    ),
}
ADJECTIVES = ["slow", "broken", "high", "low", "flaky", "weird", "wrong", "unstable"]
PARAPHRASES: dict[str, list[str]] = {
    "diagnose": [
        "why is the {a} {b} so {adj}?",
        "the {a} {b} is {adj}, why?",
        "can you check why our {a} {b} looks {adj} today",
        "{a} {b} {adj} - what is going on?",
    ],
    "explain": [
        "explain how {a} works with {b}",
        "how does {a} work with {b}?",
        "could you explain {a} and {b} to me",
        "what is the relation between {a} and {b}",
    ],
    "fix": [
        "fix the {a} {b} problem",
        "please fix our {a} {b} issue",
        "we need the {a} {b} problem fixed",
        "help me fix the {a} {b} issue quickly",
    ],
    "compound": [
        "check the {a} {b} and then write a {w} about it, also explain why the {c} {d} is {adj} and how to fix it",
        "why is the {c} {d} {adj}? check the {a} {b} too, and then write a {w} for the team and plan the fix",
        "first look at {a} {b}, then at why {c} {d} is {adj}, and also draft a {w} plus a plan for the fix",
        "investigate {a} {b} and {c} {d} being {adj}, then write a {w}, and also tell me how we coordinate it",
    ],
}
WRITING_FORMS = ["report", "summary", "email", "memo"]


def build_agents(count: int, rng: random.Random) -> tuple[AgentSpec, ...]:
    """``count`` agents: specialists first, then hybrids of two domains, then juniors; plus planner and generalist."""
    domains = list(DOMAINS)

    def weighted(words: Sequence[str]) -> dict[str, float]:
        return {word: round(rng.uniform(0.6, 1.0), 2) for word in words}

    agents: list[AgentSpec] = [
        AgentSpec(
            "planner", specialties=(Specialty("planning", {"plan": 1.0, "coordinate": 0.8}),), base_confidence=0.4
        ),
        AgentSpec("generalist", base_confidence=0.5),
    ]
    i = 0
    while len(agents) < count:
        domain = domains[i % len(domains)]
        rank = i // len(domains)
        words = DOMAINS[domain]
        tools = (f"{domain}_tool_{rank % 3}", f"shared_tool_{i % 5}")
        if rank == 0:
            agents.append(AgentSpec(f"{domain}-expert", specialties=(Specialty(domain, weighted(words)),), tools=tools))
        elif rank % 2 == 1:
            other = domains[(i + rank) % len(domains)]
            specialties = (
                Specialty(domain, weighted(rng.sample(words, 8))),
                Specialty(other, weighted(rng.sample(DOMAINS[other], 8)), weight=0.6),
            )
            agents.append(AgentSpec(f"{domain}-{other}-{rank}", specialties=specialties, tools=tools))
        else:
            specialty = Specialty(domain, weighted(rng.sample(words, 10)))
            agents.append(
                AgentSpec(f"{domain}-junior-{rank}", specialties=(specialty,), base_confidence=0.4, tools=tools)
            )
        i += 1
    return tuple(agents[:count])


def config_for(agents: tuple[AgentSpec, ...], *, cached: bool) -> RuntimeConfig:
    size = 4096 if cached else 0
    routing = RoutingSettings(
        fallback_chain=("generalist",),
        planning_agent="planner",
        decision_cache_size=size,
        analysis_cache_size=size,
    )
    return RuntimeConfig(agents=agents, routing=routing, version="bench")


def make_workload(count: int, rng: random.Random, intents: int = 600, zipf: float = 1.1) -> list[str]:
    """``count`` task texts: Zipf-popular intents, each said one of four ways, sometimes noisily."""
    domains = list(DOMAINS)
    pool: list[tuple[str, dict[str, str]]] = []
    for _ in range(intents):
        kind = rng.choices(list(PARAPHRASES), weights=[4, 3, 3, 1])[0]
        domain, other = rng.sample(domains, 2)
        a, b = rng.sample(DOMAINS[domain], 2)
        c, d = rng.sample(DOMAINS[other], 2)
        slots = {"a": a, "b": b, "c": c, "d": d, "adj": rng.choice(ADJECTIVES), "w": rng.choice(WRITING_FORMS)}
        pool.append((kind, slots))
    weights = [1.0 / (rank + 1) ** zipf for rank in range(intents)]
    texts: list[str] = []
    for kind, slots in rng.choices(pool, weights=weights, k=count):
        text = rng.choice(PARAPHRASES[kind]).format(**slots)
        if rng.random() < 0.2:
            text = text.upper() if rng.random() < 0.5 else f"  {text.capitalize()}!! "
        texts.append(text)
    return texts


REFERENCE_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "into",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "me",
        "my",
        "we",
        "us",
        "our",
        "you",
        "your",
        "he",
        "she",
        "they",
        "them",
        "their",
        "there",
        "here",
        "what",
        "why",
        "how",
        "when",
        "where",
        "which",
        "who",
        "and",
        "or",
        "but",
        "then",
        "also",
        "so",
        "if",
        "because",
        "please",
        "can",
        "could",
        "would",
        "should",
        "will",
        "may",
        "might",
        "must",
        "some",
        "any",
        "all",
        "just",
        "not",
        "no",
        "very",
        "do",
        "does",
        "did",
        "s",
        "t",
        "ll",
        "re",
        "ve",
    ]
)


class ReferenceRouter:
    """The reference routing design, written plainly as described.

    - Analysis: the task's keywords are its lower-cased words minus stop
      words; for every domain, the occurrences of each of its keywords are
      counted (a word-boundary regular expression per keyword, compiled
      once, so "pod" is not found in "episode").
    - Confidence per agent: ``0.5 * keyword match + 0.3 * domain match +
      0.2 * historical success``. Keyword match: occurrences of the agent's
      keywords over the task's keyword count (capped at 1); domain match:
      the agent's domains' share of all domain-keyword occurrences, times
      the specialty weight; historical success starts at the agent's base
      confidence. Below ``min_confidence``, the first agent of the fallback
      chain.
    - Decision cache: keyed by the md5 of the task's sorted keywords; a hit
      returns the cached agent without analysing the text.
    """

    def __init__(self, config: RuntimeConfig, *, cached: bool = True) -> None:
        self._routing = config.routing
        domains: dict[str, set[str]] = {}
        self._agents: list[tuple[str, list[str], list[tuple[str, float]]]] = []
        self._history: dict[str, float] = {}
        for spec in config.agents:
            keywords = sorted({k.lower() for s in spec.specialties for k in s.keywords})
            self._agents.append((spec.name, keywords, [(s.domain, s.weight) for s in spec.specialties]))
            self._history[spec.name] = spec.base_confidence
            for specialty in spec.specialties:
                domains.setdefault(specialty.domain, set()).update(k.lower() for k in specialty.keywords)
        self._domains = {domain: sorted(keywords) for domain, keywords in domains.items()}
        every = sorted({k for keywords in domains.values() for k in keywords})
        self._patterns = {k: re.compile(r"\b" + re.escape(k) + r"\b") for k in every}
        self._cache: dict[str, str] | None = {} if cached else None

    @staticmethod
    def keywords(text: str) -> list[str]:
        return [word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in REFERENCE_STOP_WORDS]

    def analyse(self, text: str) -> tuple[dict[str, int], dict[str, int]]:
        """Occurrences per keyword, and per domain."""
        lowered = text.lower()
        counts = {keyword: len(pattern.findall(lowered)) for keyword, pattern in self._patterns.items()}
        per_domain = {domain: sum(counts[k] for k in keywords) for domain, keywords in self._domains.items()}
        return counts, per_domain

    def route(self, text: str) -> str:
        keywords = self.keywords(text)
        key = hashlib.md5(" ".join(sorted(keywords)).encode()).hexdigest()
        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        counts, per_domain = self.analyse(text)
        total = sum(per_domain.values())
        best_name, best = "", -1.0
        for name, agent_keywords, specialties in self._agents:
            matched = sum(counts[k] for k in agent_keywords)
            keyword_match = min(1.0, matched / len(keywords)) if keywords else 0.0
            domain_match = sum(per_domain.get(d, 0) * w for d, w in specialties) / total if total else 0.0
            confidence = 0.5 * keyword_match + 0.3 * min(1.0, domain_match) + 0.2 * self._history[name]
            if confidence > best:
                best_name, best = name, confidence
        if best < self._routing.min_confidence and self._routing.fallback_chain:
            best_name = self._routing.fallback_chain[0]
        if self._cache is not None:
            self._cache[key] = best_name
        return best_name


class NaiveRouter:
    """The baseline: agents x keywords substring tests, the same thresholds, no index, no caches."""

    def __init__(self, config: RuntimeConfig) -> None:
        self._agents = [
            (spec.name, [(k.lower(), w) for s in spec.specialties for k, w in s.keywords.items()], spec.base_confidence)
            for spec in config.agents
        ]
        self._routing = config.routing

    def route(self, text: str) -> str:
        lowered = text.lower()
        best_name, best = "", -1.0
        for name, keywords, base in self._agents:
            matched = 0.0
            for keyword, weight in keywords:
                if keyword in lowered:
                    matched += weight
            confidence = 0.7 * min(1.0, matched / 2.0) + 0.3 * base
            if confidence > best:
                best_name, best = name, confidence
        if best < self._routing.min_confidence and self._routing.fallback_chain:
            return self._routing.fallback_chain[0]
        return best_name


class CountingListener(RuntimeListener):
    """Counts decision-cache look-ups by layer."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {"exact": 0, "similar": 0}
        self.lookups: dict[str, int] = {"exact": 0, "similar": 0}

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        if cache == "decision":
            self.lookups[layer] += 1
            self.hits[layer] += int(hit)


@dataclass
class Timed:
    total_seconds: float
    per_task_ns: list[int]

    def micros(self) -> float:
        return self.total_seconds / len(self.per_task_ns) * 1e6

    def percentile_micros(self, q: float) -> float:
        ordered = sorted(self.per_task_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def timed(texts: Sequence[str], route: Callable[[str], Any]) -> tuple[Timed, list[Any]]:
    outputs: list[Any] = []
    per_task: list[int] = []
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for text in texts:
        mark = clock()
        outputs.append(route(text))
        per_task.append(clock() - mark)
    return Timed(time.perf_counter() - started, per_task), outputs


def first_seen(texts: Sequence[str]) -> list[bool]:
    """For each text of the stream, whether it is its first occurrence."""
    seen: set[str] = set()
    flags = []
    for text in texts:
        flags.append(text not in seen)
        seen.add(text)
    return flags


def split_micros(run: Timed, first: Sequence[bool], want: bool) -> float:
    """Mean microseconds of the tasks whose first-seen flag is ``want``."""
    picked = [ns for ns, flag in zip(run.per_task_ns, first, strict=True) if flag is want]
    return round(statistics.fmean(picked) / 1000, 2) if picked else 0.0


def via(router: TaskRouter) -> Callable[[str], RoutingDecision]:
    def route(text: str) -> RoutingDecision:
        return router.route(Task(text), router.analyse(text))

    return route


def best_of(repeats: int, texts: Sequence[str], make: Callable[[], Callable[[str], Any]]) -> tuple[Timed, list[Any]]:
    """The fastest of ``repeats`` timed passes, each with a freshly built router (cold caches)."""
    runs = [timed(texts, make()) for _ in range(repeats)]
    return min(runs, key=lambda run: run[0].total_seconds)


def run(agent_count: int, texts: list[str], seed: int, repeats: int) -> dict[str, Any]:
    agents = build_agents(agent_count, random.Random(seed))
    cached_config, uncached_config = config_for(agents, cached=True), config_for(agents, cached=False)
    listeners: list[CountingListener] = []
    routers: list[TaskRouter] = []

    def make_cached() -> Callable[[str], RoutingDecision]:
        listeners.append(CountingListener())
        routers.append(TaskRouter.from_config(cached_config, listener=listeners[-1]))
        return via(routers[-1])

    # Warm process-wide memos (stems, sketch feature hashes, compiled patterns) once, untimed:
    # the passes below measure steady state, not first-import costs.
    timed(texts, via(TaskRouter.from_config(uncached_config)))
    timed(texts, ReferenceRouter(uncached_config, cached=False).route)
    reference_run, reference_agents = best_of(repeats, texts, lambda: ReferenceRouter(cached_config).route)
    reference_uncached_run, _ = best_of(repeats, texts, lambda: ReferenceRouter(cached_config, cached=False).route)
    naive_run, naive_agents = best_of(repeats, texts, lambda: NaiveRouter(uncached_config).route)
    uncached_run, fresh = best_of(repeats, texts, lambda: via(TaskRouter.from_config(uncached_config)))
    cached_run, decisions = best_of(repeats, texts, make_cached)
    listener = listeners[-1]  # every pass starts cold on the same texts, so all count alike
    # The same stream with every decision offered to paraphrases (no stability margin), untimed.
    _, unguarded = timed(texts, via(TaskRouter.from_config(cached_config, similar_min_margin=0.0)))

    similar = [(d, f) for d, f in zip(decisions, fresh, strict=True) if d.source == "similar"]
    loose = [(d, f) for d, f in zip(unguarded, fresh, strict=True) if d.source == "similar"]
    exact = [(d, f) for d, f in zip(decisions, fresh, strict=True) if d.source == "cache"]
    agreement = sum(d.agent == f.agent for d, f in similar) / len(similar) if similar else None
    exact_agreement = sum((d.agent, d.gated) == (f.agent, f.gated) for d, f in exact) / len(exact) if exact else None
    naive_agreement = sum(f.agent == n for f, n in zip(fresh, naive_agents, strict=True)) / len(texts)
    reference_agreement = sum(f.agent == r for f, r in zip(fresh, reference_agents, strict=True)) / len(texts)
    lookups = listener.lookups["exact"]
    first = first_seen(texts)
    return {
        "agents": agent_count,
        "keywords": sum(len(s.keywords) for a in agents for s in a.specialties),
        "tasks": len(texts),
        "distinct_texts": len(set(texts)),
        "us_per_task": {
            "ours_cached": round(cached_run.micros(), 2),
            "ours_uncached": round(uncached_run.micros(), 2),
            "reference_cached": round(reference_run.micros(), 2),
            "reference_uncached": round(reference_uncached_run.micros(), 2),
            "naive": round(naive_run.micros(), 2),
        },
        "p95_us": {
            "ours_cached": round(cached_run.percentile_micros(0.95), 2),
            "ours_uncached": round(uncached_run.percentile_micros(0.95), 2),
            "reference_cached": round(reference_run.percentile_micros(0.95), 2),
            "naive": round(naive_run.percentile_micros(0.95), 2),
        },
        "speedup_vs_reference": {
            "cached": round(reference_run.total_seconds / cached_run.total_seconds, 2),
            "uncached": round(reference_uncached_run.total_seconds / uncached_run.total_seconds, 2),
        },
        # The cached passes split by whether a text is seen for the first time in the pass (every cache
        # starts cold): what a first-seen text costs bounds the ratio however cheap a repeat is.
        "first_seen": {
            "share": round(sum(first) / len(texts), 4),
            "ours_first_us": split_micros(cached_run, first, True),
            "ours_repeat_us": split_micros(cached_run, first, False),
            "reference_first_us": split_micros(reference_run, first, True),
            "reference_repeat_us": split_micros(reference_run, first, False),
            "ratio_if_our_repeats_were_free": round(
                reference_run.micros() / (split_micros(cached_run, first, True) * sum(first) / len(texts)), 2
            ),
        },
        "speedup_vs_naive": {
            "ours_cached": round(naive_run.total_seconds / cached_run.total_seconds, 2),
            "ours_uncached": round(naive_run.total_seconds / uncached_run.total_seconds, 2),
        },
        "decision_cache": {
            "hit_rate": round((listener.hits["exact"] + listener.hits["similar"]) / lookups, 4),
            "exact_hit_rate": round(listener.hits["exact"] / lookups, 4),
            "similar_hit_rate": round(listener.hits["similar"] / lookups, 4),
            "similar_hits": len(similar),
            # What the last cached pass left in the cache: with many agents a decision is larger and
            # the byte bound, not the entry bound, decides how many are kept.
            "entries": len(routers[-1].cache),
            "max_entries": routers[-1].cache.max_entries,
            "held_bytes": routers[-1].cache.held_bytes,
            "max_bytes": routers[-1].cache.max_bytes,
            "stability_margin": SIMILAR_MIN_MARGIN,
        },
        "paraphrase_agreement_rate": None if agreement is None else round(agreement, 4),
        "without_stability_margin": {
            "similar_hit_rate": round(len(loose) / len(texts), 4),
            "paraphrase_agreement_rate": round(sum(d.agent == f.agent for d, f in loose) / len(loose), 4)
            if loose
            else None,
        },
        "exact_hit_agreement_rate": None if exact_agreement is None else round(exact_agreement, 4),
        "reference_agrees_with_ours": round(reference_agreement, 4),
        "naive_agrees_with_ours": round(naive_agreement, 4),
        "sources": {s: sum(d.source == s for d in decisions) for s in ("cache", "similar", "scored", "fallback")},
        "gated_share": round(statistics.fmean(d.gated for d in fresh), 4),
    }


def repeat_heavy(agent_count: int, distinct: int, tasks: int, seed: int, repeats: int) -> dict[str, Any]:
    """Exact repeats only: ``distinct`` texts, each routed once (untimed), then ``tasks`` draws among them."""
    agents = build_agents(agent_count, random.Random(seed))
    config = config_for(agents, cached=True)
    rng = random.Random(seed + 1)
    pool = list(dict.fromkeys(make_workload(distinct * 4, rng)))[:distinct]
    stream = [rng.choice(pool) for _ in range(tasks)]

    def warmed_ours() -> Callable[[str], Any]:
        route = via(TaskRouter.from_config(config))
        for text in pool:
            route(text)
        return route

    def warmed_reference() -> Callable[[str], Any]:
        route = ReferenceRouter(config).route
        for text in pool:
            route(text)
        return route

    ours_runs, reference_runs = [], []
    for number in range(max(repeats, 3)):
        order = [(ours_runs, warmed_ours), (reference_runs, warmed_reference)]
        if number % 2:
            order.reverse()
        for runs, make in order:
            runs.append(timed(stream, make())[0])
    ours = min(ours_runs, key=lambda run: run.total_seconds)
    reference = min(reference_runs, key=lambda run: run.total_seconds)
    return {
        "agents": agent_count,
        "distinct_texts": len(pool),
        "tasks": tasks,
        "ours_us": round(ours.micros(), 3),
        "reference_cache_hit_us": round(reference.micros(), 3),
        "ours_over_reference": round(ours.total_seconds / reference.total_seconds, 3),
    }


class DropAllOnEpoch(DecisionCache):
    """The earlier design, as the baseline of ``live_experience``: any new experience epoch empties the cache.

    It hands the cache versions without their terms, which is what makes a
    ``DecisionCache`` drop every entry on a new epoch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._given: CacheVersions | None = None
        self._bare = CacheVersions("", 0, 0)

    def _strip(self, versions: CacheVersions) -> CacheVersions:
        if versions is not self._given:  # one bare object per versions object: identity checks still hold
            self._given, self._bare = versions, CacheVersions(versions.config, versions.health, versions.experience)
        return self._bare

    def get(self, fingerprint: str, versions: CacheVersions) -> RoutingDecision | None:
        return super().get(fingerprint, self._strip(versions))

    def get_similar_to(self, sketch_of: Callable[[], int], versions: CacheVersions) -> SimilarHit | None:
        return super().get_similar_to(sketch_of, self._strip(versions))

    def put(self, fingerprint: str, sketch: int, decision: RoutingDecision, versions: CacheVersions, **kw: Any) -> None:
        super().put(fingerprint, sketch, decision, self._strip(versions), **kw)


class StepClock:
    """The clock the live stream's experience reads: moved by hand, one step per task."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def live_experience(agent_count: int, texts: Sequence[str], seed: int, per_second: float = 20.0) -> dict[str, Any]:
    """Routing while outcomes come in: every task's outcome is recorded for its agent, time moves on.

    Each agent succeeds with its own probability (0.6 to 0.98); halfway
    through, the three agents chosen most often so far degrade to 0.4 (a
    dependency failing). The same stream and the same outcome draws go
    through ours and through ``DropAllOnEpoch``; every exact hit of ours is
    checked against a router without a cache sharing the experience.
    """
    agents = build_agents(agent_count, random.Random(seed))
    config = config_for(agents, cached=True)
    rng = random.Random(seed + 2)
    success = {agent.name: rng.uniform(0.6, 0.98) for agent in agents}
    draws = [rng.random() for _ in texts]

    def one_pass(cache_type: type[DecisionCache], check: bool) -> dict[str, Any]:
        clock = StepClock()
        experience = ExperienceTracker(config.routing.experience_half_life_seconds, clock=clock)
        listener = CountingListener()
        template = TaskRouter.from_config(config, experience=experience, listener=listener)
        cache = cache_type(config.routing.decision_cache_size, config.routing.similarity_threshold, listener)
        router = TaskRouter(config, template.scorer, template.analyser, cache, listener=listener)
        fresh = TaskRouter.from_config(
            replace(config, routing=replace(config.routing, decision_cache_size=0)), experience=experience
        )
        odds, chosen = dict(success), Counter[str]()
        exact = agree = epochs = 0
        last_epoch = experience.epoch
        per_task: list[int] = []
        clock_ns = time.perf_counter_ns
        for number, text in enumerate(texts):
            if number == len(texts) // 2:
                for name, _ in chosen.most_common(3):
                    odds[name] = 0.4
            mark = clock_ns()
            decision = router.route(Task(text), router.analyse(text))
            per_task.append(clock_ns() - mark)
            chosen[decision.agent] += 1
            if check and decision.source == "cache":
                exact += 1
                reference = fresh.route(Task(text), fresh.analyse(text))
                agree += (decision.agent, decision.gated, decision.confidence, decision.candidates) == (
                    reference.agent,
                    reference.gated,
                    reference.confidence,
                    reference.candidates,
                )
            experience.record(decision.agent, success=draws[number] < odds[decision.agent])
            clock.now += 1.0 / per_second
            epoch = experience.epoch
            epochs += epoch != last_epoch
            last_epoch = epoch
        lookups = listener.lookups["exact"]
        return {
            "hit_rate": round((listener.hits["exact"] + listener.hits["similar"]) / lookups, 4),
            "us_per_task": round(statistics.fmean(per_task) / 1000, 2),
            "epoch_changes": epochs,
            "exact_hits_checked": exact,
            "exact_hit_agreement_rate": round(agree / exact, 4) if exact else None,
        }

    ours = one_pass(DecisionCache, check=True)
    # Timed without the agreement checks (they route a second time): best of three, alternating.
    timings: dict[str, list[float]] = {"ours": [], "drop_all": []}
    baseline: dict[str, Any] = {}
    for number in range(3):
        order = [("ours", DecisionCache), ("drop_all", DropAllOnEpoch)]
        for name, cache_type in order if number % 2 == 0 else order[::-1]:
            result = one_pass(cache_type, check=False)
            timings[name].append(result["us_per_task"])
            if name == "drop_all":
                baseline = result
    return {
        "agents": agent_count,
        "tasks": len(texts),
        "tasks_per_second": per_second,
        "ours": {**ours, "us_per_task": min(timings["ours"])},
        "drop_all_on_epoch": {**baseline, "us_per_task": min(timings["drop_all"])},
        "drop_all_over_ours_us": round(min(timings["drop_all"]) / min(timings["ours"]), 2),
    }


def default_config_agreement(texts: Sequence[str]) -> dict[str, Any]:
    """Exact decision-cache hits against fresh scoring on the bundled default configuration."""
    config = load_config()
    cached = TaskRouter.from_config(config)
    uncached = replace(config.routing, decision_cache_size=0, analysis_cache_size=0)
    fresh = TaskRouter.from_config(replace(config, routing=uncached))
    stream = list(texts) + list(texts)  # every text at least twice: the second is an exact hit
    pairs = [(via(cached)(text), via(fresh)(text)) for text in stream]
    exact = [(d, f) for d, f in pairs if d.source == "cache"]
    similar = [(d, f) for d, f in pairs if d.source == "similar"]
    exact_agree = sum(d.agent == f.agent and d.gated == f.gated for d, f in exact)
    return {
        "agents": len(config.agents),
        "exact_hits": len(exact),
        "exact_hit_agreement_rate": round(exact_agree / len(exact), 4) if exact else None,
        "similar_hits": len(similar),
        "paraphrase_agreement_rate": round(sum(d.agent == f.agent for d, f in similar) / len(similar), 4)
        if similar
        else None,
    }


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=20000, help="tasks per run")
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 40, 160], help="agent counts to compare")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per router; the fastest is kept")
    parser.add_argument("--quick", action="store_true", help="2000 tasks, one pass")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tasks = 2000 if args.quick else args.tasks
    repeats = 1 if args.quick else args.repeats
    texts = make_workload(tasks, random.Random(args.seed))

    results = [run(count, texts, args.seed, repeats) for count in args.agents]
    repeat = repeat_heavy(10, 800, 5000 if args.quick else 20000, args.seed, repeats)
    live = live_experience(10, texts, args.seed)
    default = default_config_agreement(texts[:2000])
    agents10 = build_agents(10, random.Random(args.seed))

    def route_all(config: RuntimeConfig) -> Callable[[], None]:
        def work() -> None:
            route = via(TaskRouter.from_config(config))
            for text in texts:
                route(text)

        return work

    profiles = {
        "cached_10_agents": profile_top(route_all(config_for(agents10, cached=True))),
        "uncached_10_agents": profile_top(route_all(config_for(agents10, cached=False))),
    }
    header = (
        f"{'agents':>6} {'ours cached':>11} {'ours uncached':>13} {'ref cached':>10} {'ref uncached':>12} "
        f"{'ref/ours cached':>15} {'ref/ours uncached':>17} {'hit rate':>8} {'similar':>8} {'para agree':>10} "
        f"{'exact agree':>11} {'ref agrees':>10}"
    )
    print(f"{tasks} tasks, {results[0]['distinct_texts']} distinct texts (microseconds per task)")
    print(header)
    for r in results:
        t, s, c = r["us_per_task"], r["speedup_vs_reference"], r["decision_cache"]
        print(
            f"{r['agents']:>6} {t['ours_cached']:>11.2f} {t['ours_uncached']:>13.2f} {t['reference_cached']:>10.2f} "
            f"{t['reference_uncached']:>12.2f} {s['cached']:>14.2f}x {s['uncached']:>16.2f}x {c['hit_rate']:>8.1%} "
            f"{c['similar_hit_rate']:>8.1%} {percent(r['paraphrase_agreement_rate']):>10} "
            f"{percent(r['exact_hit_agreement_rate']):>11} {percent(r['reference_agrees_with_ours']):>10}"
        )
    print(
        f"repeat-heavy stream ({repeat['distinct_texts']} distinct texts, {repeat['agents']} agents): ours "
        f"{repeat['ours_us']} us, reference cache hit {repeat['reference_cache_hit_us']} us "
        f"({repeat['ours_over_reference']}x)"
    )
    print(
        f"outcomes recorded as tasks run ({live['tasks_per_second']:g} tasks/s, {live['ours']['epoch_changes']} "
        f"experience epochs): hit rate {live['ours']['hit_rate']:.1%} (every epoch emptying the cache: "
        f"{live['drop_all_on_epoch']['hit_rate']:.1%}), {live['ours']['us_per_task']} against "
        f"{live['drop_all_on_epoch']['us_per_task']} us per task; exact hits agree "
        f"{percent(live['ours']['exact_hit_agreement_rate'])} ({live['ours']['exact_hits_checked']})"
    )
    print(
        f"default configuration: exact hits agree {percent(default['exact_hit_agreement_rate'])} "
        f"({default['exact_hits']}), paraphrase hits {percent(default['paraphrase_agreement_rate'])} "
        f"({default['similar_hits']})"
    )
    report = {
        "benchmark": "routing",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "tasks": tasks,
        "repeats": repeats,
        "seed": args.seed,
        "results": results,
        "repeat_heavy": repeat,
        "live_experience": live,
        "default_config": default,
        "profiles": profiles,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
