"""The passage store shared by ``knowledge_search`` and ``vector_search``.

Documents (Markdown and plain text under the configured paths) are split into
passages: one per Markdown section, or several when a section is long, cut at
paragraph boundaries. Passages live in a SQLite file together with an FTS5
index of them and a ``files`` table of path → (mtime, size), so a refresh only
re-reads files that changed and drops files that disappeared. A refresh runs at
most once per ``refresh_interval_seconds``, however often the tools are called.

Every change bumps a ``generation`` number stored in the database, which lets
derived indexes (the vector index) know when to rebuild, even when another
process did the re-indexing.

Example::

    >>> split_markdown("# Title\\n\\nIntro.\\n\\n## Usage\\n\\nRun it.", "doc")
    [('Title', 'Intro.'), ('Title > Usage', 'Run it.')]
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SUFFIXES = frozenset({".md", ".markdown", ".txt"})
SCHEMA_VERSION = "1"
MAX_FILE_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_PASSAGE_CHARS = 1500

_WORD = re.compile(r"[^\W_]+")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from"),
        *("has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "no", "not", "of", "on"),
        *("or", "so", "such", "that", "the", "their", "then", "there", "these", "this", "to", "was"),
        *("we", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your"),
    }
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, display_path TEXT NOT NULL,
    ordinal INTEGER NOT NULL, heading TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_path ON passages (path);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5 (heading, body, tokenize = 'porter unicode61');
"""


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words: the same split FTS5's ``unicode61`` makes."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Passage:
    """One searchable piece of a document."""

    id: int
    path: str
    heading: str
    text: str


def _paragraph_chunks(body: str, max_chars: int) -> list[str]:
    """``body`` cut at blank lines into chunks of at most ``max_chars`` (longer paragraphs stay whole)."""
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", body) if p.strip()]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if current and size + len(paragraph) > max_chars:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph) + 2
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def split_markdown(text: str, title: str, max_chars: int = DEFAULT_MAX_PASSAGE_CHARS) -> list[tuple[str, str]]:
    """(heading, body) passages of a Markdown document, headings as a ``A > B`` breadcrumb.

    Lines inside fenced code blocks are never taken for headings. Text before
    the first heading belongs to ``title``.
    """
    sections: list[tuple[list[str], list[str]]] = [([], [])]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match is None:
            sections[-1][1].append(line)
            continue
        level, heading = len(match.group(1)), match.group(2).strip()
        trail = sections[-1][0][: level - 1]
        sections.append(([*trail, *[""] * (level - 1 - len(trail)), heading], []))
    passages: list[tuple[str, str]] = []
    for trail, lines in sections:
        heading = " > ".join(h for h in trail if h) or title
        for chunk in _paragraph_chunks("\n".join(lines), max_chars):
            passages.append((heading, chunk))
    return passages


def split_text(text: str, title: str, max_chars: int = DEFAULT_MAX_PASSAGE_CHARS) -> list[tuple[str, str]]:
    """(heading, body) passages of a plain-text document: paragraph chunks under ``title``."""
    return [(title, chunk) for chunk in _paragraph_chunks(text, max_chars)]


def default_index_path(paths: Sequence[Path]) -> Path:
    """A per-corpus index file in the user's cache directory (or the temp dir if there is none)."""
    digest = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory (a bare service account)
            base = tempfile.gettempdir()
    return Path(base) / "agent-runtime" / f"corpus-{digest}.sqlite3"


class Corpus:
    """Passages of the documents under ``paths``, indexed in the SQLite file ``index_path``.

    Thread-safe: connections come from a small pool (one per concurrent
    user), the database runs in WAL mode so readers never wait for a refresh,
    and refreshes are serialised by a lock (and across processes by SQLite's
    write lock).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        index_path: Path | None = None,
        *,
        root: Path | None = None,
        refresh_interval_seconds: float = 2.0,
        max_passage_chars: int = DEFAULT_MAX_PASSAGE_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.root = root
        self.refresh_interval_seconds = refresh_interval_seconds
        self.max_passage_chars = max_passage_chars
        self._clock = clock
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        self._refresh_lock = threading.Lock()
        self._last_refresh: float | None = None
        self._generation = 0
        self.index_path = self._open_index(index_path or default_index_path(self.paths))

    def _open_index(self, path: Path) -> Path:
        """Create the schema at ``path``; an unusable path degrades to a file in the temp dir."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._init_schema(path)
            return path
        except (OSError, sqlite3.Error) as exc:
            fallback = Path(tempfile.gettempdir()) / "agent-runtime" / path.name
            logger.warning("corpus index %s is unusable (%s); using %s", path, exc, fallback)
            fallback.parent.mkdir(parents=True, exist_ok=True)
            self._init_schema(fallback)
            return fallback

    def _init_schema(self, path: Path) -> None:
        conn = self._connect(path)
        try:
            version = None
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                version = row[0] if row else None
            if version not in (None, SCHEMA_VERSION):
                # An index written by another layout: derived data, so rebuild it from scratch.
                for table in ("passages_fts", "passages", "files", "meta"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
        finally:
            conn.close()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # Autocommit mode: transactions are opened explicitly where they are needed.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection to the index for the duration of the block."""
        if os.getpid() != self._pid:
            self._forget_inherited_connections()
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect(self.index_path)
            with self._pool_lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def _forget_inherited_connections(self) -> None:
        """In a forked child (gunicorn --preload): abandon the parent's connections, open new ones.

        SQLite connections must not cross a fork, and closing them here could
        disturb the parent's locks, so they are dropped unclosed.
        """
        with self._pool_lock:
            if os.getpid() != self._pid:
                self._pool = queue.SimpleQueue()
                self._all = []
                self._pid = os.getpid()

    def close(self) -> None:
        """Close every connection; the corpus must not be used afterwards."""
        with self._pool_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    def refresh(self, *, force: bool = False) -> int:
        """Re-index changed files (at most once per interval unless ``force``); the generation."""
        if not force and self._fresh():
            return self._generation
        with self._refresh_lock:
            if not force and self._fresh():
                return self._generation
            started = self._clock()
            found = self._scan()
            with self.connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    changes = self._apply(conn, found)
                    if changes:
                        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                    generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            if changes:
                logger.info("corpus re-indexed %d file(s) in %.3fs", changes, self._clock() - started)
            self._generation = generation
            self._last_refresh = started
            return generation

    def _fresh(self) -> bool:
        last = self._last_refresh
        return last is not None and self._clock() - last < self.refresh_interval_seconds

    def _scan(self) -> dict[str, os.stat_result]:
        """Every indexable file under the corpus paths, hidden files and folders excluded."""
        found: dict[str, os.stat_result] = {}
        for base in self.paths:
            if base.is_file() and base.suffix.lower() in SUFFIXES:
                found[str(base)] = base.stat()
                continue
            for folder, dirs, files in os.walk(base):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    path = Path(folder) / name
                    if name.startswith(".") or path.suffix.lower() not in SUFFIXES:
                        continue
                    try:
                        found[str(path)] = path.stat()
                    except OSError:
                        continue  # vanished between listing and stat
        return found

    def _apply(self, conn: sqlite3.Connection, found: dict[str, os.stat_result]) -> int:
        """Bring the index in line with ``found``; the number of files added, changed or dropped."""
        known = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT path, mtime_ns, size FROM files")}
        changes = 0
        for path in known.keys() - found.keys():
            self._drop(conn, path)
            changes += 1
        for path, stat in found.items():
            if known.get(path) == (stat.st_mtime_ns, stat.st_size):
                continue
            self._drop(conn, path)
            changes += 1
            if stat.st_size > MAX_FILE_BYTES:
                logger.warning("corpus: skipping %s (%d bytes > %d)", path, stat.st_size, MAX_FILE_BYTES)
            else:
                try:
                    self._insert(conn, path, Path(path).read_text(encoding="utf-8", errors="replace"))
                except OSError as exc:
                    # Recorded anyway: retried when the file changes, not on every refresh.
                    logger.warning("corpus: cannot read %s: %s", path, exc)
            conn.execute("INSERT INTO files VALUES (?, ?, ?)", (path, stat.st_mtime_ns, stat.st_size))
        return changes

    def _insert(self, conn: sqlite3.Connection, path: str, text: str) -> None:
        file = Path(path)
        split = split_text if file.suffix.lower() == ".txt" else split_markdown
        display = self._display_path(file)
        for ordinal, (heading, body) in enumerate(split(text, file.stem, self.max_passage_chars)):
            cursor = conn.execute(
                "INSERT INTO passages (path, display_path, ordinal, heading, body) VALUES (?, ?, ?, ?, ?)",
                (path, display, ordinal, heading, body),
            )
            conn.execute(
                "INSERT INTO passages_fts (rowid, heading, body) VALUES (?, ?, ?)",
                (cursor.lastrowid, heading, body),
            )

    @staticmethod
    def _drop(conn: sqlite3.Connection, path: str) -> None:
        conn.execute("DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE path = ?)", (path,))
        conn.execute("DELETE FROM passages WHERE path = ?", (path,))
        conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def _display_path(self, path: Path) -> str:
        """``path`` relative to the corpus root when it is under it, else absolute."""
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def snapshot(self) -> tuple[int, list[Passage]]:
        """The generation and every passage, read in one transaction (after a refresh)."""
        self.refresh()
        with self.connection() as conn:
            conn.execute("BEGIN")
            try:
                generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
                rows = conn.execute(
                    "SELECT id, display_path, heading, body FROM passages ORDER BY path, ordinal"
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        return generation, [Passage(*row) for row in rows]
