"""``vector_search``: cosine similarity over hashed TF-IDF vectors of the corpus passages.

No model and no SciPy: each passage becomes a sparse vector in a space of
fixed dimension (``2**16`` by default) through the hashing trick, so no
vocabulary has to be kept. Features are the passage's words and the
character 4-grams of those words (``#lat``, ``late``, ...), which lets
``latencies`` meet ``latency`` and ``throttled`` meet ``throttling`` without a
stemmer. Weights are sublinear term frequency times smoothed IDF, and rows are
L2-normalised, so a dot product is the cosine.

The matrix is held in CSR form as three NumPy arrays; scoring a query is a
gather of the query vector at the stored column indices and one
``np.bincount`` over row numbers, i.e. proportional to the number of stored
non-zeros. The index is rebuilt whenever the corpus generation changes (the
passages are the ones ``knowledge_search`` uses).

Example::

    >>> index = VectorIndex.build([(1, "a", "h", "queue backlog growing"), (2, "b", "h", "disk full")])
    >>> [hit.passage_id for hit in index.search("backlog of the queue", 1)]
    [1]
"""

from __future__ import annotations

import math
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent_runtime.builtin_tools._args import coerce_int, require_text
from agent_runtime.builtin_tools.corpus import STOPWORDS, Corpus, Passage, words
from agent_runtime.errors import RetryableToolError

DEFAULT_DIMENSION = 2**16
NGRAM = 4
NGRAM_WEIGHT = 0.3  # sub-word matches help recall but should not outrank whole-word matches
MAX_TOP_K = 50
SNIPPET_CHARS = 240

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _bucket(feature: str, dimension: int) -> int:
    # crc32 is stable across processes (unlike hash()) and cheap; dimension is a power of two.
    return zlib.crc32(feature.encode()) & (dimension - 1)


def features(text: str, dimension: int = DEFAULT_DIMENSION) -> dict[int, float]:
    """Sublinear-TF weights of ``text``'s hashed features (before IDF)."""
    word_counts: Counter[int] = Counter()
    gram_counts: Counter[int] = Counter()
    for word in words(text):
        if word in STOPWORDS:
            continue
        word_counts[_bucket("w:" + word, dimension)] += 1
        padded = f"#{word}#"
        for start in range(len(padded) - NGRAM + 1):
            gram_counts[_bucket("g:" + padded[start : start + NGRAM], dimension)] += 1
    weights: dict[int, float] = {}
    for counts, scale in ((word_counts, 1.0), (gram_counts, NGRAM_WEIGHT)):
        for index, count in counts.items():
            weights[index] = weights.get(index, 0.0) + scale * (1.0 + math.log(count))
    return weights


@dataclass(frozen=True)
class VectorHit:
    """One passage and its cosine similarity to the query."""

    passage_id: int
    path: str
    heading: str
    text: str
    score: float


class VectorIndex:
    """An immutable TF-IDF index of passages; build with ``VectorIndex.build``."""

    def __init__(
        self,
        rows: Sequence[tuple[int, str, str, str]],
        *,
        indptr: IntArray,
        indices: IntArray,
        data: FloatArray,
        idf: FloatArray,
        dimension: int,
    ) -> None:
        self.rows = tuple(rows)
        self._indptr = indptr
        self._indices = indices
        self._data = data
        self._idf = idf
        self._dimension = dimension
        # Row number of every stored non-zero, precomputed for the bincount in search().
        self._row_of = np.repeat(np.arange(len(self.rows)), np.diff(indptr))

    @classmethod
    def build(cls, rows: Sequence[tuple[int, str, str, str]], dimension: int = DEFAULT_DIMENSION) -> VectorIndex:
        """Index ``rows`` of (passage id, path, heading, text); heading and text are both embedded."""
        if dimension <= 0 or dimension & (dimension - 1):
            raise ValueError(f"dimension must be a power of two, got {dimension}")
        vectors = [features(f"{heading}\n{text}", dimension) for _, _, heading, text in rows]
        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(v) for v in vectors])
        indices = np.fromiter((i for v in vectors for i in v), dtype=np.int64, count=int(indptr[-1]))
        data = np.fromiter((w for v in vectors for w in v.values()), dtype=np.float32, count=int(indptr[-1]))
        document_frequency = np.bincount(indices, minlength=dimension)
        # Smoothed IDF (as in scikit-learn): never zero, so a feature in every passage still counts a bit.
        idf = (np.log((1.0 + len(vectors)) / (1.0 + document_frequency)) + 1.0).astype(np.float32)
        data *= idf[indices]
        row_of = np.repeat(np.arange(len(vectors)), np.diff(indptr))
        norms = np.sqrt(np.bincount(row_of, weights=data.astype(np.float64) ** 2, minlength=len(vectors)))
        data /= np.maximum(norms, 1e-12).astype(np.float32)[row_of]
        return cls(rows, indptr=indptr, indices=indices, data=data, idf=idf, dimension=dimension)

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, query: str, top_k: int) -> list[VectorHit]:
        """The ``top_k`` passages most similar to ``query`` (similarity > 0), best first."""
        weights = features(query, self._dimension)
        if not weights or not self.rows:
            return []
        query_vector = np.zeros(self._dimension, dtype=np.float32)
        for index, weight in weights.items():
            query_vector[index] = weight
        query_vector *= self._idf
        norm = float(np.linalg.norm(query_vector))
        if norm == 0.0:
            return []
        query_vector /= norm
        scores = np.bincount(self._row_of, weights=self._data * query_vector[self._indices], minlength=len(self.rows))
        k = min(top_k, len(self.rows))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [VectorHit(*self.rows[int(row)], score=float(scores[row])) for row in best if scores[row] > 0.0]


class VectorSearch:
    """The ``vector_search`` tool over one ``Corpus``; rebuilds its index when the corpus changes."""

    def __init__(self, corpus: Corpus, dimension: int = DEFAULT_DIMENSION) -> None:
        self.corpus = corpus
        self.dimension = dimension
        self._lock = threading.Lock()
        # (corpus generation, index built from it), swapped as one reference so readers need no lock.
        self._built: tuple[int, VectorIndex] | None = None

    def index(self) -> VectorIndex:
        """The index for the corpus as it is now (rebuilt once per corpus change)."""
        generation = self.corpus.refresh()
        built = self._built
        if built is not None and built[0] == generation:
            return built[1]
        with self._lock:
            built = self._built
            if built is None or built[0] != generation:
                snapshot_generation, passages = self.corpus.snapshot()
                built = (snapshot_generation, VectorIndex.build([_row(p) for p in passages], self.dimension))
                self._built = built
            return built[1]

    def __call__(self, query: str, top_k: int = 5) -> list[dict[str, Any]]:
        """Passages most similar to ``query``, best first.

        Each hit is ``{"path", "heading", "snippet", "text", "score"}`` like
        ``knowledge_search``'s, ``score`` being the cosine similarity (0..1)
        and ``snippet`` the start of the passage.
        """
        text = require_text("query", query)
        limit = coerce_int("top_k", top_k, 1, MAX_TOP_K)
        try:
            index = self.index()
        except sqlite3.OperationalError as exc:
            raise RetryableToolError(f"knowledge index unavailable: {exc}") from None
        return [
            {
                "path": hit.path,
                "heading": hit.heading,
                "snippet": _snippet(hit.text),
                "text": hit.text,
                "score": round(hit.score, 4),
            }
            for hit in index.search(text, limit)
        ]


def _row(passage: Passage) -> tuple[int, str, str, str]:
    return (passage.id, passage.path, passage.heading, passage.text)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
