"""``extractive_summary``: the most representative sentences of a text, no LLM needed.

The ``writer`` agent uses it when no LLM is configured. Sentences are scored
by the mean document frequency of their content words (stop words ignored),
so sentences about what the whole text keeps talking about win; very short
fragments are skipped, near-duplicates are dropped, and the chosen sentences
come back in their original order so the summary reads naturally.

Example::

    >>> text = ("The cache hit rate dropped. The cache was flushed by a deploy. "
    ...         "Lunch was good. Hit rate recovers as the cache warms.")
    >>> extractive_summary(text, max_sentences=2)["summary"]
    'The cache hit rate dropped. Hit rate recovers as the cache warms.'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from agent_runtime.builtin_tools._args import coerce_int
from agent_runtime.builtin_tools.corpus import STOPWORDS, words
from agent_runtime.errors import ToolError

MAX_SENTENCES = 50
MIN_CONTENT_WORDS = 3
NEAR_DUPLICATE = 0.7  # Jaccard similarity of content words from which on a sentence repeats another
# Sentence ends: . ! ? followed by space and a capital/digit/quote, or a line break between blocks.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.|#)\s)")
_MARKUP = re.compile(r"^\s*(?:#{1,6}|[-*+]|\d+\.)\s+|[*`_]{1,3}")


def _texts(text: str | None, passages: object) -> list[str]:
    """The input as a list of texts: ``text``, or passages given as strings, hits or a hit list."""
    if (text is None) == (passages is None):
        raise ToolError("extractive_summary needs exactly one of text or passages")
    if text is not None:
        if not isinstance(text, str):
            raise ToolError(f"text must be a string, got {type(text).__name__}")
        return [text]
    if isinstance(passages, Mapping) and "results" in passages:
        passages = passages["results"]
    if isinstance(passages, str) or not isinstance(passages, Sequence):
        raise ToolError("passages must be a list of strings or of objects with a text field")
    texts: list[str] = []
    for number, passage in enumerate(passages):
        if isinstance(passage, str):
            texts.append(passage)
        elif isinstance(passage, Mapping) and isinstance(passage.get("text"), str):
            texts.append(passage["text"])
        else:
            raise ToolError(f"passages[{number}] must be a string or an object with a text field")
    return texts


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` with Markdown list and heading markers removed, whitespace collapsed."""
    sentences = []
    for piece in _SENTENCE_END.split(text):
        sentence = " ".join(_MARKUP.sub("", piece).split())
        if sentence:
            sentences.append(sentence)
    return sentences


def extractive_summary(text: str | None = None, passages: object = None, max_sentences: int = 3) -> dict[str, Any]:
    """Summarise ``text`` or ``passages`` in at most ``max_sentences`` of their own sentences.

    ``passages`` may be a list of strings, a list of search hits (objects
    with ``text``) or an object with ``results``. Returns ``{"summary",
    "sentences", "total_sentences"}``: the chosen sentences joined, the same as
    a list (original order), and how many sentences the input had.
    """
    limit = coerce_int("max_sentences", max_sentences, 1, MAX_SENTENCES)
    sentences = [s for t in _texts(text, passages) for s in split_sentences(t)]
    tokenised = [[w for w in words(s) if w not in STOPWORDS] for s in sentences]
    # Document frequency over sentences: a word counts once per sentence it appears in.
    frequency: Counter[str] = Counter(w for tokens in tokenised for w in set(tokens))
    scored: list[tuple[float, int]] = []
    for index, tokens in enumerate(tokenised):
        if len(tokens) < MIN_CONTENT_WORDS and len(sentences) > limit:
            continue
        unique = set(tokens)
        # Mean over the sentence's distinct words, so long sentences do not win by length alone.
        score = sum(frequency[w] for w in unique) / len(unique) if unique else 0.0
        scored.append((score, index))
    scored.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[int] = []
    for _, index in scored:
        if len(chosen) == limit:
            break
        if any(_overlap(set(tokenised[index]), set(tokenised[other])) >= NEAR_DUPLICATE for other in chosen):
            continue  # a near-repeat of a sentence already chosen adds nothing
        chosen.append(index)
    picked = [sentences[i] for i in sorted(chosen)]
    return {"summary": " ".join(picked), "sentences": picked, "total_sentences": len(sentences)}


def _overlap(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two word sets (0 when both are empty)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0
