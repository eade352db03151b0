"""An opened version of the embedded index: the store answering reads from. The manifest and a
small table of documents are read when it opens; chunks and document texts are read from SQLite
when a question needs them (recent ones kept in LRU caches), vectors and postings are mapped."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
from cachetools import LRUCache

from ...types import Chunk, Document
from ..keyword import KeywordIndex
from ..vectors import RowFile, VectorSearch
from .codec import chunk_from_json, entry_from_row, stored_document
from .records import (
    BYLINE,
    CHUNK_DOCS_FILE,
    CHUNK_VECTOR,
    DATABASE,
    ENTRY_COLUMNS,
    EXCERPT_STARTS_FILE,
    EXCERPTS_FILE,
    VECTORS_FILE,
    DocumentEntry,
    IndexIdentity,
    StoredDocument,
    embed_key,
)


class IndexStore:
    """An opened index version: chunk row i has vectors[i]. Safe to share between threads."""

    def __init__(self, path: Path, manifest: dict[str, Any], exact: bool = False, probe: int = 0) -> None:
        self.path = path
        self.version = path.name  # what names this build wherever it is served from
        self.manifest = manifest
        self._local = threading.local()
        counts = manifest.get("counts", {})
        self.size = int(counts.get("chunks", 0))
        dimension = int(manifest["identity"]["dimension"])
        self.vectors = map_vectors(path / VECTORS_FILE, self.size, dimension)
        self.excerpt_vectors = map_vectors(path / EXCERPTS_FILE, int(counts.get("excerpts", 0)), dimension)
        self.excerpt_starts = np.load(path / EXCERPT_STARTS_FILE, mmap_mode="r")
        self.chunk_docs = np.load(path / CHUNK_DOCS_FILE, mmap_mode="r")
        self.keyword = KeywordIndex(path, self.size, self._db)
        self.vector_rows = RowFile(path / VECTORS_FILE, len(self.vectors), dimension)
        self.excerpt_rows = RowFile(path / EXCERPTS_FILE, len(self.excerpt_vectors), dimension)
        self.vector_search = VectorSearch(path, self.vectors, manifest.get("vector_index", {"kind": "flat"}),
                                          exact=exact, probe=probe, rows=self.vector_rows)
        self.documents = DocumentTable(self.entry, lambda: self.entries, self._read_document)
        self.chunks = ChunkTable(self)
        tables = dict(self._db().execute("SELECT name, value FROM tables"))
        self.acronyms: dict[str, str] = json.loads(tables.get("acronyms", "{}"))
        self.corpus_words: list[str] = json.loads(tables.get("corpus_words", "[]"))
        self.byline_rows = np.array([r for (r,) in self._db().execute(
            "SELECT row FROM chunks WHERE role = ? ORDER BY row", (BYLINE,))], dtype=np.int64)

    def _db(self) -> sqlite3.Connection:
        """This thread's read-only connection (the version never changes once written)."""
        db = getattr(self._local, "db", None)
        if db is None:
            uri = f"file:{self.path / DATABASE}?mode=ro&immutable=1"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.db = db
        return db

    @functools.cached_property
    def entries(self) -> dict[str, DocumentEntry]:
        """Every document's row without its text, by id (read when first listed: a question needs none)."""
        return {e.doc_id: e for e in self._entries("ORDER BY ordinal")}

    def entry(self, doc_id: str) -> DocumentEntry | None:
        found = self._entries("WHERE doc_id = ?", (doc_id,))
        return found[0] if found else None

    def _entries(self, where: str, arguments: tuple[Any, ...] = ()) -> list[DocumentEntry]:
        return [entry_from_row(row) for row in self._db().execute(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM documents {where}", arguments)]

    def _read_document(self, entry: DocumentEntry) -> StoredDocument:
        text, blocks, pages = self._db().execute(
            "SELECT text, blocks, pages FROM documents WHERE ordinal = ?", (entry.ordinal,)).fetchone()
        return stored_document(entry, text, blocks, pages)

    @property
    def identity(self) -> IndexIdentity:
        return IndexIdentity(**self.manifest["identity"])

    def document(self, doc_id: str) -> Document:
        return self.documents[doc_id].document

    def doc_id_of(self, row: int) -> str:
        return str(self._db().execute("SELECT doc_id FROM documents WHERE ordinal = ?",
                                      (int(self.chunk_docs[row]),)).fetchone()[0])

    def rows_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        """The chunk rows of these documents (unknown ids have none)."""
        spans = [np.arange(e.first_row, e.end_row) for d in doc_ids if (e := self.entry(d))]
        return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)

    def row_of(self, chunk: Chunk) -> int:
        row = self.chunks.row_of(chunk.chunk_id)
        if row is None:
            raise KeyError(chunk.chunk_id)
        return row

    def chunk_terms(self, row: int) -> tuple[str, ...]:
        """The keyword terms indexed for a chunk (its title, heading and text)."""
        return self.chunks.terms(row)

    def chunk_excerpt_vectors(self, chunk: Chunk) -> np.ndarray:
        """Vectors of the chunk's excerpt windows (the chunk's own vector when none were stored)."""
        row = self.row_of(chunk)
        start, stop = int(self.excerpt_starts[row]), int(self.excerpt_starts[row + 1])
        if stop - start != len(chunk.excerpts) or not len(self.excerpt_vectors):
            return np.repeat(self.vector_rows.range(row, row + 1), len(chunk.excerpts), axis=0)
        return self.excerpt_rows.range(start, stop)

    def search(self, query_vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest chunks by cosine: (row, cosine), best first; among `rows` when given."""
        found, scores = self.vector_search.search(query_vector, k, rows)
        return [(int(i), float(s)) for i, s in zip(found, scores)]

    def cosines(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of each of these chunks to the question."""
        return self.vector_search.cosines(query_vector, rows)

    def keyword_ranking(self, terms: Sequence[str], n: int, rows: np.ndarray | None = None,
                        with_bylines: bool = False) -> list[tuple[int, float]]:
        """The n best chunks by BM25 that hold a term: (row, score), best first; among `rows`
        when given; author blurbs only `with_bylines`."""
        return keyword_best(self.keyword.scores(terms), n, rows, None if with_bylines else self.byline_rows)

    def keyword_scores(self, terms: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        """The BM25 score of each of these chunks."""
        return self.keyword.scores_at(terms, np.asarray(rows, dtype=np.int64))

    def passages(self, rows: Sequence[int]) -> list[tuple[Chunk, tuple[str, ...]]]:
        """These chunks, each with the keyword terms it is found by."""
        return [(self.chunks[row], self.chunk_terms(row)) for row in rows]

    def excerpt_vectors_of(self, chunks: Sequence[Chunk]) -> list[np.ndarray]:
        """The vectors of each chunk's excerpt windows."""
        return [self.chunk_excerpt_vectors(chunk) for chunk in chunks]

    def stored_vectors(self, texts: Sequence[str]) -> dict[bytes, np.ndarray]:
        """Vectors this version holds for any of these exact texts (to reuse instead of encoding)."""
        keys = list(dict.fromkeys(embed_key(t) for t in texts))
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            for key, kind, row in self._db().execute(
                    f"SELECT key, kind, row FROM embedded WHERE key IN ({marks})", part):
                source = self.vectors if kind == CHUNK_VECTOR else self.excerpt_vectors
                found[bytes(key)] = np.asarray(source[row])
        return found

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        # The row files close when this store is collected: a question still running on it
        # (another thread) must never read a closed, perhaps reused, descriptor.


class DocumentTable(Mapping[str, StoredDocument]):
    """The documents of a version by id, each read (text included) when first asked for.

    `entry` finds a document's entry, `entries` lists them all, `read` reads a document whole:
    the backend's (the embedded index's SQLite, or Milvus).
    """

    def __init__(self, entry: Callable[[str], DocumentEntry | None], entries: Callable[[], Mapping[str, DocumentEntry]],
                 read: Callable[[DocumentEntry], StoredDocument], cached: int = 64) -> None:
        self._entry, self._entries, self._read = entry, entries, read
        self._cache: LRUCache[str, StoredDocument] = LRUCache(maxsize=cached)
        self._lock = threading.Lock()  # an LRUCache reorders itself on every read

    def __getitem__(self, doc_id: str) -> StoredDocument:
        with self._lock:
            stored = self._cache.get(doc_id)
        if stored is not None:
            return stored
        entry = self._entry(doc_id)
        if entry is None:
            raise KeyError(doc_id)
        stored = self._read(entry)
        with self._lock:
            self._cache[doc_id] = stored
        return stored

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        with self._lock:
            cached = doc_id in self._cache
        return cached or self._entry(doc_id) is not None


class ChunkTable(Sequence[Chunk]):
    """The chunks of a version in row order, each read from SQLite when asked for (recent ones cached)."""

    def __init__(self, store: IndexStore, cached: int = 4096) -> None:
        self._store = store
        self._cache: LRUCache[int, Chunk] = LRUCache(maxsize=cached)
        self._rows: LRUCache[str, int] = LRUCache(maxsize=cached)  # chunk id -> row, of chunks read lately
        self._lock = threading.Lock()  # an LRUCache reorders itself on every read

    def __len__(self) -> int:
        return self._store.size

    @overload
    def __getitem__(self, row: int) -> Chunk: ...

    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...

    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        with self._lock:
            chunk = self._cache.get(row)
        if chunk is not None:
            return chunk
        found = self._store._db().execute("SELECT data FROM chunks WHERE row = ?", (row,)).fetchone()
        if found is None:
            raise IndexError(row)
        chunk = chunk_from_json(json.loads(found[0]))
        with self._lock:
            self._cache[row] = chunk
            self._rows[chunk.chunk_id] = row
        return chunk

    def __iter__(self) -> Iterator[Chunk]:
        """Every chunk in row order, streamed (not cached)."""
        for (data,) in self._store._db().execute("SELECT data FROM chunks ORDER BY row"):
            yield chunk_from_json(json.loads(data))

    def of_document(self, entry: DocumentEntry) -> list[Chunk]:
        return [chunk_from_json(json.loads(data)) for (data,) in self._store._db().execute(
            "SELECT data FROM chunks WHERE row >= ? AND row < ? ORDER BY row", (entry.first_row, entry.end_row))]

    def row_of(self, chunk_id: str) -> int | None:
        with self._lock:
            row = self._rows.get(chunk_id)
        if row is not None:
            return row
        found = self._store._db().execute("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
        return None if found is None else int(found[0])

    def terms(self, row: int) -> tuple[str, ...]:
        found = self._store._db().execute("SELECT terms FROM chunks WHERE row = ?", (int(row),)).fetchone()
        return tuple(found[0].split()) if found and found[0] else ()


def keyword_best(scores: np.ndarray, n: int, rows: np.ndarray | None,
                 excluded: np.ndarray | None) -> list[tuple[int, float]]:
    """The n best rows by BM25 score that hold a term: (row, score), best first; among `rows` when
    given, never the `excluded` ones (author blurbs)."""
    allowed = scores > 0
    if rows is not None:
        in_scope = np.zeros(len(scores), dtype=bool)
        in_scope[rows] = True
        allowed &= in_scope
    if excluded is not None and len(excluded):
        allowed[excluded] = False
    return [(row, float(scores[row])) for row in best_rows(scores, allowed, n)]


def best_rows(scores: np.ndarray, allowed: np.ndarray, n: int) -> list[int]:
    """The n allowed rows with the highest scores, best first (ties: lower row first)."""
    candidates = np.flatnonzero(allowed)
    if not len(candidates):
        return []
    if len(candidates) > 4 * n:  # a million passages: take the best few before sorting
        values = scores[candidates]
        threshold = np.partition(values, len(values) - n)[len(values) - n]
        candidates = candidates[values >= threshold]
    top = candidates[np.argsort(-scores[candidates], kind="stable")[:n]]
    return [int(i) for i in top]


def map_vectors(path: Path, rows: int, dimension: int) -> np.ndarray:
    """A vector file, mapped (for exact search over all of it; scattered rows go through RowFile)."""
    if rows == 0 or not path.exists() or path.stat().st_size == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dimension))
