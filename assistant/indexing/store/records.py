"""What a version of the embedded index stores: its file names, its SQLite schema, and the
records a build writes and a question reads back (identity, documents, overlays)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ...types import Document, DocumentMeta

FORMAT_VERSION = 2  # a whole version
OVERLAY_FORMAT = 3  # an overlay: the documents a build changed, layered over a base version (layered.py)
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
DATABASE = "store.sqlite"
VECTORS_FILE = "vectors.f32"
EXCERPTS_FILE = "excerpts.f32"
EXCERPT_STARTS_FILE = "excerpt_starts.npy"
CHUNK_DOCS_FILE = "chunk_docs.npy"
BYLINE = "byline"

SCHEMA = """
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
"""The tables of store.sqlite; INDEXES are made once a build has written every row."""
INDEXES = "CREATE UNIQUE INDEX chunk_ids ON chunks (chunk_id); CREATE INDEX chunk_roles ON chunks (role);"
CHUNK_VECTOR, EXCERPT_VECTOR = 0, 1  # the `kind` of a row of the `embedded` table


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
