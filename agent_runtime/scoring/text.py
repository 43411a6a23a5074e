"""Text normalisation, tokens, fingerprints and SimHash similarity sketches.

Everything the router knows about a task's text is derived from its
*canonical words*: the text casefolded, NFKC-normalised, stripped of
punctuation and split on whitespace, with every word that is not a stop word
lightly stemmed. The fingerprint is a hash of exactly that sequence, so two
texts with the same fingerprint are indistinguishable to routing: this is what
makes a decision cached by fingerprint agree with a fresh one.

Content tokens are the canonical words minus stop words; they are what agents'
keywords are matched against. The same ``stem`` is applied to keywords, so
``"caches"``, ``"cached"`` and ``"caching"`` all meet the keyword ``"cache"``.

Example::

    >>> canonical_words("What's the Cache hit-rate?")
    ['what', 's', 'the', 'cach', 'hit', 'rat']
    >>> tokenise("What's the Cache hit-rate?")
    ['cach', 'hit', 'rat']
    >>> fingerprint("cache   HIT rate") == fingerprint("Cache hit rate!")
    True
    >>> a = sketch(tokenise("why is the cache hit rate low"))
    >>> b = sketch(tokenise("cache hit rate is low, why?"))
    >>> similarity(a, b)
    1.0
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import pairwise

SKETCH_BITS = 64
"""Width of a SimHash sketch."""

BIGRAM_WEIGHT = 0.5
"""A bigram's sketch weight relative to the mean of its two words' weights.

Bigrams make word order count a little, so "hit rate cache" and "cache hit
rate" stay close but not identical; unigrams dominate so reordered paraphrases
still land within the similarity threshold.
"""

# Word lists as text, one line per kind of word, split once at import.
_STOP_WORDS_TEXT = """
a an the is are was were be been being am do does did doing done of to in on at for from by
with without about as into onto over under it its this that these those i me my mine we us our
you your he him his she her they them their there here
what why how when where which who whom whose
and or but then also so if while because after before than plus additionally afterwards meanwhile
please can could would should will shall may might must some any all just not no nor too very
s t d ll re ve m don doesn didn isn aren wasn weren won cannot let get got give tell show want need like make
"""
_INTERROGATIVES_TEXT = "what why how when where which who whom whose"
_CONJUNCTIONS_TEXT = "and or but then also while because after before plus additionally afterwards meanwhile"

STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())
"""Words that carry no routing signal. Interrogatives and conjunctions are
listed here for matching, yet ``INTERROGATIVES`` and ``CONJUNCTIONS`` still
count them for task complexity (they are kept in the canonical words)."""

INTERROGATIVES: frozenset[str] = frozenset(_INTERROGATIVES_TEXT.split())
"""Words that open a question; each one counts as a question for complexity."""

CONJUNCTIONS: frozenset[str] = frozenset(_CONJUNCTIONS_TEXT.split())
"""Words that join clauses; each one adds a clause for complexity."""

_NON_WORD = re.compile(r"[\W_]+")
# The runs _NON_WORD separates: finding them is one pass, where substitute-strip-split is three.
_WORD = re.compile(r"[^\W_]+")
_VOWELS = frozenset("aeiouy")
# Double consonants undone after -ing/-ed ("running" -> "run"); l, s and z
# are left alone because "fill", "pass" and "buzz" end that way.
_UNDOUBLE = frozenset("bdgkmnprt")


def normalise(text: str) -> str:
    """Casefold, NFKC-normalise, turn punctuation into spaces and collapse whitespace.

    >>> normalise("  Hello,\\tWORLD!! ")
    'hello world'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def normalised_words(text: str) -> list[str]:
    """``normalise(text).split()``, in one pass; ASCII text skips NFKC (it leaves ASCII as it is).

    >>> normalised_words("  Hello,\\tWORLD!! ") == normalise("  Hello,\\tWORLD!! ").split()
    True
    """
    if text.isascii():
        return _WORD.findall(text.lower())  # casefold is lower for ASCII
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold plurals and -ing/-ed endings, then drop a final ``e``.

    Deliberately light (a few suffix rules, no dictionary): the goal is that
    the inflections of one word meet, not linguistic accuracy. Words of three
    letters or fewer and words with digits are kept as they are.

    >>> [stem(w) for w in ("cache", "caches", "cached", "caching")]
    ['cach', 'cach', 'cach', 'cach']
    >>> [stem(w) for w in ("queries", "query", "running", "boxes", "status")]
    ['query', 'query', 'run', 'box', 'status']
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4 and word[-4] not in "ae":
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        root = word[: -len(suffix)]
        if word.endswith(suffix) and len(root) >= 3 and _VOWELS.intersection(root):
            word = root
            if len(word) > 3 and word[-1] == word[-2] and word[-1] in _UNDOUBLE:
                word = word[:-1]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def canonicalise(words: Iterable[str]) -> list[str]:
    """Stem every normalised word that is not a stop word; stop words stay as they are."""
    return [word if word in STOP_WORDS else stem(word) for word in words]


def canonical_words(text: str) -> list[str]:
    """The normalised words, stop words kept verbatim and every other word stemmed.

    This sequence is the only thing routing sees of a text (see the module
    docstring), so it keeps stop words: complexity counts questions and
    conjunctions among them.
    """
    return canonicalise(normalised_words(text))


def surface_forms(words: Iterable[str]) -> dict[str, str]:
    """Stemmed content token -> the first normalised word it came from, for explanations.

    >>> surface_forms(normalise("Caching and caches").split())
    {'cach': 'caching'}
    """
    forms: dict[str, str] = {}
    for word in words:
        if word not in STOP_WORDS:
            forms.setdefault(stem(word), word)
    return forms


def content_tokens(words: Iterable[str]) -> list[str]:
    """``words`` without stop words, in order (duplicates kept)."""
    return [word for word in words if word not in STOP_WORDS]


def tokenise(text: str) -> list[str]:
    """The stemmed content tokens of ``text``: what keywords are matched against."""
    return content_tokens(canonical_words(text))


def fingerprint_words(words: Sequence[str]) -> str:
    """A stable hex fingerprint of a canonical word sequence (128-bit BLAKE2b).

    Stable across processes and Python versions (unlike ``hash``), so it can
    key shared caches.
    """
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


def fingerprint(text: str) -> str:
    """The fingerprint of ``text``: equal for texts that differ only in case, spacing, punctuation or inflection.

    >>> fingerprint("Caches hit?") == fingerprint("cache  hit")
    True
    """
    return fingerprint_words(canonical_words(text))


# SimHash votes are tallied in one big Python int: 64 lanes of _LANE_BITS
# bits, lane i counting the (integer) weight of features whose hash has bit i
# set. Adding a feature is one big-int multiply-add, and the final per-lane
# "more than half?" test is one addition and a byte slice, instead of a
# 64-step Python loop per feature (about 10x faster, and no numpy).
_LANE_BITS = 32
_LANE_BYTES = _LANE_BITS // 8
_LANE_ONES = sum(1 << (_LANE_BITS * lane) for lane in range(SKETCH_BITS))
_TOP_BIT = 1 << (_LANE_BITS - 1)
_WEIGHT_SCALE = 256  # feature weights are counted in 1/256 units
_MAX_TOTAL = 1 << (_LANE_BITS - 2)  # keeps every lane below its top bit until the final test
# Maps each lane's most significant byte to "1" when its top bit is set, else "0".
_TOP_BIT_DIGIT = bytes(0x31 if byte >= 0x80 else 0x30 for byte in range(256))
_ONE_LANE = (1).to_bytes(_LANE_BYTES, "little")
_ZERO_LANE = bytes(_LANE_BYTES)


# Lanes for each byte of a 64-bit hash, by byte position: lane 8*position + bit holds 1 when
# that bit of the byte is set. A feature's lanes are the OR of its eight bytes' entries, so a
# new feature costs one hash and eight look-ups, and the memo below can stay small.
_BYTE_LANES: tuple[tuple[int, ...], ...] = tuple(
    tuple(sum(1 << (_LANE_BITS * (8 * position + bit)) for bit in range(8) if byte >> bit & 1) for byte in range(256))
    for position in range(SKETCH_BITS // 8)
)


@lru_cache(maxsize=4096)
def _feature_lanes(feature: str) -> int:
    """The feature's 64-bit hash spread out: lane i holds 1 when hash bit i is set.

    Memoised for the frequent features (vocabulary words); the memo is small
    because a miss is cheap, so memory does not grow with the variety of
    texts seen.
    """
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=SKETCH_BITS // 8).digest()
    value = int.from_bytes(digest, "big")
    lanes = 0
    for position, table in enumerate(_BYTE_LANES):
        lanes |= table[value >> (8 * position) & 0xFF]
    return lanes


def simhash(features: Mapping[str, float]) -> int:
    """Charikar's SimHash of weighted features, as a 64-bit unsigned int.

    Bit i is set when the features whose hash has bit i set carry more than
    half the total weight, so feature sets that mostly overlap (by weight)
    get sketches a few bits apart. Weights are counted in 1/256 units.
    No features (or no positive weight) gives 0.
    """
    positive = sum(weight for weight in features.values() if weight > 0)
    # Huge inputs get a coarser unit rather than overflowing a lane into the next.
    scale = min(_WEIGHT_SCALE, _MAX_TOTAL / positive) if positive > 0 else 0.0
    tally = 0
    total = 0
    for name, weight in features.items():
        units = round(weight * scale) if weight > 0 else 0
        if units:
            tally += units * _feature_lanes(name)
            total += units
    if not total:
        return 0
    # Lane + (TOP - half - 1) reaches the top bit exactly when lane > total / 2.
    tally += (_TOP_BIT - total // 2 - 1) * _LANE_ONES
    top_bytes = tally.to_bytes(SKETCH_BITS * _LANE_BYTES, "little")[_LANE_BYTES - 1 :: _LANE_BYTES]
    return int(top_bytes.translate(_TOP_BIT_DIGIT)[::-1], 2)


def shingles(tokens: Sequence[str], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weighted unigram and bigram features of a token sequence.

    A unigram weighs ``weights[token]`` (1.0 when no weights are given); a
    bigram weighs ``BIGRAM_WEIGHT`` times the mean of its two words. Repeated
    features keep their largest weight, so repetition does not swamp a sketch.
    """
    features: dict[str, float] = {}
    for token in tokens:
        weight = 1.0 if weights is None else weights.get(token, 0.0)
        if weight > features.get(token, 0.0):
            features[token] = weight
    for first, second in pairwise(tokens):
        pair = f"{first} {second}"
        weight = BIGRAM_WEIGHT * (features.get(first, 0.0) + features.get(second, 0.0)) / 2.0
        if weight > features.get(pair, 0.0):
            features[pair] = weight
    return features


def sketch(tokens: Sequence[str], weights: Mapping[str, float] | None = None) -> int:
    """The SimHash sketch of a token sequence's unigram and bigram shingles."""
    return simhash(shingles(tokens, weights))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two sketches."""
    return (a ^ b).bit_count()


def similarity(a: int, b: int) -> float:
    """Sketch similarity in 0..1: 1.0 for identical sketches, about 0.5 for unrelated ones."""
    return 1.0 - hamming(a, b) / SKETCH_BITS


def max_distance(threshold: float) -> int:
    """The largest hamming distance whose similarity is still >= ``threshold``.

    >>> max_distance(0.9)
    6
    """
    if threshold <= 0.0:
        return SKETCH_BITS
    # The epsilon keeps 0.9 * 64 style products from flooring one bit short.
    return max(0, min(SKETCH_BITS, int((1.0 - threshold) * SKETCH_BITS + 1e-9)))
