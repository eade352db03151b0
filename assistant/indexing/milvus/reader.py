"""A published version, read from Milvus: the PassageStore answering uses, over the network."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from cachetools import LRUCache

from ...errors import IndexError_, IndexMismatchError
from ...types import Chunk, Document
from ..keyword import idf
from ..store import (
    BYLINE,
    ENTRY_COLUMNS,
    DocumentEntry,
    DocumentTable,
    IndexIdentity,
    StoredDocument,
    chunk_from_json,
    entry_from_row,
    stored_document,
)
from .layout import LIMIT, Numbering, VersionCollections, decode_windows, document_blob, query_all, read_blob
from .location import MilvusLocation, connect
from .publish import served_collection

CARRY_UP_TO = 64  # searches this deep bring back the other vector of their hits
PASSAGES_KEPT = 4096  # passages read lately, kept in memory
TERMS_KEPT = 200_000  # terms looked up lately, kept in memory
_CONSISTENCY = "Bounded"  # a version is written once, then only read: no need to wait for the newest writes


def served_version(location: MilvusLocation) -> str | None:
    """The passages collection the alias points at now (None: nothing published yet)."""
    client = connect(location)
    try:
        return served_collection(client, location.collection)
    finally:
        client.close()


def open_milvus(location: MilvusLocation, expected: IndexIdentity | None = None) -> MilvusStore:
    """The version `location`'s alias points at; refused when built with other settings."""

    client = connect(location)
    rebuild = f"run `assistant index --store {location}`"
    served = served_collection(client, location.collection)
    if served is None:
        client.close()
        raise IndexError_(f"{location}: no index published there yet; {rebuild}")
    try:
        store = MilvusStore(client, location, VersionCollections(served))
    except IndexError_ as exc:
        client.close()
        raise IndexError_(f"{location}: the collections of {served} are unreadable "
                          f"({exc.__cause__ or exc!s}); {rebuild} --full") from exc
    if store.numbering is None:
        store.close()
        raise IndexError_(f"{location}: {served} was published by an older version of the assistant; "
                          f"{rebuild} --full")
    if expected is not None and store.identity != expected:
        raise IndexMismatchError(
            f"{location}: the index was built with {store.identity.describe()}, but the settings ask "
            f"for {expected.describe()}; {rebuild} --full")
    return store


class _Reporting:
    """A client whose failed calls raise one line naming the server (IndexError_, which the chat
    and the command line show as they show any other), not pymilvus' exception."""

    def __init__(self, client: Any, location: MilvusLocation) -> None:
        self._client = client
        self._location = location

    def __getattr__(self, name: str) -> Any:
        from pymilvus.exceptions import MilvusException

        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except MilvusException as exc:
                raise IndexError_(f"{self._location}: the Milvus server failed ({exc.message}); check that it "
                                  "is running and ask again") from exc

        return call


class MilvusStore:
    """One published version. Safe to share between threads (pymilvus clients are)."""

    def __init__(self, client: Any, location: MilvusLocation, names: VersionCollections) -> None:
        self.client = _Reporting(client, location)
        self.location = location
        self.names = names
        self.version = names.passages
        self.numbering = Numbering.read(self.client, names)  # None: written in an older format
        self.manifest: dict[str, Any] = json.loads(self._blob("manifest") or "{}")
        self.size = int(self.manifest.get("counts", {}).get("chunks", 0))
        self.acronyms: dict[str, str] = json.loads(self._blob("acronyms"))
        self.corpus_words: list[str] = json.loads(self._blob("corpus_words"))
        self.keyword = MilvusTerms(self)
        self.documents = DocumentTable(self.entry, lambda: self.entries, self._read_document)
        self.byline_rows = np.array(sorted(r["row"] for r in query_all(
            self.client, names.passages, f'role == "{BYLINE}"', ["row"])), dtype=np.int64)
        # chunk id -> row, of passages read lately
        self._rows: LRUCache[str, int] = LRUCache(maxsize=PASSAGES_KEPT)
        # (row, field) -> a search hit holding it
        self._fields: LRUCache[tuple[int, str], Any] = LRUCache(maxsize=2 * PASSAGES_KEPT)
        # row -> (chunk, its terms, its excerpt vectors or None), of passages read lately
        self._passages: LRUCache[int, tuple[Chunk, tuple[str, ...], np.ndarray | None]] = LRUCache(
            maxsize=PASSAGES_KEPT)
        self._lock = threading.Lock()  # guards the three caches: an LRUCache reorders itself on every read

    @property
    def identity(self) -> IndexIdentity:
        return IndexIdentity(**self.manifest["identity"])

    # -- documents ---------------------------------------------------------------------------

    @functools.cached_property
    def entries(self) -> dict[str, DocumentEntry]:
        """Every document's entry, by id (read when first listed: a question needs none)."""
        found = [_entry(r["entry"]) for r in query_all(self.client, self.names.docs, "ordinal >= 0", ["entry"])]
        return {e.doc_id: e for e in sorted(found, key=lambda e: e.ordinal)}

    def entry(self, doc_id: str) -> DocumentEntry | None:
        found = self.client.query(self.names.docs, filter=f"doc_id == {json.dumps(doc_id)}",
                                  output_fields=["entry"], limit=1)
        return _entry(found[0]["entry"]) if found else None

    def document(self, doc_id: str) -> Document:
        return self.documents[doc_id].document

    def _read_document(self, entry: DocumentEntry) -> StoredDocument:
        text, blocks, pages = json.loads(self._blob(document_blob(entry.doc_id)))
        return stored_document(entry, text, blocks, pages)

    def rows_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        spans = [np.arange(e.first_row, e.end_row) for d in doc_ids if (e := self.entry(d))]
        return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)

    # -- search ------------------------------------------------------------------------------

    def search(self, query_vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        if rows is not None and not len(rows):
            return []
        # Their BM25 weights come along: the keyword scores of hits found by dense search alone.
        found = self._search("dense", np.asarray(query_vector, dtype=np.float32).tolist(), k, _within(rows), "sparse")
        return [(int(h["row"]), float(h["distance"])) for h in found]

    def cosines(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        vectors = self._get(rows, "dense")
        return np.array([vectors[int(r)] for r in rows], dtype=np.float32) @ np.asarray(query_vector, np.float32)

    def keyword_ranking(self, terms: Sequence[str], n: int, rows: np.ndarray | None = None,
                        with_bylines: bool = False) -> list[tuple[int, float]]:
        query = self.keyword.sparse_query(terms)
        if not query or (rows is not None and not len(rows)):
            return []
        where = " and ".join(f"({part})" for part in (_within(rows), "" if with_bylines else f'role != "{BYLINE}"')
                             if part)
        found = self._search("sparse", query, n, where, "dense")  # their vectors come along: their cosines
        ranked = [(int(h["row"]), float(h["distance"])) for h in found if h["distance"] > 0]
        return sorted(ranked, key=lambda item: (-item[1], item[0]))  # ties as the embedded index breaks them

    def keyword_scores(self, terms: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        query = self.keyword.sparse_query(terms)
        if not query or not len(rows):
            return np.zeros(len(rows), dtype=np.float32)
        sparse = self._get(rows, "sparse")
        return np.array([sum(w * sparse[int(r)].get(d, 0.0) for d, w in query.items()) for r in rows],
                        dtype=np.float32)

    # -- passages ----------------------------------------------------------------------------

    def passages(self, rows: Sequence[int]) -> list[tuple[Chunk, tuple[str, ...]]]:
        """These passages, read lately ones from memory (as the embedded index's ChunkTable keeps
        4096), the others in one request that also brings their excerpt vectors."""
        rows = [int(r) for r in rows]
        with self._lock:
            known = {r: self._passages[r] for r in rows if r in self._passages}
        missing = [r for r in rows if r not in known]
        if missing:
            dimension = self.identity.dimension
            for record in self.client.get(self.names.passages, ids=missing,
                                          output_fields=["data", "terms", "windows"]):
                chunk = chunk_from_json(json.loads(record["data"]))
                windows = decode_windows(record["windows"], len(chunk.excerpts), dimension)
                known[int(record["row"])] = (chunk, tuple(record["terms"].split()), windows)
        with self._lock:
            for row in rows:
                self._passages[row] = known[row]
                self._rows[known[row][0].chunk_id] = row
        return [(known[r][0], known[r][1]) for r in rows]

    def excerpt_vectors_of(self, chunks: Sequence[Chunk]) -> list[np.ndarray]:
        rows = [self._row_of(c) for c in chunks]
        with self._lock:
            carried = {row: windows for row in rows if row in self._passages
                       and (windows := self._passages[row][2]) is not None}
        if len(carried) == len(set(rows)):  # read with the passages: no request
            return [carried[row] for row in rows]
        found: dict[int, list[tuple[int, list[float]]]] = {}
        if rows:
            for r in self.client.query(self.names.excerpts, filter=f"chunk_row in {sorted(set(rows))}",
                                       output_fields=["excerpt", "chunk_row", "vector"], limit=LIMIT,
                                       consistency_level=_CONSISTENCY):
                found.setdefault(int(r["chunk_row"]), []).append((int(r["excerpt"]), r["vector"]))
        out = []
        for chunk, row in zip(chunks, rows):
            stored = [vector for _, vector in sorted(found.get(row, []))]
            if len(stored) != len(chunk.excerpts):  # none stored: the passage's own vector for each window
                stored = [self._get([row], "dense")[row]] * len(chunk.excerpts)
            out.append(np.array(stored, dtype=np.float32).reshape(len(chunk.excerpts), -1))
        return out

    def _row_of(self, chunk: Chunk) -> int:
        with self._lock:
            row = self._rows.get(chunk.chunk_id)
        if row is not None:
            return row
        found = self.client.query(self.names.passages, filter=f"chunk_id == {json.dumps(chunk.chunk_id)}",
                                  output_fields=["row"], limit=1)
        if not found:
            raise KeyError(chunk.chunk_id)
        return int(found[0]["row"])

    # -- reading -----------------------------------------------------------------------------

    def _get(self, rows: Iterable[int], field: str) -> dict[int, Any]:
        """A field of these passages: those a search returned lately from memory, the others asked for."""
        rows = [int(r) for r in rows]
        with self._lock:
            hits = {r: hit for r in rows if (hit := self._fields.get((r, field))) is not None}
        known = {r: hit["entity"][field] for r, hit in hits.items()}  # decoded now, for these rows only
        missing = [r for r in rows if r not in known]
        if missing:
            known.update((int(r["row"]), r[field]) for r in self.client.get(
                self.names.passages, ids=missing, output_fields=[field]))
        return known

    def _search(self, field: str, query: Any, limit: int, where: str, carry: str) -> list[Any]:
        """The hits of one search on `field` (best first). A chat-sized one brings `carry` along with
        its hits (kept for _get, decoded only when asked for): the few a question then needs cost
        less carried along than asked for; for a deep one (evaluation) they would cost more."""
        carried = limit <= CARRY_UP_TO
        found = self.client.search(self.names.passages, data=[query], anns_field=field, limit=min(limit, LIMIT),
                                   filter=where, search_params={"metric_type": "IP"},
                                   output_fields=[carry] if carried else [], consistency_level=_CONSISTENCY)
        hits = list(found[0])
        if carried:
            with self._lock:
                for hit in hits:
                    self._fields[(int(hit["row"]), carry)] = hit
        return hits

    def _blob(self, name: str) -> str:
        return read_blob(self.client, self.names, name)

    def close(self) -> None:
        self.client.close()


class MilvusTerms:
    """The vocabulary, looked up per question (a term's document frequency and sparse dimension)."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store
        # term -> (dimension, document frequency), None for a term the index does not hold
        self._known: LRUCache[str, tuple[int, int] | None] = LRUCache(maxsize=TERMS_KEPT)
        self._lock = threading.Lock()  # an LRUCache reorders itself on every read

    def _lookup(self, terms: Iterable[str]) -> dict[str, tuple[int, int]]:
        terms = set(terms)
        with self._lock:
            wanted = [t for t in terms if t not in self._known]
        if wanted:
            found: dict[str, tuple[int, int] | None] = dict.fromkeys(wanted)
            for r in self._store.client.query(self._store.names.terms, filter=f"term in {json.dumps(wanted)}",
                                              output_fields=["term", "dimension", "df"], limit=LIMIT):
                found[r["term"]] = (int(r["dimension"]), int(r["df"]))
            with self._lock:
                self._known.update(found)
        with self._lock:
            return {t: k for t in terms if (k := self._known.get(t)) is not None}

    def knows(self, term: str) -> bool:
        return term in self._lookup([term])

    def term_idf(self, term: str) -> float:
        found = self._lookup([term]).get(term)
        return idf(self._store.size, found[1] if found else 0)

    def sparse_query(self, terms: Sequence[str]) -> dict[int, float]:
        """The question as a sparse vector: each known term's idf at its dimension (BM25 = inner product)."""
        return {dimension: idf(self._store.size, df) for dimension, df in self._lookup(terms).values()}


def _entry(value: str) -> DocumentEntry:
    columns = json.loads(value)
    return entry_from_row([columns[c] for c in ENTRY_COLUMNS])


def _within(rows: np.ndarray | None) -> str:
    """A filter keeping these rows, as ranges of consecutive rows (a document's are consecutive)."""
    if rows is None:
        return ""
    ordered = np.unique(np.asarray(rows, dtype=np.int64))
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    spans = [(int(part[0]), int(part[-1]) + 1) for part in np.split(ordered, breaks)]
    return " or ".join(f"(row >= {a} and row < {b})" for a, b in spans)
