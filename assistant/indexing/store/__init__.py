"""The embedded index on disk: opened, not loaded; written by a streaming VersionWriter and
swapped in atomically.

One version folder holds:

    manifest.json       what was built, how, from what (written last: its presence means complete)
    store.sqlite        documents (text and structure), chunks, keyword terms, tables
    vectors.f32         one float32 row per chunk (memory-mapped)
    excerpts.f32        one row per candidate excerpt of each chunk, in chunk order
    excerpt_starts.npy  first excerpt row of each chunk (and the total, last)
    chunk_docs.npy      the document (its ordinal) of each chunk
    keyword_*.npy       BM25 postings (keyword.py)
    vectors.faiss       an approximate index, above a size (vectors.py)

records.py names these files and the records they hold, codec.py their JSON, reader.py reads
an opened version, writer.py writes a new one, versions.py serves, publishes and removes them.
"""

from .codec import (
    chunk_from_json,
    document_from_json,
    document_to_json,
    entry_from_row,
    failures_to_json,
    pages_to_json,
    stored_document,
)
from .reader import ChunkTable, DocumentTable, IndexStore, best_rows, keyword_best
from .records import (
    BYLINE,
    CURRENT_FILE,
    ENTRY_COLUMNS,
    FORMAT_VERSION,
    OVERLAY_FORMAT,
    DocumentEntry,
    IndexIdentity,
    Overlay,
    StoredDocument,
    embed_key,
)
from .versions import base_of, build_lock, current_version, load, open_version, read_manifest
from .writer import VersionWriter

__all__ = [
    "BYLINE", "CURRENT_FILE", "ENTRY_COLUMNS", "FORMAT_VERSION", "OVERLAY_FORMAT",
    "ChunkTable", "DocumentEntry", "DocumentTable", "IndexIdentity", "IndexStore", "Overlay", "StoredDocument",
    "VersionWriter",
    "base_of", "best_rows", "build_lock", "chunk_from_json", "current_version", "document_from_json",
    "document_to_json", "embed_key", "entry_from_row", "failures_to_json", "keyword_best", "load",
    "open_version", "pages_to_json", "read_manifest", "stored_document",
]
