"""An overlay version: the documents a build changed or added, layered over the version it was
built from, so that editing one document of a large index writes that document's rows only.

An overlay is an ordinary version folder (store.py) holding only those documents, plus the list
of its base's documents it hides (changed, removed, or held by the overlay now). Its BM25
weights are normalised by the base's average passage length. Opened together they serve as
one index:

    rows [0, base.size)                   the base's passages (hidden ones never found)
    rows [base.size, base.size + overlay)  the overlay's, shifted

A term's document frequency counts only the passages served (the base's postings in hidden
rows are skipped), so BM25 matches a version written anew except for the drift of the average
passage length, which the manifest records (a build writes anew once it reaches
keyword.AVERAGE_DRIFT, or the overlay grows past Settings.overlay_share of the base).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexError_
from ..types import Chunk, Document
from .keyword import idf, passage_lengths
from .store import FORMAT_VERSION as WHOLE_FORMAT
from .store import (
    OVERLAY_FORMAT,
    DocumentEntry,
    DocumentTable,
    IndexIdentity,
    IndexStore,
    Overlay,
    StoredDocument,
    current_version,
    embed_key,
    keyword_best,
    open_version,
    read_manifest,
)


def load(index_dir: Path, expected: IndexIdentity | None = None, exact: bool = False,
         probe: int = 0) -> IndexStore | LayeredStore:
    """Open the version CURRENT names, whole or an overlay over its base; refuse one built with
    other settings (see store.load)."""
    return load_layers(index_dir, expected, exact, probe).served


def load_layers(index_dir: Path, expected: IndexIdentity | None = None, exact: bool = False,
                probe: int = 0) -> ServedLayers:
    """As load, with the layers the served version is made of (what a build reuses)."""
    version = current_version(index_dir)
    if version is None:
        raise IndexError_(f"{index_dir}: no index built yet; run `assistant index`")
    manifest = read_manifest(version, expected, formats=(WHOLE_FORMAT, OVERLAY_FORMAT))
    if manifest["format"] == WHOLE_FORMAT:
        whole = open_version(version, expected, exact, probe, manifest)
        return ServedLayers(whole, whole)
    base_path = version.parent / str(manifest.get("overlay", {}).get("base", ""))
    if not base_path.is_dir() or base_path == version:
        raise IndexError_(f"{version}: the version it is layered over is missing; run `assistant index --full`")
    base = open_version(base_path, expected, exact, probe)
    overlay = open_version(version, expected, exact, probe, manifest)
    layered = LayeredStore(base, overlay)
    return ServedLayers(layered, base, layered)


@dataclass(frozen=True)
class ServedLayers:
    """A served version and what it is made of: the whole version at its bottom (`base`, the
    served version itself when it is whole) and, for an overlay, the two opened together."""

    served: IndexStore | LayeredStore
    base: IndexStore
    layered: LayeredStore | None = None

    def layer(self, doc_id: str) -> tuple[IndexStore, DocumentEntry] | None:
        """The version folder that holds a served document, and its entry there."""
        if self.layered is not None:
            return self.layered.layer(doc_id)
        entry = self.base.entries.get(doc_id)
        return (self.base, entry) if entry is not None else None

    @property
    def overlay_rows(self) -> int:
        """Rows an overlay already replaces or adds: its base's hidden rows and its own."""
        if self.layered is None:
            return 0
        return int(self.layered.hidden.sum()) + self.layered.overlay.size


def overlay_over(base: IndexStore, hidden: Iterable[str], stale_terms: bool = False) -> Overlay:
    """What an overlay over `base` hiding these documents records (store.Overlay)."""
    hidden = tuple(sorted(set(hidden)))
    lengths = passage_lengths(base.path)
    mask = hidden_rows(base, hidden)
    return Overlay(base.path.name, hidden, float(lengths.mean()) if len(lengths) else 1.0,
                   int((~mask).sum()), float(lengths[~mask].sum()), stale_terms)


def hidden_rows(base: IndexStore, hidden: Iterable[str]) -> np.ndarray:
    """A mask of the base's rows that belong to these documents."""
    mask = np.zeros(base.size, dtype=bool)
    for doc_id in hidden:
        entry = base.entry(doc_id)
        if entry is not None:
            mask[entry.first_row:entry.end_row] = True
    return mask


class LayeredKeyword:
    """BM25 over both layers' postings, a term's idf counting only the passages served."""

    def __init__(self, store: LayeredStore) -> None:
        self._base, self._overlay = store.base.keyword, store.overlay.keyword
        self._hidden = store.hidden_ranges  # few ranges of rows: a term's postings there are counted out
        self._offset = store.base.size
        self.size = store.size
        self.live = store.live
        self._served: dict[str, int] = {}  # a term's passages served (its document frequency), once counted

    def _frequency(self, term: str) -> int:
        if term not in self._served:
            rows = self._base.postings(term)[0]  # ascending: the postings in a hidden range are a slice
            hidden = sum(int(np.searchsorted(rows, end) - np.searchsorted(rows, first)) for first, end in self._hidden)
            if len(self._served) > 200_000:
                self._served.clear()
            self._served[term] = len(rows) - hidden + len(self._overlay.postings(term)[0])
        return self._served[term]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """A BM25 score for every row (zeros where no term matches, and for hidden rows)."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(query_terms):
            weight = idf(self.live, self._frequency(term))
            rows, weights = self._base.postings(term)
            scores[rows] += weight * weights
            rows, weights = self._overlay.postings(term)
            scores[np.asarray(rows, dtype=np.int64) + self._offset] += weight * weights
        for first, end in self._hidden:
            scores[first:end] = 0
        return scores

    def term_idf(self, term: str) -> float:
        return idf(self.live, self._frequency(term))

    def knows(self, term: str) -> bool:
        return self._frequency(term) > 0


class LayeredStore:
    """An overlay version opened over its base: one PassageStore (passage_store.py)."""

    def __init__(self, base: IndexStore, overlay: IndexStore) -> None:
        self.base, self.overlay = base, overlay
        self.path = overlay.path
        self.version = overlay.version
        self.hidden_ids = frozenset(d for (d,) in overlay._db().execute("SELECT doc_id FROM hidden"))
        self.hidden = hidden_rows(base, self.hidden_ids)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], self.hidden.view(np.int8), [0]])))
        self.hidden_ranges = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
        self.size = base.size + overlay.size  # rows; the overlay's start at base.size
        self.live = self.size - int(self.hidden.sum())
        self.manifest: dict[str, Any] = {**overlay.manifest, "vector_index": base.manifest.get("vector_index"),
                                         "counts": {**overlay.manifest.get("counts", {}), "chunks": self.live}}
        self.acronyms = overlay.acronyms  # the tables of the whole corpus, as the overlay's build saw it
        self.corpus_words = overlay.corpus_words
        base_bylines = base.byline_rows[~self.hidden[base.byline_rows]] if len(base.byline_rows) else base.byline_rows
        self.byline_rows = np.concatenate([base_bylines, overlay.byline_rows + base.size]).astype(np.int64)
        self.keyword = LayeredKeyword(self)
        self.documents = DocumentTable(self.entry, lambda: self.entries, self._read_document)
        self._base_documents = int(base._db().execute("SELECT count(*) FROM documents").fetchone()[0])

    @property
    def identity(self) -> IndexIdentity:
        return self.overlay.identity

    @property
    def drift(self) -> float:
        """How far the served passages' average length is from the one the overlay's weights used."""
        return float(self.manifest.get("overlay", {}).get("average_length_drift", 0.0))

    @property
    def stale_terms(self) -> bool:
        """The base's passages kept terms made before the corpus defined new acronyms."""
        return bool(self.manifest.get("overlay", {}).get("stale_terms", False))

    @functools.cached_property
    def entries(self) -> dict[str, DocumentEntry]:
        served = {d: e for d, e in self.base.entries.items() if d not in self.hidden_ids}
        served.update((d, self._shifted(e)) for d, e in self.overlay.entries.items())
        return served

    def _shifted(self, entry: DocumentEntry) -> DocumentEntry:
        offset = self.base.size
        return replace(entry, ordinal=entry.ordinal + self._base_documents, first_row=entry.first_row + offset,
                       end_row=entry.end_row + offset)

    def entry(self, doc_id: str) -> DocumentEntry | None:
        found = self.overlay.entry(doc_id)
        if found is not None:
            return self._shifted(found)
        return None if doc_id in self.hidden_ids else self.base.entry(doc_id)

    def layer(self, doc_id: str) -> tuple[IndexStore, DocumentEntry] | None:
        """The layer that serves a document, and its entry there (rows of that layer). From both
        layers' entry tables, read once: a build asks this of every document it keeps."""
        found = self.overlay.entries.get(doc_id)
        if found is not None:
            return self.overlay, found
        base = None if doc_id in self.hidden_ids else self.base.entries.get(doc_id)
        return (self.base, base) if base is not None else None

    def _read_document(self, entry: DocumentEntry) -> StoredDocument:
        layer = self.overlay if self.overlay.entry(entry.doc_id) is not None else self.base
        return layer.documents[entry.doc_id]

    def document(self, doc_id: str) -> Document:
        return self.documents[doc_id].document

    def rows_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        spans = [np.arange(e.first_row, e.end_row) for d in doc_ids if (e := self.entry(d))]
        return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows as the base's and the overlay's own row numbers."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows[rows < self.base.size], rows[rows >= self.base.size] - self.base.size

    def search(self, query_vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest served passages by cosine: (row, cosine), best first; among `rows` when given."""
        offset = self.base.size
        if rows is not None:
            base_rows, overlay_rows = self._split(rows)
            found = self.base.search(query_vector, k, base_rows) if len(base_rows) else []
        else:
            overlay_rows = None
            found = self._base_search(query_vector, k)
        if overlay_rows is None or len(overlay_rows):
            found += [(row + offset, score) for row, score in self.overlay.search(query_vector, k, overlay_rows)]
        return sorted(found, key=lambda hit: -hit[1])[:k]

    def _base_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The base's k nearest passages that are not hidden: asked for more until k are found."""
        hidden = int(self.hidden.sum())
        wanted = k + min(hidden, k)
        while True:
            found = self.base.search(query_vector, wanted)
            served = [(row, score) for row, score in found if not self.hidden[row]]
            if len(served) >= k or len(found) < wanted or wanted >= self.base.size:
                return served[:k]
            wanted = min(self.base.size, 4 * wanted)

    def cosines(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        in_base = rows < self.base.size
        out[in_base] = self.base.cosines(query_vector, rows[in_base])
        out[~in_base] = self.overlay.cosines(query_vector, rows[~in_base] - self.base.size)
        return out

    def keyword_ranking(self, terms: Sequence[str], n: int, rows: np.ndarray | None = None,
                        with_bylines: bool = False) -> list[tuple[int, float]]:
        """As IndexStore.keyword_ranking, over both layers."""
        return keyword_best(self.keyword.scores(terms), n, rows, None if with_bylines else self.byline_rows)

    def keyword_scores(self, terms: Sequence[str], rows: Sequence[int]) -> np.ndarray:
        return self.keyword.scores(terms)[np.asarray(rows, dtype=np.int64)]

    def passages(self, rows: Sequence[int]) -> list[tuple[Chunk, tuple[str, ...]]]:
        found = []
        for row in rows:
            layer, local = (self.base, int(row)) if row < self.base.size else (self.overlay, int(row) - self.base.size)
            found.append((layer.chunks[local], layer.chunk_terms(local)))
        return found

    def excerpt_vectors_of(self, chunks: Sequence[Chunk]) -> list[np.ndarray]:
        """Each chunk's excerpt vectors, from the layer that serves it (the overlay first: a changed
        document's unchanged chunks keep their ids)."""
        return [(self.overlay if self.overlay.chunks.row_of(c.chunk_id) is not None else self.base)
                .chunk_excerpt_vectors(c) for c in chunks]

    def stored_vectors(self, texts: Sequence[str]) -> dict[bytes, np.ndarray]:
        """Vectors either layer holds for any of these exact texts."""
        found = self.overlay.stored_vectors(texts)
        missing = [t for t in texts if embed_key(t) not in found]
        if missing:
            found.update(self.base.stored_vectors(missing))
        return found

    def close(self) -> None:
        self.overlay.close()
        self.base.close()

