"""Cached and fresh routing agree on the same task, always.

Random task streams (with repetition, so the exact cache answers often) are
routed through a caching router while experience accumulates, time passes,
tools go down and come back, and the config is reloaded. Every answer that
did not come from the paraphrase layer is compared with a router that has no
cache at all, sharing the same experience and tool health.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from agent_runtime.config.models import RuntimeConfig
from agent_runtime.results import Task
from agent_runtime.routing.router import TaskRouter
from agent_runtime.scoring.experience import ExperienceTracker
from tests.unit.routing.conftest import Health
from tests.unit.scoring.helpers import AGENTS, FakeClock, make_config

KEYWORDS = [
    "cache", "hit rate", "eviction", "ttl", "redis", "miss", "database", "sql", "query", "index", "postgres",
    "write", "report", "summary", "draft", "email", "alert", "incident", "prometheus", "page", "rule", "plan",
    "coordinate", "steps",
]  # fmt: skip
FILLER = [
    "why", "is", "the", "so", "low", "today", "please", "check", "and", "then", "also", "what", "how", "our",
    "weekly", "team", "broken", "slow", "again", "customer", "after", "deploy", "for", "with",
]  # fmt: skip
TOOLS = sorted({tool for agent in AGENTS for tool in agent.tools})


def random_text(rng: random.Random) -> str:
    words = rng.choices(KEYWORDS, k=rng.randint(0, 4)) + rng.choices(FILLER, k=rng.randint(0, 8))
    rng.shuffle(words)
    return " ".join(words) or "hello"


def pair(config: RuntimeConfig, experience: ExperienceTracker, health: Health) -> tuple[TaskRouter, TaskRouter]:
    def build(cache_size: int) -> TaskRouter:
        return TaskRouter.from_config(
            make_config(version=config.version, decision_cache_size=cache_size),
            experience=experience,
            tool_health=health.healthy,
            health_version=health.current_version,
        )

    return build(config.routing.decision_cache_size), build(0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cached_routing_agrees_with_fresh_routing(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    experience = ExperienceTracker(half_life_seconds=60.0, clock=clock)
    health = Health()
    cached, fresh = pair(make_config(), experience, health)
    pool = [random_text(rng) for _ in range(60)]
    sources: Counter[str] = Counter()

    for step in range(400):
        # Zipf-ish repetition: early pool entries come back often.
        text = pool[min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)] if rng.random() < 0.8 else random_text(rng)
        decision = cached.route(Task(text), cached.analyse(text))
        sources[decision.source] += 1
        if decision.source != "similar":
            reference = fresh.route(Task(text), fresh.analyse(text))
            assert reference.source in ("scored", "fallback")
            assert (decision.agent, decision.gated) == (reference.agent, reference.gated), text
            assert decision.confidence == reference.confidence
            # Every number and word of it, the runners-up's too: a narrowed invalidation keeps only exact ones.
            assert (decision.explanation, decision.candidates) == (reference.explanation, reference.candidates)

        event = rng.random()
        if event < 0.15:
            experience.record(rng.choice(AGENTS).name, success=rng.random() < 0.6)
        elif event < 0.20:
            clock.advance(rng.uniform(1.0, 120.0))
        elif event < 0.24:
            health.set_down(rng.choice(TOOLS), down=rng.random() < 0.5)
        elif step % 150 == 149:
            version = f"v{step}"
            cached.reload(make_config(version=version))
            fresh.reload(make_config(version=version, decision_cache_size=0))

    assert sources["cache"] >= 100, sources  # the exact layer was really exercised
    assert sources["scored"] + sources["fallback"] >= 50, sources


def test_no_stale_decision_survives_concurrent_churn() -> None:
    """Routing threads race experience and health changes; afterwards every cache hit is still the fresh answer."""
    rng = random.Random(9)
    clock = FakeClock()
    experience = ExperienceTracker(half_life_seconds=60.0, clock=clock)
    health = Health()
    cached, fresh = pair(make_config(), experience, health)
    pool = [random_text(rng) for _ in range(40)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def router_thread(seed: int) -> None:
        local = random.Random(seed)
        try:
            while not stop.is_set():
                text = local.choice(pool)
                cached.route(Task(text), cached.analyse(text))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=router_thread, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(300):
        experience.record(rng.choice(AGENTS).name, success=rng.random() < 0.5)
        health.set_down(rng.choice(TOOLS), down=rng.random() < 0.5)
        clock.advance(rng.uniform(0.0, 5.0))
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []

    hits = 0
    for text in pool * 2:
        decision = cached.route(Task(text), cached.analyse(text))
        if decision.source == "cache":
            hits += 1
            reference = fresh.route(Task(text), fresh.analyse(text))
            assert (decision.agent, decision.gated, decision.confidence, decision.candidates) == (
                reference.agent,
                reference.gated,
                reference.confidence,
                reference.candidates,
            )
    assert hits >= len(pool) // 2
