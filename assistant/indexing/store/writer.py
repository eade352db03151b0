"""Writing a new version of the embedded index as a build goes: documents, then each document's
chunks, vectors and keyword terms in order, unchanged documents copied row for row from the
served version; commit() finishes the files and publishes the version (versions.py)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import uuid
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import sync_path, write_synced
from ...types import Chunk, Document
from ..keyword import KeywordWriter
from ..vectors import RowFile, write_ann
from .codec import blocks_to_json, chunk_to_json, entry_from_row, pages_to_json, stored_document
from .reader import IndexStore
from .records import (
    CHUNK_DOCS_FILE,
    CHUNK_VECTOR,
    DATABASE,
    ENTRY_COLUMNS,
    EXCERPT_STARTS_FILE,
    EXCERPT_VECTOR,
    EXCERPTS_FILE,
    FORMAT_VERSION,
    INDEXES,
    MANIFEST_FILE,
    OVERLAY_FORMAT,
    SCHEMA,
    VECTORS_FILE,
    DocumentEntry,
    Overlay,
    StoredDocument,
    embed_key,
)
from .versions import publish, remove_abandoned_builds


@dataclass
class PendingCopy:
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
        remove_abandoned_builds(index_dir)
        self.index_dir = index_dir
        self.dimension = dimension
        self.folder = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True)
        self.db = sqlite3.connect(f"file:{self.folder / DATABASE}", uri=True)
        self.db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA +
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
        self._pending: PendingCopy | None = None
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
             json.dumps(blocks_to_json(doc.blocks)),
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
        self._pending = PendingCopy(old, entry.first_row, entry.end_row, ordinal, entry.ordinal,
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
        else:  # postings that cannot be copied (a version without term frequencies): terms read back
            for (terms,) in self.db.execute("SELECT terms FROM old.chunks WHERE row >= ? AND row < ? ORDER BY row",
                                            (first, end)):
                self._keyword.add(terms.split())
        excerpt_first, excerpt_end = int(old.excerpt_starts[first]), int(old.excerpt_starts[end])
        copy_rows(old.vector_rows, self._vectors, first, end)
        copy_rows(old.excerpt_rows, self._excerpts, excerpt_first, excerpt_end)
        excerpt_shift = self.excerpts - excerpt_first
        self._excerpt_starts.extend((np.asarray(old.excerpt_starts[first + 1:end + 1]) + excerpt_shift).tolist())
        for ordinal, doc_first, doc_end in run.documents:
            self._chunk_docs.extend([ordinal] * (doc_end - doc_first))
        self._add_run(CHUNK_VECTOR, first, end, shift)
        self._add_run(EXCERPT_VECTOR, excerpt_first, excerpt_end, excerpt_shift)
        self._rows += end - first
        self.excerpts += excerpt_end - excerpt_first
        self.db.executemany("UPDATE documents SET first_row = ?, end_row = ? WHERE ordinal = ?",
                            ((start + shift, stop + shift, ordinal) for ordinal, start, stop in run.documents))

    def _add_run(self, kind: int, start: int, stop: int, shift: int) -> None:
        """Note that the served version's `kind` vectors [start, stop) now sit `shift` rows later
        (extending the last such run when this one continues it)."""
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
        row = self.db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)}, text, blocks, pages FROM documents "
                              "WHERE ordinal = ?", (self._ordinals[doc_id],)).fetchone()
        return stored_document(entry_from_row(row[:len(ENTRY_COLUMNS)]), *row[len(ENTRY_COLUMNS):]).document

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
            rows.append((row, chunk.chunk_id, ordinal, json.dumps(chunk_to_json(chunk), ensure_ascii=False),
                         " ".join(chunk_terms), chunk.role))
            keys.append((embed_key(chunk.embed_text), CHUNK_VECTOR, row))
            count = len(chunk.excerpts) if with_excerpts else 0
            keys.extend((embed_key(t), EXCERPT_VECTOR, self.excerpts + j)
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
        self.db.executescript(INDEXES)
        self.db.commit()
        self.db.close()
        np.save(self.folder / EXCERPT_STARTS_FILE, np.array(self._excerpt_starts, dtype=np.int64))
        np.save(self.folder / CHUNK_DOCS_FILE, np.array(self._chunk_docs, dtype=np.int32))
        write_ann(self.folder / VECTORS_FILE, self.rows, self.dimension, vector_index, self.folder,
                  trained=self._attached)
        for path in self.folder.iterdir():
            sync_path(path)
        write_synced(self.folder / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        return publish(self.index_dir, self.folder)

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


def copy_rows(source: RowFile, out: Any, first: int, end: int, block: int = 1 << 15) -> None:
    """Rows [first, end) of one of the served version's vector files, appended to `out`: read
    (not mapped: copied pages do not stay in this process) `block` rows at a time."""
    for start in range(first, end, block):
        out.write(source.range(start, min(end, start + block)))
