"""The on-disk index: BM25 postings as written, approximate search, worker processes, old formats."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexMismatchError
from assistant.indexing import keyword, store
from assistant.indexing.vectors import choose
from assistant.pipeline import Assistant, build_index

from ..conftest import REPO, make_settings

QUESTIONS = ("When do the US and UK expect to launch their prize challenges?",
             "Which UK ministers signed the US-UK AI declaration?",
             "What is the International Alliance for a Human-Centric Approach to AI?")


def _reference_bm25(documents: list[list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 with Lucene's idf, written out term by term."""
    average = sum(map(len, documents)) / len(documents)
    out = np.zeros(len(documents))
    for term in set(query):
        df = sum(term in d for d in documents)
        idf = math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(documents):
            tf = Counter(d)[term]
            out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / average)) if tf else 0.0
    return out


def test_keyword_postings_written_in_blocks_score_as_bm25(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyword, "_BLOCK", 7)  # many sort blocks, each ending mid-term
    rng = np.random.default_rng(3)
    vocabulary = [f"w{i}" for i in range(30)]
    documents = [list(rng.choice(vocabulary, size=int(rng.integers(1, 25)))) for _ in range(60)] + [[]]
    db = sqlite3.connect(tmp_path / "k.sqlite")
    writer = keyword.KeywordWriter(tmp_path)
    assert [writer.add(d) for d in documents] == list(range(len(documents)))
    stats = writer.finish(db)
    db.commit()
    assert stats["passages"] == len(documents) and not (tmp_path / "keyword_postings.tmp").exists()
    index = keyword.KeywordIndex(tmp_path, len(documents), lambda: db)
    for query in (["w1"], ["w2", "w3", "w3"], ["w4", "unseen"], vocabulary[:10]):
        assert np.allclose(index.scores(query), _reference_bm25(documents, query), atol=1e-5)
        some = np.array([0, 5, 17, 59, len(documents) - 1])  # a few passages' scores: the same numbers
        assert np.allclose(index.scores_at(query, some), index.scores(query)[some], atol=1e-6)
    assert not index.knows("unseen") and index.knows("w5")
    assert index.term_idf("unseen") == pytest.approx(math.log(1 + (len(documents) + 0.5) / 0.5))


def test_the_vector_index_is_chosen_by_size() -> None:
    assert choose(10_000) == {"kind": "flat"}
    big = choose(1_000_000)
    assert big["kind"] == "ivf" and big["lists"] == 4000 and 0 < big["probe"] <= big["lists"]
    assert choose(1_000_000, kind="flat") == {"kind": "flat"}
    assert choose(500, kind="ivf", lists=4, probe=2) == {"kind": "ivf", "lists": 4, "probe": 2}


@pytest.mark.slow
def test_an_approximate_index_answers_like_exact_search(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    exact = make_settings(corpus_copy, tmp_path / "exact")
    approximate = make_settings(corpus_copy, tmp_path / "ivf", vector_index="ivf", ivf_lists=1)
    build_index(exact, embedder=embedder)
    build_index(approximate, embedder=embedder)
    opened = store.load(approximate.index_dir)
    assert opened.manifest["vector_index"]["kind"] == "ivf" and (opened.path / "vectors.faiss").exists()
    assert opened.vector_search.approximate
    by_exact, by_ivf = Assistant(exact, embedder), Assistant(approximate, embedder)
    for question in QUESTIONS:
        assert by_exact.ask(question).citations == by_ivf.ask(question).citations


@pytest.mark.slow
def test_worker_processes_make_the_same_index(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    inline = make_settings(corpus_copy, tmp_path / "inline", workers=0)
    pooled = make_settings(corpus_copy, tmp_path / "pooled", workers=2)
    build_index(inline, embedder=embedder)
    report = build_index(pooled, embedder=embedder)
    assert report.total_chunks > 0 and len(report.added) == 5
    one, two = store.load(inline.index_dir), store.load(pooled.index_dir)
    assert [c.chunk_id for c in one.chunks] == [c.chunk_id for c in two.chunks]
    assert [one.chunk_terms(i) for i in range(one.size)] == [two.chunk_terms(i) for i in range(two.size)]
    assert np.array_equal(np.asarray(one.vectors), np.asarray(two.vectors))
    assert one.acronyms == two.acronyms and one.corpus_words == two.corpus_words


@pytest.mark.slow
def test_an_index_in_the_old_format_is_refused_then_rebuilt(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    manifest_path = store.current_version(settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format"] = 1  # documents.json + chunks.jsonl, loaded whole
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="assistant index --full"):
        Assistant(settings, embedder)
    report = build_index(settings, embedder=embedder)
    assert report.embedded_chunks == report.total_chunks > 0
    assert Assistant(settings, embedder).ask(QUESTIONS[0]).citations


def test_opening_reads_no_chunk_and_no_document_text(seed_index) -> None:  # type: ignore[no-untyped-def]
    opened = store.load(seed_index.index_dir)
    assert opened.size > 0 and len(opened.entries) == 5
    assert isinstance(opened.vectors, np.memmap) and isinstance(opened.keyword._rows, np.memmap)
    assert not opened.chunks._cache and not opened.documents._cache
    first = opened.chunks[0]
    assert opened.row_of(first) == 0 and opened.doc_id_of(0) == first.doc_id
    assert opened.document(first.doc_id).text[first.start:first.end] == first.text
    assert list(opened.rows_of([first.doc_id])) == list(range(*_rows(opened, first.doc_id)))


def _rows(opened: store.IndexStore, doc_id: str) -> tuple[int, int]:
    entry = opened.entries[doc_id]
    return entry.first_row, entry.end_row


@pytest.mark.slow
def test_an_incremental_build_copies_unchanged_rows_into_what_a_full_build_makes(
        corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    target = corpus_copy / "eu-international-alliance-human-centric-ai-project.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\n\nA paragraph added at the end of the page.\n",
                      encoding="utf-8")
    report = build_index(settings, embedder=embedder)
    assert report.changed == ("eu-international-alliance-human-centric-ai-project.txt",) and len(report.unchanged) == 4
    full = make_settings(corpus_copy, tmp_path / "full")
    build_index(full, embedder=embedder, full=True)
    copied, made = store.load(settings.index_dir), store.load(full.index_dir)
    assert [c.chunk_id for c in copied.chunks] == [c.chunk_id for c in made.chunks]
    assert [copied.chunk_terms(i) for i in range(copied.size)] == [made.chunk_terms(i) for i in range(made.size)]
    # The same vectors, up to the rounding of bfloat16 batches made of other texts.
    assert np.min(np.sum(np.asarray(copied.vectors) * np.asarray(made.vectors), axis=1)) > 0.999
    assert np.array_equal(np.asarray(copied.excerpt_starts), np.asarray(made.excerpt_starts))
    assert np.min(np.sum(np.asarray(copied.excerpt_vectors) * np.asarray(made.excerpt_vectors), axis=1)) > 0.999
    assert {d: (e.first_row, e.end_row) for d, e in copied.entries.items()} == \
        {d: (e.first_row, e.end_row) for d, e in made.entries.items()}
    keys = "SELECT count(*) FROM embedded"
    assert copied._db().execute(keys).fetchone() == made._db().execute(keys).fetchone()
    # The keyword postings of unchanged passages are copied, not made again: the same vocabulary,
    # the same document frequencies and the same BM25 scores as the full build's.
    vocabulary = "SELECT term, stop - start FROM terms ORDER BY term"
    assert copied._db().execute(vocabulary).fetchall() == made._db().execute(vocabulary).fetchall()
    for terms in (["ai"], ["safeti", "research", "cooper"], list(made.chunk_terms(made.size - 1)[:6])):
        assert np.allclose(copied.keyword.scores(terms), made.keyword.scores(terms), atol=1e-5), terms
    # Every vector stays findable for reuse: one more change re-embeds that document's new texts only.
    target.write_text(target.read_text(encoding="utf-8").replace("added at the end", "added last"), encoding="utf-8")
    again = build_index(settings, embedder=embedder)
    assert 0 < again.embedded_chunks <= 2


@pytest.mark.slow
def test_a_script_without_a_main_guard_still_builds(corpus_copy: Path, tmp_path: Path) -> None:
    """Spawned workers re-run such a script and die; the build carries on without them."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from pathlib import Path\n"
        "from assistant.config import Settings\n"
        "from assistant.pipeline import build_index\n"
        f"settings = Settings().with_overrides(corpus_dir=Path({str(corpus_copy)!r}), "
        f"index_dir=Path({str(tmp_path / 'index')!r}), progress=False, workers=2)\n"
        "print('built', build_index(settings).total_chunks)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("built") == 1 and int(done.stdout.split()[-1]) > 0


def test_scattered_rows_are_read_without_mapping_them(tmp_path: Path) -> None:
    from assistant.indexing.vectors import RowFile

    matrix = np.random.default_rng(0).random((300, 8), dtype=np.float32)
    matrix.tofile(tmp_path / "vectors.f32")
    rows = RowFile(tmp_path / "vectors.f32", 300, 8)
    wanted = np.array([299, 5, 6, 7, 5, 0, 120])  # any order, repeats, runs
    assert np.array_equal(rows.take(wanted), matrix[wanted])
    assert np.array_equal(rows.range(10, 14), matrix[10:14])
    assert rows.take(np.array([], dtype=np.int64)).shape == (0, 8)
    rows.close()
