"""FAISS index + documents + chunks + manifest on disk; atomic swap, load, search.

Layout of the index folder:

    CURRENT          name of the version folder being served (replaced atomically)
    v-<time>-<id>/   manifest.json, documents.json, chunks.jsonl, vectors.faiss,
                     excerpts.npy (vectors of each chunk's candidate excerpts)
    .tmp-<id>/       a build in progress (removed by the next build)
    .build.lock      held while a build runs

A build writes a whole new version folder, then swaps CURRENT with os.replace, so a
build that fails or is killed at any moment leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import IndexError_, IndexMismatchError
from ..types import Block, Chunk, Document, DocumentMeta, FileFailure, PageSpan, Sentence

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"


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


@dataclass
class IndexStore:
    """A loaded index version: the vectors row i belongs to chunks[i]."""

    path: Path
    manifest: dict[str, Any]
    documents: dict[str, StoredDocument]
    chunks: list[Chunk]
    vectors: np.ndarray
    faiss_index: Any
    excerpt_vectors: np.ndarray  # rows for every chunk's excerpt windows, in chunk order
    excerpt_rows: dict[str, int]  # chunk_id -> first row of its excerpts

    def chunk_excerpt_vectors(self, chunk: Chunk) -> np.ndarray:
        """Vectors of the chunk's excerpt windows (the chunk's own vector when none were stored)."""
        start = self.excerpt_rows.get(chunk.chunk_id)
        if start is None or not len(self.excerpt_vectors):
            row = self.chunk_rows[chunk.chunk_id]
            return np.repeat(self.vectors[row:row + 1], len(chunk.excerpts), axis=0)
        return self.excerpt_vectors[start:start + len(chunk.excerpts)]

    @functools.cached_property
    def chunk_rows(self) -> dict[str, int]:
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    @property
    def identity(self) -> IndexIdentity:
        return IndexIdentity(**self.manifest["identity"])

    def document(self, doc_id: str) -> Document:
        return self.documents[doc_id].document

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact inner-product search; vectors are unit length, so scores are cosines."""
        if not self.chunks:
            return []
        scores, ids = self.faiss_index.search(query_vector.reshape(1, -1).astype(np.float32),
                                              min(k, len(self.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = index_dir / name
    return path if name and path.is_dir() else None


def load(index_dir: Path, expected: IndexIdentity | None = None) -> IndexStore:
    """Load the version CURRENT names; refuse one built with other settings."""
    version = current_version(index_dir)
    if version is None:
        raise IndexError_(f"{index_dir}: no index built yet; run `assistant index`")
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatchError(f"{version}: index format {manifest.get('format')} is not "
                                     f"{FORMAT_VERSION}; run `assistant index --full`")
        found = IndexIdentity(**manifest["identity"])
        if expected is not None and found != expected:
            raise IndexMismatchError(
                f"{index_dir}: the index was built with {found.describe()}, but the settings ask "
                f"for {expected.describe()}; run `assistant index --full` to rebuild it")
        documents = _read_documents(version / "documents.json")
        chunks = [_chunk_from_json(json.loads(line)) for line in
                  (version / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line]
        faiss_index = faiss.read_index(str(version / "vectors.faiss"))
    except IndexMismatchError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexError_(f"{version}: index files are unreadable ({exc}); "
                          "run `assistant index --full`") from exc
    if faiss_index.ntotal != len(chunks):
        raise IndexError_(f"{version}: {faiss_index.ntotal} vectors for {len(chunks)} chunks; "
                          "run `assistant index --full`")
    vectors = faiss_index.reconstruct_n(0, faiss_index.ntotal) if chunks else \
        np.zeros((0, found.dimension), dtype=np.float32)
    excerpt_path = version / "excerpts.npy"
    excerpt_vectors = np.load(excerpt_path) if excerpt_path.exists() else \
        np.zeros((0, found.dimension), dtype=np.float32)
    excerpt_rows = _excerpt_rows(chunks) if len(excerpt_vectors) else {}
    if excerpt_rows and len(excerpt_vectors) != sum(len(c.excerpts) for c in chunks):
        raise IndexError_(f"{version}: excerpt vectors do not match the chunks; run `assistant index --full`")
    return IndexStore(version, manifest, documents, chunks, vectors, faiss_index, excerpt_vectors, excerpt_rows)


def _excerpt_rows(chunks: list[Chunk]) -> dict[str, int]:
    rows, position = {}, 0
    for chunk in chunks:
        rows[chunk.chunk_id] = position
        position += len(chunk.excerpts)
    return rows


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


def save(index_dir: Path, manifest: dict[str, Any], documents: list[StoredDocument],
         chunks: list[Chunk], vectors: np.ndarray, excerpt_vectors: np.ndarray | None = None) -> Path:
    """Write a new version beside the old one and swap it in atomically. Hold build_lock."""
    _remove_abandoned_builds(index_dir)
    tmp = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    manifest = {**manifest, "format": FORMAT_VERSION}
    _write(tmp / "documents.json", json.dumps([_document_to_json(d) for d in documents],
                                              ensure_ascii=False))
    _write(tmp / "chunks.jsonl", "".join(json.dumps(_chunk_to_json(c), ensure_ascii=False) + "\n"
                                         for c in chunks))
    index = faiss.IndexFlatIP(int(manifest["identity"]["dimension"]))  # exact cosine search
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(tmp / "vectors.faiss"))
    _fsync_file(tmp / "vectors.faiss")
    if excerpt_vectors is not None and len(excerpt_vectors):
        np.save(tmp / "excerpts.npy", np.ascontiguousarray(excerpt_vectors, dtype=np.float32))
        _fsync_file(tmp / "excerpts.npy")
    # The manifest is written last: a version folder with a manifest is complete.
    _write(tmp / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    version = index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    os.rename(tmp, version)
    pointer_tmp = index_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex[:6]}"
    _write(pointer_tmp, version.name + "\n")
    os.replace(pointer_tmp, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)
    _remove_old_versions(index_dir, keep={version.name})
    return version


def _remove_abandoned_builds(index_dir: Path) -> None:
    for path in index_dir.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT_FILE}.*"):
        path.unlink(missing_ok=True)


def _remove_old_versions(index_dir: Path, keep: set[str], keep_previous: int = 1) -> None:
    """Keep the new version and the one before it (a reader may still be loading it)."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=lambda p: p.name)
    older = [p for p in versions if p.name not in keep]
    for path in older[: max(0, len(older) - keep_previous)]:
        shutil.rmtree(path, ignore_errors=True)


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
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def document_to_json(doc: Document) -> dict[str, Any]:
    """A document with its text and structure, as the index (and archive.py) stores it."""
    return {
        "doc_id": doc.doc_id, "path": doc.path, "kind": doc.kind, "meta": asdict(doc.meta),
        "content_hash": doc.content_hash,
        "pages": [[p.number, p.start, p.end] for p in doc.pages],
        "blocks": [[b.start, b.end, b.role, b.page] for b in doc.blocks],
        "text": doc.text,
    }


def document_from_json(item: dict[str, Any]) -> Document:
    return Document(
        doc_id=item["doc_id"], path=item["path"], meta=DocumentMeta(**item["meta"]),
        text=item["text"], content_hash=item["content_hash"],
        blocks=tuple(Block(*b) for b in item["blocks"]),
        pages=tuple(PageSpan(*p) for p in item["pages"]), kind=item["kind"],
    )


def _document_to_json(stored: StoredDocument) -> dict[str, Any]:
    return {**document_to_json(stored.document), "file_sha256": stored.file_sha256,
            "meta_entry": stored.meta_entry}


def _read_documents(path: Path) -> dict[str, StoredDocument]:
    out = {}
    for item in json.loads(path.read_text(encoding="utf-8")):
        doc = document_from_json(item)
        out[doc.doc_id] = StoredDocument(doc, item["file_sha256"], item["meta_entry"])
    return out


def _chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    data = asdict(chunk)
    data["sentences"] = [[s.start, s.end, s.paragraph, s.page] for s in chunk.sentences]
    return data


def _chunk_from_json(data: dict[str, Any]) -> Chunk:
    data = dict(data)
    data["sentences"] = tuple(Sentence(*s) for s in data["sentences"])
    data["excerpts"] = tuple((int(a), int(b)) for a, b in data.get("excerpts", ()))
    data["excerpt_texts"] = tuple(data.get("excerpt_texts", ()))
    return Chunk(**data)


def failures_to_json(failures: list[FileFailure]) -> list[dict[str, str]]:
    return [{"path": f.path, "reason": f.reason} for f in failures]
