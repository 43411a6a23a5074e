"""``knowledge_search``: BM25-ranked passages of the document corpus.

The corpus (runbooks, docs) is split into passages and indexed with SQLite
FTS5 (see ``corpus.py``); a query is turned into a safe FTS5 expression and
ranked with BM25, headings weighing twice as much as body text.

User text never reaches FTS5 as syntax: every whitespace-separated chunk
becomes a double-quoted phrase (quotes doubled), so ``AND``, ``NEAR``, ``*``,
``:``, ``(`` or an unbalanced quote are plain words. Chunks are OR-ed, so a
passage needs only some of the words, and BM25 ranks the ones with more (and
rarer) words first. A chunk such as ``agent_runtime_tasks_total`` is a phrase of
its parts, which matches the metric name exactly.

Example::

    >>> fts_query("error rate: AND (5xx")
    '"error" OR "rate:" OR "(5xx"'
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from agent_runtime.builtin_tools._args import coerce_int, require_text
from agent_runtime.builtin_tools.corpus import STOPWORDS, Corpus, words
from agent_runtime.errors import RetryableToolError

MAX_QUERY_TERMS = 32
MAX_TOP_K = 50
SNIPPET_TOKENS = 32
HEADING_WEIGHT = 2.0
BODY_WEIGHT = 1.0

# FTS5 operators: meaningful to FTS5 only outside quotes, but as words they carry no meaning either.
_OPERATORS = frozenset({"and", "or", "not", "near"})

# NUL ends an FTS5 string early and lone surrogates cannot be encoded: neither is text worth keeping.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")

_SEARCH_SQL = f"""
SELECT p.display_path, p.heading, p.body,
       snippet(passages_fts, 1, '**', '**', ' … ', {SNIPPET_TOKENS}),
       bm25(passages_fts, {HEADING_WEIGHT}, {BODY_WEIGHT}) AS rank
FROM passages_fts JOIN passages AS p ON p.id = passages_fts.rowid
WHERE passages_fts MATCH ?
ORDER BY rank
LIMIT ?
"""


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression for free ``text``; None when it has no words.

    Stop words and FTS5 operator words are left out unless nothing else is
    left; repeated chunks count once; at most ``MAX_QUERY_TERMS`` chunks.
    """
    chunks: list[str] = []
    seen: set[str] = set()
    for chunk in _UNSAFE.sub(" ", text).split():
        key = " ".join(words(chunk))
        if key and key not in seen:
            seen.add(key)
            chunks.append(chunk)
    content = [c for c in chunks if " ".join(words(c)) not in STOPWORDS | _OPERATORS]
    chosen = (content or chunks)[:MAX_QUERY_TERMS]
    if not chosen:
        return None
    return " OR ".join('"' + chunk.replace('"', '""') + '"' for chunk in chosen)


class KnowledgeSearch:
    """The ``knowledge_search`` tool over one ``Corpus``.

    Calling it refreshes the index (at most once per the corpus's refresh
    interval) and returns the best passages, best first.
    """

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def __call__(self, query: str, top_k: int = 5) -> list[dict[str, Any]]:
        """Passages matching ``query``, best first.

        Each hit is ``{"path", "heading", "snippet", "text", "score"}``: the
        document path (relative to the corpus root), the section heading
        breadcrumb, an excerpt with matches in ``**bold**``, the passage text
        and the BM25 score (higher is better). No match: an empty list.
        """
        text = require_text("query", query)
        limit = coerce_int("top_k", top_k, 1, MAX_TOP_K)
        expression = fts_query(text)
        if expression is None:
            return []
        try:
            self.corpus.refresh()
            with self.corpus.connection() as conn:
                rows = conn.execute(_SEARCH_SQL, (expression, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            # The query is always well-formed, so this is a busy or locked database (or disk trouble).
            raise RetryableToolError(f"knowledge index unavailable: {exc}") from None
        return [
            {
                "path": path,
                "heading": heading,
                "snippet": snippet,
                "text": body,
                # bm25() is lower-is-better and negative; flip it so scores read naturally.
                "score": round(-rank, 4),
            }
            for path, heading, body, snippet, rank in rows
        ]
