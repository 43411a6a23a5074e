"""The passage store: splitting, incremental indexing, throttling, fallback and threads."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest

from agent_runtime.builtin_tools.corpus import Corpus, split_markdown, split_text


def _bump_mtime(path: Path, seconds: int = 10) -> None:
    """Move ``path``'s mtime forward, so the change is seen even on coarse-mtime filesystems."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def _paths(corpus: Corpus) -> set[str]:
    return {p.path for p in corpus.snapshot()[1]}


def test_markdown_is_split_by_heading_with_a_breadcrumb() -> None:
    text = "Preamble.\n\n# Title\n\nIntro.\n\n## Meaning\n\nIt means.\n\n### Detail\n\nFine print.\n\n## Fix\n\nDo it."
    assert split_markdown(text, "doc") == [
        ("doc", "Preamble."),
        ("Title", "Intro."),
        ("Title > Meaning", "It means."),
        ("Title > Meaning > Detail", "Fine print."),
        ("Title > Fix", "Do it."),
    ]


def test_hash_lines_in_fenced_code_are_not_headings() -> None:
    text = "# Runbook\n\n```bash\n# restart it\nsystemctl restart x\n```\n"
    assert split_markdown(text, "doc") == [("Runbook", "```bash\n# restart it\nsystemctl restart x\n```")]


def test_long_sections_are_cut_at_paragraphs() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(6)]
    passages = split_markdown("# Long\n\n" + "\n\n".join(paragraphs), "doc", max_chars=500)
    assert len(passages) == 3
    assert all(heading == "Long" for heading, _ in passages)
    assert "\n\n".join(body for _, body in passages) == "\n\n".join(p.strip() for p in paragraphs)


def test_text_files_are_paragraphs_under_the_file_title() -> None:
    assert split_text("One.\n\n\nTwo.\n", "notes", max_chars=3) == [("notes", "One."), ("notes", "Two.")]


def test_refresh_indexes_documents_and_skips_hidden_and_other_files(corpus: Corpus) -> None:
    generation, passages = corpus.snapshot()
    assert generation == 1
    assert {p.path for p in passages} == {
        "runbooks/CacheHitRateLow.md",
        "runbooks/TaskLatencyHigh.md",
        "runbooks/CircuitBreakerOpen.md",
        "docs/notes.txt",
    }
    headings = {p.heading for p in passages if p.path == "runbooks/CacheHitRateLow.md"}
    assert headings == {"CacheHitRateLow > Meaning", "CacheHitRateLow > Diagnosis", "CacheHitRateLow > Mitigation"}


def test_unchanged_files_do_not_bump_the_generation(corpus: Corpus) -> None:
    first = corpus.refresh()
    assert corpus.refresh() == first
    assert corpus.refresh(force=True) == first


def test_changed_file_is_reindexed(corpus: Corpus, corpus_dir: Path) -> None:
    first = corpus.refresh()
    runbook = corpus_dir / "runbooks" / "CircuitBreakerOpen.md"
    runbook.write_text("# CircuitBreakerOpen\n\n## Meaning\n\nThe breaker tripped on timeouts.\n")
    _bump_mtime(runbook)
    generation, passages = corpus.snapshot()
    assert generation == first + 1
    texts = [p.text for p in passages if p.path == "runbooks/CircuitBreakerOpen.md"]
    assert texts == ["The breaker tripped on timeouts."]


def test_deleted_file_is_dropped_and_new_file_added(corpus: Corpus, corpus_dir: Path) -> None:
    corpus.refresh()
    (corpus_dir / "docs" / "notes.txt").unlink()
    (corpus_dir / "docs" / "new.md").write_text("# New\n\nFresh document.\n")
    assert _paths(corpus) == {
        "runbooks/CacheHitRateLow.md",
        "runbooks/TaskLatencyHigh.md",
        "runbooks/CircuitBreakerOpen.md",
        "docs/new.md",
    }
    with corpus.connection() as conn:
        fts_rows = conn.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
        passage_rows = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
    assert fts_rows == passage_rows


def test_refresh_runs_at_most_once_per_interval(corpus_dir: Path, tmp_path: Path) -> None:
    now = [100.0]
    store = Corpus(
        [corpus_dir],
        tmp_path / "throttled.sqlite3",
        root=corpus_dir,
        refresh_interval_seconds=5.0,
        clock=lambda: now[0],
    )
    try:
        store.refresh()
        (corpus_dir / "docs" / "late.md").write_text("# Late\n\nArrived late.\n")
        now[0] += 4.0
        assert "docs/late.md" not in _paths(store)
        now[0] += 2.0
        assert "docs/late.md" in _paths(store)
    finally:
        store.close()


def test_index_survives_a_restart_without_rereading(corpus_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "persistent.sqlite3"
    first = Corpus([corpus_dir], index, root=corpus_dir, refresh_interval_seconds=0.0)
    generation = first.refresh()
    first.close()
    second = Corpus([corpus_dir], index, root=corpus_dir, refresh_interval_seconds=0.0)
    try:
        assert second.refresh() == generation
    finally:
        second.close()


def test_index_with_an_old_schema_is_rebuilt(corpus_dir: Path, tmp_path: Path) -> None:
    index = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(index)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema', '0')")
    conn.execute("CREATE TABLE passages (junk TEXT)")
    conn.commit()
    conn.close()
    store = Corpus([corpus_dir], index, root=corpus_dir, refresh_interval_seconds=0.0)
    try:
        assert "runbooks/TaskLatencyHigh.md" in _paths(store)
    finally:
        store.close()


def test_unusable_index_path_falls_back_to_the_temp_dir(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the index folder should be")
    store = Corpus([corpus_dir], blocker / "index.sqlite3", root=corpus_dir)
    try:
        assert store.index_path == tmp_path / "tmp" / "agent-runtime" / "index.sqlite3"
        assert "docs/notes.txt" in _paths(store)
    finally:
        store.close()


def test_missing_corpus_paths_give_an_empty_corpus(tmp_path: Path) -> None:
    store = Corpus([tmp_path / "nowhere"], tmp_path / "empty.sqlite3", refresh_interval_seconds=0.0)
    try:
        assert store.snapshot() == (0, [])
    finally:
        store.close()


def test_concurrent_readers_and_refreshes_do_not_fail(corpus: Corpus, corpus_dir: Path) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def read() -> None:
        start.wait()
        try:
            for _ in range(20):
                assert len(corpus.snapshot()[1]) > 0
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        start.wait()
        try:
            for i in range(10):
                target = corpus_dir / "docs" / "churn.md"
                target.write_text(f"# Churn\n\nVersion {i}.\n")
                _bump_mtime(target, i + 1)
                corpus.refresh(force=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(5)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    texts = [p.text for p in corpus.snapshot()[1] if p.path == "docs/churn.md"]
    assert texts == ["Version 9."]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections(corpus: Corpus) -> None:
    corpus.refresh()
    with corpus.connection() as parent_conn:
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a fresh, working connection
        try:
            with corpus.connection() as child_conn:
                fresh = child_conn is not parent_conn
                count = child_conn.execute("SELECT count(*) FROM passages").fetchone()[0]
            os.write(write, f"{fresh} {count}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child_fresh, child_count = pipe.read().split()
    assert child_fresh == "True"
    assert int(child_count) == len(corpus.snapshot()[1])
