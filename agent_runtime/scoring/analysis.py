"""Task analysis: tokens, term and domain weights, complexity and sketch, memoised.

A task is analysed once against the agents' vocabulary; the result is cached
by fingerprint in a bounded, thread-safe LRU. A repeated text costs one dict
look-up; a re-cased, re-spaced or re-punctuated one costs a normalisation and
a look-up.

Everything in a ``TaskAnalysis`` except ``text`` is a function of the canonical
words (see ``text``) and the vocabulary, which is why analyses can be shared
by fingerprint and why routing cached by fingerprint agrees with fresh routing.

Example::

    >>> analyser = TaskAnalyser({"cache": {"cache": 1.0, "hit rate": 0.8}, "writing": {"report": 1.0}})
    >>> a = analyser.analyse("Why is the cache hit rate so low?")
    >>> a.tokens
    ('cach', 'hit', 'rat', 'low')
    >>> dict(a.domain_weights)
    {'cache': 0.8}
    >>> analyser.analyse("Why is the cache hit rate so low?") is a
    True
    >>> analyser.analyse("why is the CACHE hit rate so low").fingerprint == a.fingerprint
    True
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from agent_runtime.config.models import RoutingSettings
from agent_runtime.scoring.matrix import (
    CapabilityMatrix,
    DomainKeywords,
    TermDomains,
    term_domains,
    vocabulary_id,
)
from agent_runtime.scoring.text import (
    CONJUNCTIONS,
    INTERROGATIVES,
    STOP_WORDS,
    canonicalise,
    fingerprint_words,
    normalised_words,
    surface_forms,
)
from agent_runtime.scoring.text import sketch as sketch_of
from agent_runtime.telemetry.listener import RuntimeListener

KNOWN_TERM_WEIGHT = 1.0
"""Weight of a token some agent has as a keyword."""

UNKNOWN_TERM_WEIGHT = 0.25
"""Weight of a token no agent knows: it still dilutes coverage (a task that is
mostly about something else should not look fully covered) but four of them
count as much as one known term. It also keeps filler words from dominating
the similarity sketch, so paraphrases that share their keywords stay close."""

DOMAIN_PRESENCE = 0.10
"""A domain counts as *hit* for complexity when it holds this share of the
task's term weight; stray mentions in a long text stay below it."""

# Complexity = weighted sum of four saturating signals, each in 0..1; the
# weights sum to 1 so complexity is bounded 0..1.
COMPLEXITY_LENGTH_WEIGHT = 0.30
COMPLEXITY_DOMAINS_WEIGHT = 0.35
COMPLEXITY_CLAUSES_WEIGHT = 0.20
COMPLEXITY_QUESTIONS_WEIGHT = 0.15
LENGTH_SATURATION_WORDS = 40
"""Words at which the length signal saturates."""
EXTRA_DOMAINS_SATURATION = 3
"""Domains hit beyond the first at which the breadth signal saturates."""
CLAUSES_SATURATION = 4
"""Conjunctions at which the clause signal saturates."""
QUESTIONS_SATURATION = 3
"""Question words at which the question signal saturates."""

MAX_MEMO_BYTES = RoutingSettings.analysis_cache_max_bytes
"""Default byte bound of each memo (by fingerprint, by text), on top of ``cache_size``
entries: analyses grow with their text, so a count alone does not bound memory."""

MAX_TEXT_KEY = 4096
"""Longest text (in characters) the by-text memo keys on; longer texts, which
rarely repeat byte for byte, go straight to the fingerprint memo."""


@dataclass(frozen=True, slots=True)
class TaskAnalysis:
    """What the router needs to know about a task's text.

    ``tokens``: stemmed content tokens in order. ``term_weights``: distinct
    token -> weight (known keywords 1.0, others 0.25, times 1 + ln(count)).
    ``domain_weights``: domain -> the share of the task's term weight that
    is that domain's keywords (times keyword weight), largest first; empty
    when no keyword matched. Shares sum to at most 1 unless terms belong to
    several domains; filler words lower them, so a task that mentions a
    domain in passing is weaker evidence than one that is all about it. ``complexity``: 0..1
    (see ``complexity``). ``vocabulary_id``: the vocabulary it was analysed
    against. ``words``: the normalised words, before stemming. ``text``: the
    text as given. Texts with the same fingerprint share everything but
    ``text`` (``words`` and so ``surface`` are those of the first one analysed).

    ``sketch`` and ``surface`` are derived on first use and kept: a task
    answered without a paraphrase look-up or an explanation never pays for them.
    """

    text: str
    fingerprint: str
    tokens: tuple[str, ...]
    term_weights: Mapping[str, float]
    domain_weights: Mapping[str, float]
    complexity: float
    vocabulary_id: str = ""
    words: tuple[str, ...] = ()
    # Lazily derived (see sketch and surface); not part of the analysis' identity.
    _sketch: int | None = field(default=None, init=False, repr=False, compare=False)
    _surface: Mapping[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def top_domain(self) -> str | None:
        """The domain with the largest share, or None when no keyword matched."""
        return next(iter(self.domain_weights), None)

    @property
    def sketch(self) -> int:
        """The 64-bit SimHash over weighted unigrams and bigrams of ``tokens`` (see ``text.sketch``)."""
        value = self._sketch
        if value is None:
            # Racing threads compute equal values; either may stay.
            value = sketch_of(self.tokens, self.term_weights)
            object.__setattr__(self, "_sketch", value)
        return value

    @property
    def surface(self) -> Mapping[str, str]:
        """Token -> the normalised word it came from, for explanations."""
        value = self._surface
        if value is None:
            value = MappingProxyType(surface_forms(self.words))
            object.__setattr__(self, "_surface", value)
        return value

    def respelled(self, text: str) -> TaskAnalysis:
        """This analysis for another text with the same fingerprint (derived values carried over)."""
        copy = TaskAnalysis(
            text,
            self.fingerprint,
            self.tokens,
            self.term_weights,
            self.domain_weights,
            self.complexity,
            self.vocabulary_id,
            self.words,
        )
        object.__setattr__(copy, "_sketch", self._sketch)
        object.__setattr__(copy, "_surface", self._surface)
        return copy


def complexity(words: Sequence[str], domain_weights: Mapping[str, float]) -> float:
    """A documented 0..1 heuristic of how much a task asks for at once.

    Four saturating signals, weighted by the ``COMPLEXITY_*`` constants:

    - length: canonical words / ``LENGTH_SATURATION_WORDS``;
    - breadth: domains holding at least ``DOMAIN_PRESENCE`` of the task's
      term weight, beyond the first, / ``EXTRA_DOMAINS_SATURATION``;
    - clauses: conjunctions (and, or, then, also, ...) / ``CLAUSES_SATURATION``;
    - questions: question words (what, why, how, ...) / ``QUESTIONS_SATURATION``.

    It reads only the canonical words (punctuation is gone by then), so it is
    a function of the fingerprint.

    >>> complexity(["why", "is", "cach", "slow"], {"cache": 1.0}) < 0.15
    True
    """
    length = min(1.0, len(words) / LENGTH_SATURATION_WORDS)
    hit = sum(1 for share in domain_weights.values() if share >= DOMAIN_PRESENCE)
    breadth = min(1.0, max(0, hit - 1) / EXTRA_DOMAINS_SATURATION)
    clauses = min(1.0, sum(map(CONJUNCTIONS.__contains__, words)) / CLAUSES_SATURATION)
    questions = min(1.0, sum(map(INTERROGATIVES.__contains__, words)) / QUESTIONS_SATURATION)
    score = (
        COMPLEXITY_LENGTH_WEIGHT * length
        + COMPLEXITY_DOMAINS_WEIGHT * breadth
        + COMPLEXITY_CLAUSES_WEIGHT * clauses
        + COMPLEXITY_QUESTIONS_WEIGHT * questions
    )
    return min(1.0, max(0.0, score))


class TaskAnalyser:
    """Analyses task text against a vocabulary, memoised by fingerprint.

    ``vocabulary`` is a ``CapabilityMatrix`` or a plain ``domain -> keyword ->
    weight`` map. ``cache_size`` bounds the LRU (0 disables memoisation).
    Every ``analyse`` reports ``cache_looked_up("analysis", "exact", hit)``.
    Thread-safe; two threads missing on the same text may both compute it,
    which is harmless because the results are equal.
    """

    def __init__(
        self,
        vocabulary: CapabilityMatrix | DomainKeywords,
        cache_size: int = 4096,
        listener: RuntimeListener | None = None,
        *,
        max_bytes: int = MAX_MEMO_BYTES,
    ) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        terms: TermDomains
        if isinstance(vocabulary, CapabilityMatrix):
            terms = vocabulary.vocabulary
            self._vocabulary_id = vocabulary.vocabulary_id
        else:
            terms = term_domains(vocabulary)
            self._vocabulary_id = vocabulary_id(terms)
        # term -> ((domain, keyword weight capped at 1), ...), in the vocabulary's order: the one
        # look-up per distinct token that analysis makes, with the capping done once here.
        self._terms: dict[str, tuple[tuple[str, float], ...]] = {
            term: tuple((domain, min(weight, 1.0)) for domain, weight in domains.items())
            for term, domains in terms.items()
            if domains
        }
        self._cache_size = cache_size
        self._listener = listener if listener is not None else RuntimeListener()
        # Memoised by fingerprint; ``_by_text`` in front of it answers a
        # byte-identical repeat without even normalising the text.
        self._cache: OrderedDict[str, TaskAnalysis] = OrderedDict()
        self._by_text: OrderedDict[str, TaskAnalysis] = OrderedDict()
        self._max_bytes = max_bytes
        # Approximate bytes held by each memo (see _analysis_bytes / _text_entry_bytes).
        self._bytes = [0, 0]
        self._lock = threading.Lock()

    @property
    def vocabulary_id(self) -> str:
        """The id of the vocabulary analyses are made against."""
        return self._vocabulary_id

    @property
    def cache_size(self) -> int:
        """The memo's capacity."""
        return self._cache_size

    @property
    def max_bytes(self) -> int:
        """The byte bound of each of the memo's two maps, on top of ``cache_size``."""
        return self._max_bytes

    def __len__(self) -> int:
        """Number of memoised analyses (distinct fingerprints)."""
        return len(self._cache)

    def clear(self) -> None:
        """Forget every memoised analysis."""
        with self._lock:
            self._cache.clear()
            self._by_text.clear()
            self._bytes = [0, 0]

    def analyse(self, text: str) -> TaskAnalysis:
        """The analysis of ``text``; the same object back for a repeated text."""
        # A byte-identical repeat: no lock (the memo's own operations are atomic; an
        # entry evicted meanwhile was still valid when read).
        known = self._by_text.get(text)
        if known is not None:
            try:
                self._by_text.move_to_end(text)
                self._cache.move_to_end(known.fingerprint)  # keep both memos' recency in step
            except KeyError:
                pass
            self._listener.cache_looked_up("analysis", "exact", True)
            return known

        raw = normalised_words(text)
        words = canonicalise(raw)
        key = fingerprint_words(words)
        cached = None
        if self._cache_size:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
        self._listener.cache_looked_up("analysis", "exact", cached is not None)
        if cached is None:
            analysis = self._analyse(text, key, words, raw)
        else:
            analysis = cached if cached.text == text else cached.respelled(text)
        if self._cache_size:
            with self._lock:
                if cached is None:
                    self._remember(0, self._cache, key, analysis)
                if len(text) <= MAX_TEXT_KEY:
                    self._remember(1, self._by_text, text, analysis)
        return analysis

    def _remember(self, which: int, memo: OrderedDict[str, TaskAnalysis], key: str, analysis: TaskAnalysis) -> None:
        """Insert as most recent; evict the least recent beyond ``cache_size`` entries or ``max_bytes`` (lock held)."""
        size = _analysis_bytes if which == 0 else _text_entry_bytes
        old = memo.pop(key, None)
        if old is not None:
            self._bytes[which] -= size(key, old)
        memo[key] = analysis
        self._bytes[which] += size(key, analysis)
        while len(memo) > self._cache_size or (self._bytes[which] > self._max_bytes and len(memo) > 1):
            evicted_key, evicted = memo.popitem(last=False)
            self._bytes[which] -= size(evicted_key, evicted)

    def _analyse(self, text: str, key: str, words: list[str], raw: list[str]) -> TaskAnalysis:
        tokens = [word for word in words if word not in STOP_WORDS]
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        term_weights: dict[str, float] = {}
        raw_domains: dict[str, float] = {}
        terms = self._terms
        for token, count in counts.items():
            domains = terms.get(token)
            base = UNKNOWN_TERM_WEIGHT if domains is None else KNOWN_TERM_WEIGHT
            # Sub-linear in repetition: saying "cache" three times is not 3x the evidence.
            weight = base if count == 1 else base * (1.0 + math.log(count))
            term_weights[token] = weight
            if domains is not None:
                for domain, capped in domains:
                    raw_domains[domain] = raw_domains.get(domain, 0.0) + weight * capped
        total = sum(term_weights.values())
        ordered = sorted(raw_domains.items(), key=_by_share)
        domain_weights = {domain: min(1.0, value / total) for domain, value in ordered if value > 0}
        return TaskAnalysis(
            text,
            key,
            tuple(tokens),
            MappingProxyType(term_weights),
            MappingProxyType(domain_weights),
            complexity(words, domain_weights),
            self._vocabulary_id,
            tuple(raw),
        )


def _by_share(item: tuple[str, float]) -> tuple[float, str]:
    """Sort key of a domain's raw weight: largest first, then by name."""
    return -item[1], item[0]


def _analysis_bytes(key: str, analysis: TaskAnalysis) -> int:
    """About what a memoised analysis holds: its text, tokens, words (about 64 bytes each: a short string and
    its slot) and the three small maps."""
    return (700 + len(key) + len(analysis.text) + 64 * len(analysis.words) + 180 * len(analysis.term_weights)
            + 120 * len(analysis.domain_weights))  # fmt: skip


def _text_entry_bytes(key: str, analysis: TaskAnalysis) -> int:
    """About what a by-text entry adds: its key (the analysis itself is shared, or a shallow copy)."""
    return 200 + len(key)
