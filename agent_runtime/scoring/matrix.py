"""The capability matrix: agents' keywords pre-computed into an inverted index.

Built once per configuration. Scoring a task then walks the task's terms and
their postings only (``term -> [(agent, domain, weight)]``), so its cost grows
with the number of agents that share the task's terms, not with agents x
keywords.

Keywords go through the same ``tokenise`` as task text: a phrase keyword such
as ``"hit rate"`` posts each of its words with the keyword's weight, and
inflections meet (``"caches"`` posts as ``"cach"``). When one agent lists a
word several times, its largest weight wins.

Example::

    >>> from agent_runtime.config.models import AgentSpec, Specialty
    >>> matrix = CapabilityMatrix([
    ...     AgentSpec("cache-expert", specialties=(Specialty("cache", {"cache": 1.0, "hit rate": 0.8}),)),
    ...     AgentSpec("writer", specialties=(Specialty("writing", {"write": 1.0, "report": 0.7}),)),
    ... ])
    >>> [(matrix.names[p.agent], p.domain, p.weight) for p in matrix.postings("hit")]
    [('cache-expert', 'cache', 0.8)]
    >>> matrix.covered_terms(0, ["cach", "hit", "poem"])
    ['cach', 'hit']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from agent_runtime.config.models import AgentSpec
from agent_runtime.scoring.text import tokenise
from agent_runtime.vocabulary import MODEL_TOOL, AgentKind

DomainKeywords = Mapping[str, Mapping[str, float]]
"""domain -> keyword -> weight, the raw vocabulary of a set of agents."""

TermDomains = Mapping[str, Mapping[str, float]]
"""term (stemmed token) -> domain -> weight: the vocabulary a task is analysed against."""


@dataclass(frozen=True, slots=True)
class Posting:
    """One agent's claim on a term: the domain it comes from and its keyword weight.

    ``capped`` is the weight capped at 1: a term is covered at most fully.
    """

    agent: int
    domain: str
    weight: float
    capped: float


def keyword_terms(keywords: Mapping[str, float]) -> dict[str, float]:
    """Stemmed term -> weight for a keyword map; phrases post each word, max weight wins.

    Keywords with a weight <= 0 are ignored.

    >>> keyword_terms({"Caches": 0.5, "cache eviction": 0.9})
    {'cach': 0.9, 'eviction': 0.9}
    """
    terms: dict[str, float] = {}
    for keyword, weight in keywords.items():
        if weight <= 0:
            continue  # a zero weight claims nothing
        for term in tokenise(keyword):
            if weight > terms.get(term, float("-inf")):
                terms[term] = float(weight)
    return terms


def term_domains(domain_keywords: DomainKeywords) -> dict[str, dict[str, float]]:
    """Invert a domain -> keywords map into term -> domain -> weight (max weight wins)."""
    vocabulary: dict[str, dict[str, float]] = {}
    for domain, keywords in domain_keywords.items():
        for term, weight in keyword_terms(keywords).items():
            domains = vocabulary.setdefault(term, {})
            if weight > domains.get(domain, float("-inf")):
                domains[domain] = weight
    return vocabulary


def vocabulary_id(vocabulary: TermDomains) -> str:
    """A stable id of a vocabulary's content: equal vocabularies give equal ids.

    Task analyses depend on the vocabulary, so a reload that keeps the id can
    keep its memoised analyses.
    """
    digest = hashlib.blake2b(digest_size=12)
    for term in sorted(vocabulary):
        for domain, weight in sorted(vocabulary[term].items()):
            digest.update(f"{term}\x1f{domain}\x1f{weight!r}\x1e".encode())
    return digest.hexdigest()


class CapabilityMatrix:
    """Agents' keywords, domains and tools, indexed for one-pass scoring.

    Agents are numbered in configuration order; every per-agent tuple here is
    indexed by that number. The matrix is immutable once built.
    """

    def __init__(self, agents: Iterable[AgentSpec]) -> None:
        specs = tuple(agents)
        self._names = tuple(spec.name for spec in specs)
        self._index = {name: i for i, name in enumerate(self._names)}

        best: dict[str, dict[int, Posting]] = {}
        totals: list[float] = []
        term_sets: list[frozenset[str]] = []
        domain_sets: list[frozenset[str]] = []
        domain_agents: dict[str, list[tuple[int, float]]] = {}
        for i, spec in enumerate(specs):
            agent_terms: dict[str, float] = {}
            for specialty in spec.specialties:
                for term, weight in keyword_terms(specialty.keywords).items():
                    current = best.setdefault(term, {}).get(i)
                    if current is None or weight > current.weight:
                        best[term][i] = Posting(i, specialty.domain, weight, min(weight, 1.0))
                    agent_terms[term] = max(weight, agent_terms.get(term, float("-inf")))
                domain_agents.setdefault(specialty.domain, []).append((i, specialty.weight))
            totals.append(sum(agent_terms.values()))
            term_sets.append(frozenset(agent_terms))
            domain_sets.append(frozenset(s.domain for s in spec.specialties))

        self._postings: dict[str, tuple[Posting, ...]] = {
            term: tuple(by_agent[i] for i in sorted(by_agent)) for term, by_agent in best.items()
        }
        self._keyword_totals = tuple(totals)
        self._agent_terms = tuple(term_sets)
        self._domains = tuple(domain_sets)
        self._domain_agents: dict[str, tuple[tuple[int, float], ...]] = {
            domain: tuple(entries) for domain, entries in domain_agents.items()
        }
        # An llm agent depends on the model as much as on its tools: an open model breaker counts against it.
        self._tools = tuple(
            (*spec.tools, MODEL_TOOL) if spec.kind is AgentKind.LLM else tuple(spec.tools) for spec in specs
        )
        self._all_tools = tuple(sorted({tool for tools in self._tools for tool in tools}))
        vocabulary = term_domains(domain_keywords_of(specs))
        self._vocabulary: TermDomains = MappingProxyType(
            {term: MappingProxyType(domains) for term, domains in vocabulary.items()}
        )
        self._vocabulary_id = vocabulary_id(vocabulary)

    @property
    def names(self) -> tuple[str, ...]:
        """Agent names, in index order."""
        return self._names

    def index(self, name: str) -> int | None:
        """The index of agent ``name``, or None when it is not in the matrix."""
        return self._index.get(name)

    @property
    def terms(self) -> tuple[str, ...]:
        """Every stemmed term some agent has a posting for."""
        return tuple(self._postings)

    def postings(self, term: str) -> tuple[Posting, ...]:
        """Every agent's posting for a stemmed term (empty when no agent knows it)."""
        return self._postings.get(term, ())

    @property
    def keyword_totals(self) -> tuple[float, ...]:
        """Per agent: the sum of its distinct terms' weights (its whole keyword mass)."""
        return self._keyword_totals

    @property
    def domains(self) -> tuple[frozenset[str], ...]:
        """Per agent: the domains of its specialties."""
        return self._domains

    def domain_agents(self, domain: str) -> tuple[tuple[int, float], ...]:
        """``(agent index, specialty weight)`` for every agent with a specialty in ``domain``."""
        return self._domain_agents.get(domain, ())

    @property
    def tools(self) -> tuple[tuple[str, ...], ...]:
        """Per agent: the tools it uses."""
        return self._tools

    @property
    def all_tools(self) -> tuple[str, ...]:
        """Every tool any agent uses, sorted, each once."""
        return self._all_tools

    @property
    def vocabulary(self) -> TermDomains:
        """term -> domain -> weight over all agents, for ``TaskAnalyser``."""
        return self._vocabulary

    @property
    def vocabulary_id(self) -> str:
        """A content id of ``vocabulary`` (see ``vocabulary_id()``)."""
        return self._vocabulary_id

    def covered_terms(self, agent: int, terms: Iterable[str]) -> list[str]:
        """Which of ``terms`` agent ``agent`` has keywords for, in order (for explanations)."""
        known = self._agent_terms[agent]
        return [term for term in terms if term in known]

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"CapabilityMatrix(agents={len(self._names)}, terms={len(self._postings)})"


def domain_keywords_of(agents: Sequence[AgentSpec]) -> dict[str, dict[str, float]]:
    """domain -> keyword -> weight merged over agents (max weight wins)."""
    merged: dict[str, dict[str, float]] = {}
    for spec in agents:
        for specialty in spec.specialties:
            target = merged.setdefault(specialty.domain, {})
            for keyword, weight in specialty.keywords.items():
                target[keyword] = max(weight, target.get(keyword, float("-inf")))
    return merged
