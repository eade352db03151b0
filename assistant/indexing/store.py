"""The index on disk: opened, not loaded. Written by a streaming VersionWriter, swapped in atomically.

Layout of the index folder:

    CURRENT          name of the version folder being served (replaced atomically)
    v-<time>-<id>/   one version:
        manifest.json       what was built, how, from what (written last: its presence means complete)
        store.sqlite        documents (text and structure), chunks, keyword terms, tables
        vectors.f32         one float32 row per chunk (memory-mapped)
        excerpts.f32        one row per candidate excerpt of each chunk, in chunk order
        excerpt_starts.npy  first excerpt row of each chunk (and the total, last)
        chunk_docs.npy      the document (its ordinal) of each chunk
        keyword_*.npy       BM25 postings (keyword.py)
        vectors.faiss       an approximate index, above a size (vectors.py)
    .tmp-<id>/       a build in progress (removed by the next build)
    .build.lock      held while a build runs

Opening a version reads the manifest and a small table of documents; chunks and document
texts are read from SQLite when a question needs them, vectors and postings are mapped, not
read. A build writes a whole new version folder, then swaps CURRENT with os.replace, so a
build that fails or is killed at any moment leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..errors import IndexError_, IndexMismatchError
from ..types import Block, Chunk, Document, DocumentMeta, FileFailure, PageSpan, Sentence
from .keyword import KeywordIndex, KeywordWriter
from .vectors import RowFile, VectorSearch, write_ann

FORMAT_VERSION = 2  # a whole version
OVERLAY_FORMAT = 3  # an overlay: the documents a build changed, layered over a base version (layered.py)
CURRENT_FILE = "CURRENT"
DATABASE = "store.sqlite"
VECTORS_FILE = "vectors.f32"
EXCERPTS_FILE = "excerpts.f32"
EXCERPT_STARTS_FILE = "excerpt_starts.npy"
CHUNK_DOCS_FILE = "chunk_docs.npy"
BYLINE = "byline"

_SCHEMA = """
CREATE TABLE documents (ordinal INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    kind TEXT NOT NULL, meta TEXT NOT NULL, content_hash TEXT NOT NULL, file_sha256 TEXT NOT NULL,
    meta_entry TEXT NOT NULL, first_row INTEGER NOT NULL DEFAULT 0, end_row INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL, blocks TEXT NOT NULL, pages TEXT NOT NULL);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, doc INTEGER NOT NULL,
    data TEXT NOT NULL, terms TEXT NOT NULL, role TEXT NOT NULL);
CREATE TABLE embedded (key BLOB PRIMARY KEY, kind INTEGER NOT NULL, row INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE tables (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE hidden (doc_id TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_INDEXES = "CREATE UNIQUE INDEX chunk_ids ON chunks (chunk_id); CREATE INDEX chunk_roles ON chunks (role);"
_CHUNK_VECTOR, _EXCERPT_VECTOR = 0, 1


@dataclass(frozen=True)
class IndexIdentity:
    """The settings that change what is stored; an index built with others is refused."""

    model: str
    dimension: int
    chunking_version: int
    max_chunk_tokens: int

    def describe(self) -> str:
        return (f"model {self.model} ({self.dimension} dims), chunking v{self.chunking_version}, "
                f"max {self.max_chunk_tokens} tokens")


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index keeps it, with what is needed to skip re-parsing it."""

    document: Document
    file_sha256: str
    meta_entry: dict[str, str]


@dataclass(frozen=True)
class DocumentEntry:
    """A document's row without its text: enough to list it, scope a search or skip re-parsing it."""

    ordinal: int
    doc_id: str
    path: str
    kind: str
    meta: DocumentMeta
    content_hash: str
    file_sha256: str
    meta_entry: dict[str, str]
    first_row: int  # its chunks are rows [first_row, end_row)
    end_row: int


ENTRY_COLUMNS = ("ordinal", "doc_id", "path", "kind", "meta", "content_hash", "file_sha256", "meta_entry",
                 "first_row", "end_row")
"""A document's columns without its text, in DocumentEntry's order (meta and meta_entry as JSON)."""


def entry_from_row(row: Sequence[Any]) -> DocumentEntry:
    """A DocumentEntry from its columns, ENTRY_COLUMNS in order."""
    ordinal, doc_id, path, kind, meta, content_hash, file_sha256, meta_entry, first_row, end_row = row
    return DocumentEntry(int(ordinal), doc_id, path, kind, DocumentMeta(**json.loads(meta)), content_hash,
                         file_sha256, json.loads(meta_entry), int(first_row), int(end_row))


def stored_document(entry: DocumentEntry, text: str, blocks: str, pages: str) -> StoredDocument:
    """A document from its entry, its text, and its blocks and pages as stored (JSON)."""
    document = Document(doc_id=entry.doc_id, path=entry.path, meta=entry.meta, text=text,
                        content_hash=entry.content_hash, blocks=tuple(Block(*b) for b in json.loads(blocks)),
                        pages=tuple(PageSpan(*p) for p in json.loads(pages)), kind=entry.kind)
    return StoredDocument(document, entry.file_sha256, entry.meta_entry)


@dataclass(frozen=True)
class Overlay:
    """What an overlay version is layered on: the base version, and the base's documents it hides
    (changed, removed, or held by the overlay now). Its BM25 weights use the base's average length."""

    base: str  # the base version's folder name
    hidden: tuple[str, ...]
    average_length: float  # the base's average passage length in terms
    live_rows: int  # the base's passages not hidden, and their total length in terms
    live_length: float
    stale_terms: bool = False  # the base's passages kept terms made before new acronyms were defined


def embed_key(text: str) -> bytes:
    """What identifies an embedded text: a vector is reused wherever the exact text recurs."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


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
        self.vectors = _map(path / VECTORS_FILE, self.size, dimension)
        self.excerpt_vectors = _map(path / EXCERPTS_FILE, int(counts.get("excerpts", 0)), dimension)
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
                source = self.vectors if kind == _CHUNK_VECTOR else self.excerpt_vectors
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
        self._cache: OrderedDict[str, StoredDocument] = OrderedDict()
        self._cached = cached
        self._lock = threading.Lock()

    def __getitem__(self, doc_id: str) -> StoredDocument:
        with self._lock:
            if doc_id in self._cache:
                self._cache.move_to_end(doc_id)
                return self._cache[doc_id]
        entry = self._entry(doc_id)
        if entry is None:
            raise KeyError(doc_id)
        stored = self._read(entry)
        with self._lock:
            self._cache[doc_id] = stored
            while len(self._cache) > self._cached:
                self._cache.popitem(last=False)
        return stored

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and (doc_id in self._cache or self._entry(doc_id) is not None)


class ChunkTable(Sequence[Chunk]):
    """The chunks of a version in row order, each read from SQLite when asked for (recent ones cached)."""

    def __init__(self, store: IndexStore, cached: int = 4096) -> None:
        self._store = store
        self._cache: OrderedDict[int, Chunk] = OrderedDict()
        self._rows: dict[str, int] = {}
        self._cached = cached
        self._lock = threading.Lock()

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
                self._cache.move_to_end(row)
                return chunk
        found = self._store._db().execute("SELECT data FROM chunks WHERE row = ?", (row,)).fetchone()
        if found is None:
            raise IndexError(row)
        return self._remember(row, chunk_from_json(json.loads(found[0])))

    def _remember(self, row: int, chunk: Chunk) -> Chunk:
        with self._lock:
            self._cache[row] = chunk
            self._rows[chunk.chunk_id] = row
            while len(self._cache) > self._cached:
                _, old = self._cache.popitem(last=False)
                self._rows.pop(old.chunk_id, None)
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


def _map(path: Path, rows: int, dimension: int) -> np.ndarray:
    """A vector file, mapped (for exact search over all of it; scattered rows go through RowFile)."""
    if rows == 0 or not path.exists() or path.stat().st_size == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dimension))


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = index_dir / name
    return path if name and path.is_dir() else None


def load(index_dir: Path, expected: IndexIdentity | None = None, exact: bool = False,
         probe: int = 0) -> IndexStore:
    """Open the version CURRENT names (a whole version; layered.load opens overlays too); refuse
    one built with other settings.

    `exact` searches every vector even where the build wrote an approximate index; `probe`
    overrides how many of its lists a query reads.
    """
    version = current_version(index_dir)
    if version is None:
        raise IndexError_(f"{index_dir}: no index built yet; run `assistant index`")
    return open_version(version, expected, exact, probe)


def read_manifest(version: Path, expected: IndexIdentity | None = None,
                  formats: tuple[int, ...] = (FORMAT_VERSION,)) -> dict[str, Any]:
    """A version's manifest; IndexMismatchError when its format or identity is not the one wanted."""
    try:
        manifest: dict[str, Any] = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        found = IndexIdentity(**manifest["identity"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexError_(f"{version}: index files are unreadable ({exc}); "
                          "run `assistant index --full`") from exc
    if manifest.get("format") not in formats:
        raise IndexMismatchError(f"{version}: index format {manifest.get('format')} is not "
                                 f"{' or '.join(map(str, formats))}; run `assistant index --full`")
    if expected is not None and found != expected:
        raise IndexMismatchError(
            f"{version.parent}: the index was built with {found.describe()}, but the settings ask "
            f"for {expected.describe()}; run `assistant index --full` to rebuild it")
    return manifest


def open_version(version: Path, expected: IndexIdentity | None = None, exact: bool = False, probe: int = 0,
                 manifest: dict[str, Any] | None = None) -> IndexStore:
    """Open one version folder's own files (an overlay's without its base)."""
    manifest = read_manifest(version, expected) if manifest is None else manifest
    try:
        store = IndexStore(version, manifest, exact=exact, probe=probe)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, sqlite3.Error) as exc:
        raise IndexError_(f"{version}: index files are unreadable ({exc}); "
                          "run `assistant index --full`") from exc
    if len(store.excerpt_starts) != store.size + 1 or len(store.chunk_docs) != store.size:
        raise IndexError_(f"{version}: the chunk tables do not match the manifest; run `assistant index --full`")
    return store


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder (a second one fails at once)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexError_(f"{index_dir}: another build is running; wait for it to finish") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _CopyRun:
    """Unchanged documents next to each other in both versions, waiting to be copied at once."""

    old: IndexStore
    first: int  # chunk rows [first, end) of the served version
    end: int
    ordinal: int  # the first document's ordinal in the new version
    old_ordinal: int  # and in the served one
    documents: list[tuple[int, int, int]]  # (new ordinal, first row, end row) of each


class VersionWriter:
    """Writes a new version as a build goes: documents first, then each document's chunks and
    vectors in order; commit() finishes it and swaps it in. Hold build_lock; use as a context
    manager (an exception abandons the folder, and the served version stays)."""

    def __init__(self, index_dir: Path, dimension: int) -> None:
        _remove_abandoned_builds(index_dir)
        self.index_dir = index_dir
        self.dimension = dimension
        self.folder = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True)
        self.db = sqlite3.connect(f"file:{self.folder / DATABASE}", uri=True)
        self.db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA +
                              "CREATE TEMP TABLE runs (kind INTEGER, start INTEGER, stop INTEGER, shift INTEGER);")
        self._attached: Path | None = None
        self._runs: list[list[int]] = []  # [kind, old start, old stop, shift] of rows copied from the served version
        self._vectors = open(self.folder / VECTORS_FILE, "wb")  # noqa: SIM115 - closed by commit/abandon
        self._excerpts = open(self.folder / EXCERPTS_FILE, "wb")  # noqa: SIM115
        self._keyword = KeywordWriter(self.folder)
        self._excerpt_starts = array("q", [0])  # compact: a million passages, four million excerpts
        self._chunk_docs = array("i")
        self._ordinals: dict[str, int] = {}
        self._rows = 0
        self._pending: _CopyRun | None = None
        self.excerpts = 0

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is not None:
            self.abandon()

    def add_document(self, stored: StoredDocument) -> None:
        """A document's text, structure and metadata (its chunks come later, in document order)."""
        doc = stored.document
        ordinal = len(self._ordinals)
        self._ordinals[doc.doc_id] = ordinal
        self.db.execute(
            "INSERT INTO documents (ordinal, doc_id, path, kind, meta, content_hash, file_sha256, meta_entry, "
            "text, blocks, pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ordinal, doc.doc_id, doc.path, doc.kind, json.dumps(asdict(doc.meta), ensure_ascii=False),
             doc.content_hash, stored.file_sha256, json.dumps(stored.meta_entry, ensure_ascii=False), doc.text,
             json.dumps([[b.start, b.end, b.role, b.page] for b in doc.blocks]),
             json.dumps(pages_to_json(doc.pages))))

    def copy_document(self, old: IndexStore, entry: DocumentEntry) -> None:
        """An unchanged document of the served version, copied as it is stored (nothing decoded)."""
        self._attach(old)
        ordinal = len(self._ordinals)
        self._ordinals[entry.doc_id] = ordinal
        self.db.execute(
            "INSERT INTO documents (ordinal, doc_id, path, kind, meta, content_hash, file_sha256, meta_entry, "
            "text, blocks, pages) SELECT ?, doc_id, path, kind, meta, content_hash, file_sha256, meta_entry, "
            "text, blocks, pages FROM old.documents WHERE ordinal = ?", (ordinal, entry.ordinal))

    @property
    def rows(self) -> int:
        """Chunk rows written so far, copies still pending included."""
        pending = self._pending
        return self._rows + (pending.end - pending.first if pending else 0)

    def copy_chunks(self, old: IndexStore, entry: DocumentEntry) -> None:
        """An unchanged document's chunks, keyword terms, vectors and excerpt vectors, copied row for row
        from the served version (its terms are read back for the keyword index, nothing else is decoded).

        Consecutive unchanged documents (next to each other in both versions) are copied as one run,
        with one query and one read per file: an edit in a large index copies a few long runs.
        """
        self._attach(old)
        ordinal = self._ordinals[entry.doc_id]
        pending = self._pending
        if pending and pending.end == entry.first_row and pending.ordinal + len(pending.documents) == ordinal \
                and pending.old_ordinal + len(pending.documents) == entry.ordinal:
            pending.end = entry.end_row
            pending.documents.append((ordinal, entry.first_row, entry.end_row))
            return
        self._flush_copies()
        self._pending = _CopyRun(old, entry.first_row, entry.end_row, ordinal, entry.ordinal,
                                 [(ordinal, entry.first_row, entry.end_row)])

    def _flush_copies(self) -> None:
        """Copy the pending run of unchanged documents' rows."""
        run, self._pending = self._pending, None
        if run is None:
            return
        old, first, end = run.old, run.first, run.end
        shift = self._rows - first
        self.db.execute("INSERT INTO chunks SELECT row + ?, chunk_id, doc + ?, data, terms, role FROM old.chunks "
                        "WHERE row >= ? AND row < ?", (shift, run.ordinal - run.old_ordinal, first, end))
        if self._keyword.can_copy(old.path):  # postings copied in one pass when the index is finished
            self._keyword.copy(old.path, first, end)
        else:  # a version written before term frequencies were kept: its terms are read back
            for (terms,) in self.db.execute("SELECT terms FROM old.chunks WHERE row >= ? AND row < ? ORDER BY row",
                                            (first, end)):
                self._keyword.add(terms.split())
        excerpt_first, excerpt_end = int(old.excerpt_starts[first]), int(old.excerpt_starts[end])
        _copy_rows(old.vector_rows, self._vectors, first, end)
        _copy_rows(old.excerpt_rows, self._excerpts, excerpt_first, excerpt_end)
        excerpt_shift = self.excerpts - excerpt_first
        self._excerpt_starts.extend((np.asarray(old.excerpt_starts[first + 1:end + 1]) + excerpt_shift).tolist())
        for ordinal, doc_first, doc_end in run.documents:
            self._chunk_docs.extend([ordinal] * (doc_end - doc_first))
        self._add_run(_CHUNK_VECTOR, first, end, shift)
        self._add_run(_EXCERPT_VECTOR, excerpt_first, excerpt_end, excerpt_shift)
        self._rows += end - first
        self.excerpts += excerpt_end - excerpt_first
        self.db.executemany("UPDATE documents SET first_row = ?, end_row = ? WHERE ordinal = ?",
                            ((start + shift, stop + shift, ordinal) for ordinal, start, stop in run.documents))


    def _add_run(self, kind: int, start: int, stop: int, shift: int) -> None:
        last = next((r for r in reversed(self._runs) if r[0] == kind), None)
        if last is not None and last[2] == start and last[3] == shift:
            last[2] = stop
        elif stop > start:
            self._runs.append([kind, start, stop, shift])

    def _attach(self, old: IndexStore) -> None:
        if self._attached == old.path:
            return
        if self._attached is not None:
            raise ValueError("rows are copied from one served version per build")
        self.db.execute("ATTACH DATABASE ? AS old", (f"file:{old.path / DATABASE}?mode=ro&immutable=1",))
        self._attached = old.path

    def _copy_vector_keys(self) -> None:
        """The keys of the copied vectors, so that a later build still finds them to reuse."""
        if self._attached is None or not self._runs:
            return
        self.db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?)", self._runs)
        self.db.execute("INSERT OR IGNORE INTO embedded SELECT e.key, e.kind, e.row + r.shift FROM old.embedded e "
                        "JOIN runs r ON e.kind = r.kind AND e.row >= r.start AND e.row < r.stop")

    def document(self, doc_id: str) -> Document:
        """A document added to this version, read back."""
        row = self.db.execute("SELECT doc_id, path, kind, meta, content_hash, text, blocks, pages FROM documents "
                              "WHERE ordinal = ?", (self._ordinals[doc_id],)).fetchone()
        doc_id, path, kind, meta, content_hash, text, blocks, pages = row
        return Document(doc_id=doc_id, path=path, meta=DocumentMeta(**json.loads(meta)), text=text,
                        content_hash=content_hash, blocks=tuple(Block(*b) for b in json.loads(blocks)),
                        pages=tuple(PageSpan(*p) for p in json.loads(pages)), kind=kind)

    def add_chunks(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray,
                   excerpt_vectors: np.ndarray | None, terms: Sequence[Sequence[str]]) -> None:
        """One document's chunks, all at once: their vectors, excerpt vectors (rows of all the
        chunks' excerpts in order, or None) and keyword terms."""
        self._flush_copies()  # rows stay in order
        ordinal = self._ordinals[doc_id]
        first = self._rows
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), self.dimension)
        vectors.tofile(self._vectors)
        excerpt_count = sum(len(c.excerpts) for c in chunks)
        with_excerpts = excerpt_vectors is not None and len(excerpt_vectors) == excerpt_count
        if with_excerpts:
            assert excerpt_vectors is not None
            np.ascontiguousarray(excerpt_vectors, dtype=np.float32).tofile(self._excerpts)
        rows = []
        keys = []
        for i, (chunk, chunk_terms) in enumerate(zip(chunks, terms)):
            row = first + i
            self._keyword.add(chunk_terms)
            rows.append((row, chunk.chunk_id, ordinal, json.dumps(_chunk_to_json(chunk), ensure_ascii=False),
                         " ".join(chunk_terms), chunk.role))
            keys.append((embed_key(chunk.embed_text), _CHUNK_VECTOR, row))
            count = len(chunk.excerpts) if with_excerpts else 0
            keys.extend((embed_key(t), _EXCERPT_VECTOR, self.excerpts + j)
                        for j, t in enumerate(chunk.excerpt_texts[:count]))
            self.excerpts += count
            self._excerpt_starts.append(self.excerpts)
            self._chunk_docs.append(ordinal)
        self.db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR IGNORE INTO embedded VALUES (?, ?, ?)", keys)
        self._rows += len(chunks)
        self.db.execute("UPDATE documents SET first_row = ?, end_row = ? WHERE ordinal = ?",
                        (first, self._rows, ordinal))

    def commit(self, manifest: dict[str, Any], tables: Mapping[str, Any],
               vector_index: dict[str, Any], overlay: Overlay | None = None) -> Path:
        """Finish the files, write the manifest last, and make this the served version (an
        approximate index reuses the served version's trained centroids when it has the same shape).
        With `overlay` this version holds only the documents written to it, layered over its base."""
        self._flush_copies()
        self._close_files()
        manifest = {**manifest, "format": FORMAT_VERSION, "vector_index": vector_index,
                    "counts": {**manifest.get("counts", {}), "chunks": self.rows, "excerpts": self.excerpts}}
        self._copy_vector_keys()
        manifest["keyword"] = self._keyword.finish(self.db, overlay.average_length if overlay else None)
        if overlay is not None:
            manifest["format"] = OVERLAY_FORMAT
            manifest["overlay"] = self._overlay_record(overlay, manifest["keyword"])
        self.db.executemany("INSERT INTO tables VALUES (?, ?)",
                            ((name, json.dumps(value, ensure_ascii=False)) for name, value in tables.items()))
        self.db.executescript(_INDEXES)
        self.db.commit()
        self.db.close()
        np.save(self.folder / EXCERPT_STARTS_FILE, np.array(self._excerpt_starts, dtype=np.int64))
        np.save(self.folder / CHUNK_DOCS_FILE, np.array(self._chunk_docs, dtype=np.int32))
        write_ann(self.folder / VECTORS_FILE, self.rows, self.dimension, vector_index, self.folder,
                  trained=self._attached)
        for path in self.folder.iterdir():
            _fsync_file(path)
        _write(self.folder / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        version = self.index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        os.rename(self.folder, version)
        pointer_tmp = self.index_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex[:6]}"
        _write(pointer_tmp, version.name + "\n")
        os.replace(pointer_tmp, self.index_dir / CURRENT_FILE)
        _fsync_dir(self.index_dir)
        _remove_old_versions(self.index_dir, keep={version.name})
        return version

    def _overlay_record(self, overlay: Overlay, keyword: dict[str, float]) -> dict[str, Any]:
        """The hidden documents (a table) and, for the manifest, the base and how far the average
        passage length of what is served has moved from the base's, by which its weights were made."""
        self.db.executemany("INSERT INTO hidden VALUES (?)", ((doc_id,) for doc_id in overlay.hidden))
        rows = overlay.live_rows + self.rows
        served = (overlay.live_length + keyword["average_length"] * self.rows) / max(rows, 1)
        drift = abs(served - overlay.average_length) / max(overlay.average_length, 1e-9)
        return {"base": overlay.base, "hidden_documents": len(overlay.hidden), "live_base_passages": overlay.live_rows,
                "average_length_drift": round(drift, 6), **({"stale_terms": True} if overlay.stale_terms else {})}

    def _close_files(self) -> None:
        for handle in (self._vectors, self._excerpts):
            handle.close()

    def abandon(self) -> None:
        self._close_files()
        self._keyword.abandon()
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy_rows(source: RowFile, out: Any, first: int, end: int, block: int = 1 << 15) -> None:
    """Rows [first, end) of one of the served version's vector files, appended to `out`: read
    (not mapped: copied pages do not stay in this process) `block` rows at a time."""
    for start in range(first, end, block):
        out.write(source.range(start, min(end, start + block)))


def _remove_abandoned_builds(index_dir: Path) -> None:
    for path in index_dir.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT_FILE}.*"):
        path.unlink(missing_ok=True)


def _remove_old_versions(index_dir: Path, keep: set[str], keep_previous: int = 1) -> None:
    """Keep the new version and the one before it (a reader may still be using it), and the base
    versions either is layered over."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=_finished)
    older = [p for p in versions if p.name not in keep]
    kept = {p.name for p in versions} - {p.name for p in older[: max(0, len(older) - keep_previous)]}
    kept |= {base for name in kept if (base := base_of(index_dir / name))}
    for path in versions:
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)


def _finished(version: Path) -> tuple[float, str]:
    """When a version was finished (its manifest is written last): names alone do not order two
    builds made within the same second."""
    try:
        return (version / "manifest.json").stat().st_mtime, version.name
    except OSError:
        return 0.0, version.name


def base_of(version: Path) -> str | None:
    """The version an overlay version is layered over (None: a whole version, or unreadable)."""
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    overlay = manifest.get("overlay")
    return str(overlay["base"]) if isinstance(overlay, dict) and overlay.get("base") else None


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


def document_to_json(doc: Document) -> dict[str, Any]:
    """A document with its text and structure, as archive.py keeps it."""
    return {
        "doc_id": doc.doc_id, "path": doc.path, "kind": doc.kind, "meta": asdict(doc.meta),
        "content_hash": doc.content_hash,
        "pages": pages_to_json(doc.pages),
        "blocks": [[b.start, b.end, b.role, b.page] for b in doc.blocks],
        "text": doc.text,
    }


def pages_to_json(pages: Sequence[PageSpan]) -> list[list[Any]]:
    """[number, start, end], and true at the end of a page read by OCR."""
    return [[p.number, p.start, p.end, *([True] if p.ocr else [])] for p in pages]


def document_from_json(item: dict[str, Any]) -> Document:
    return Document(
        doc_id=item["doc_id"], path=item["path"], meta=DocumentMeta(**item["meta"]),
        text=item["text"], content_hash=item["content_hash"],
        blocks=tuple(Block(*b) for b in item["blocks"]),
        pages=tuple(PageSpan(*p) for p in item["pages"]), kind=item["kind"],
    )


def _chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    data = asdict(chunk)
    data["sentences"] = [[s.start, s.end, s.paragraph, s.page] for s in chunk.sentences]
    return data


def chunk_from_json(data: dict[str, Any]) -> Chunk:
    data = dict(data)
    data["sentences"] = tuple(Sentence(*s) for s in data["sentences"])
    data["excerpts"] = tuple((int(a), int(b)) for a, b in data.get("excerpts", ()))
    data["excerpt_texts"] = tuple(data.get("excerpt_texts", ()))
    return Chunk(**data)


def failures_to_json(failures: list[FileFailure]) -> list[dict[str, str]]:
    return [{"path": f.path, "reason": f.reason} for f in failures]
