"""The staged (embedded) version read one document at a time: the Milvus rows each document
becomes, and a digest of them, so that a publish rewrites only the documents that changed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import IndexError_
from ..keyword import average_length, length_norms, passage_lengths, posting_weights
from ..store import ENTRY_COLUMNS, IndexStore
from .layout import NO_TERMS, TEXT_MAX, encode_windows, excerpt_key, passage_row

TERMS_ASKED = 1000  # terms looked up per request


@dataclass(frozen=True)
class StagedDocument:
    """One document of the staged version: its entry's columns (rows numbered as the staged version
    numbers them) and a digest of everything Milvus holds of it."""

    entry: dict[str, Any]
    digest: str

    @property
    def doc_id(self) -> str:
        return str(self.entry["doc_id"])

    @property
    def rows(self) -> range:
        return range(int(self.entry["first_row"]), int(self.entry["end_row"]))

    def published_entry(self, key: int) -> str:
        """Its entry as the docs collection holds it: rows renumbered into the document's key."""
        first = passage_row(key, 0)
        return json.dumps(self.entry | {"first_row": first, "end_row": first + len(self.rows)}, ensure_ascii=False)


class StagedVersion:
    """An opened embedded version, read for publishing."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self._db = store._db()
        keyword = store.manifest.get("keyword", {})
        self.k1, self.b = float(keyword.get("k1", 1.2)), float(keyword.get("b", 0.75))
        try:
            self.lengths = passage_lengths(store.path)
        except OSError as exc:
            raise IndexError_(f"{store.path}: this version predates stored passage lengths; "
                              "run `assistant index --full` first") from exc
        self.average_length = average_length(self.lengths)
        self._starts = np.asarray(store.excerpt_starts)

    def documents(self) -> list[StagedDocument]:
        """Every document in order, each with its digest (one pass over every passage)."""
        entries = [dict(zip(ENTRY_COLUMNS, row)) for row in self._db.execute(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM documents ORDER BY ordinal")]
        shapes = dict(self._db.execute("SELECT doc_id, blocks || pages FROM documents"))
        passages = self._db.execute("SELECT row, chunk_id, data, terms, role FROM chunks ORDER BY row")
        found = []
        for entry in entries:
            digest = hashlib.sha256(json.dumps(
                [entry[c] for c in ENTRY_COLUMNS if c not in ("ordinal", "first_row", "end_row")]
                + [shapes[entry["doc_id"]]]).encode())
            first, end = int(entry["first_row"]), int(entry["end_row"])
            for row, chunk_id, data, terms, role in (next(passages) for _ in range(end - first)):
                digest.update(json.dumps([row - first, chunk_id, data, terms, role]).encode())
            digest.update(np.ascontiguousarray(self.store.vectors[first:end], dtype="<f4").tobytes())
            digest.update(np.ascontiguousarray(self._windows(first, end), dtype="<f4").tobytes())
            found.append(StagedDocument(entry, digest.hexdigest()))
        return found

    def text(self, doc: StagedDocument) -> str:
        """Its text, blocks and pages, as the blob the reader reads back."""
        text, blocks, pages = self._db.execute("SELECT text, blocks, pages FROM documents WHERE doc_id = ?",
                                               (doc.doc_id,)).fetchone()
        return json.dumps([text, blocks, pages], ensure_ascii=False)

    def terms_of(self, doc: StagedDocument) -> set[str]:
        first, end = doc.rows.start, doc.rows.stop
        return {t for (terms,) in self._db.execute("SELECT terms FROM chunks WHERE row >= ? AND row < ?", (first, end))
                for t in terms.split()}

    def vocabulary(self) -> Iterator[tuple[str, int]]:
        """Every term with its document frequency, in the staged order."""
        for term, start, stop in self._db.execute("SELECT term, start, stop FROM terms ORDER BY start"):
            yield term, int(stop - start)

    def frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """These terms' document frequencies (0 for a term no passage has any more)."""
        wanted = sorted(set(terms))
        found = dict.fromkeys(wanted, 0)
        for n in range(0, len(wanted), TERMS_ASKED):
            part = wanted[n:n + TERMS_ASKED]
            found.update((term, int(stop - start)) for term, start, stop in self._db.execute(
                f"SELECT term, start, stop FROM terms WHERE term IN ({', '.join('?' * len(part))})", part))
        return found

    def rows_of(self, doc: StagedDocument, key: int, dimensions: Mapping[str, int],
                average: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The document's passage rows and excerpt rows, its passages numbered from `key`, their
        BM25 weights normalised by `average` (the published version's average passage length)."""
        first, end = doc.rows.start, doc.rows.stop
        norms = length_norms(self.lengths[first:end], self.k1, self.b, average)
        passages: list[dict[str, Any]] = []
        excerpts: list[dict[str, Any]] = []
        for row, chunk_id, data, terms, role in self._db.execute(
                "SELECT row, chunk_id, data, terms, role FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                (first, end)):
            milvus_row = passage_row(key, row - first)
            windows = self._windows(row, row + 1)
            passages.append({"row": milvus_row, "chunk_id": chunk_id, "doc": key, "role": role,
                             "data": _fits(data, chunk_id), "terms": _fits(terms, chunk_id),
                             "windows": encode_windows(windows) if len(windows) else "",
                             "dense": np.asarray(self.store.vectors[row], dtype=np.float32).tolist(),
                             "sparse": self._sparse(terms.split(), dimensions, norms[row - first])})
            excerpts.extend({"excerpt": excerpt_key(milvus_row, n), "chunk_row": milvus_row,
                             "vector": vector.tolist()} for n, vector in enumerate(windows))
        return passages, excerpts

    def _windows(self, first: int, end: int) -> np.ndarray:
        if not len(self.store.excerpt_vectors):
            return np.zeros((0, 1), dtype=np.float32)
        return np.asarray(self.store.excerpt_vectors[int(self._starts[first]):int(self._starts[end])],
                          dtype=np.float32)

    def _sparse(self, terms: list[str], dimensions: Mapping[str, int], norm: np.floating[Any]) -> dict[int, float]:
        """A passage's BM25 weights by term dimension (idf is the question's side: see reader.py)."""
        if not terms:
            return {NO_TERMS: 1.0}
        counts = Counter(terms)
        tf = np.minimum(np.array(list(counts.values()), dtype=np.float32), 65535)
        weights = posting_weights(tf, np.float32(norm), self.k1)
        return {dimensions[t]: float(w) for t, w in zip(counts, weights) if t in dimensions}


def _fits(value: str, chunk_id: str) -> str:
    if len(value.encode("utf-8")) > TEXT_MAX:
        raise IndexError_(f"{chunk_id}: this passage's stored form is over Milvus' {TEXT_MAX}-byte text limit")
    return value
