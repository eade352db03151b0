"""The index in a Milvus server: the second backend behind indexing.passage_store.PassageStore.

`--store milvus://HOST:PORT/COLLECTION` (or ASSISTANT_STORE) serves the index from Milvus instead
of the embedded folder. A build still parses, chunks and embeds into the embedded index (the
staging copy, which also lets the next build reuse unchanged vectors), then publishes that version
as five collections and points the alias COLLECTION at them:

    COLLECTION__<version>            one row per passage: dense vector, BM25 weights as a sparse
                                     vector, chunk (JSON), keyword terms, role, document; a
                                     document's passages are the rows key << 20 + n
    COLLECTION__<version>__excerpts  one row per excerpt window: its vector and its passage
    COLLECTION__<version>__terms     the vocabulary: term, its sparse dimension, document frequency
    COLLECTION__<version>__docs      one row per document: its key, digest and entry (path, metadata, rows)
    COLLECTION__<version>__blobs     long values in parts: document texts, the manifest, tables

The first publish writes them anew; later ones bring the version before the served one up to
date (only the documents whose digest changed are deleted and inserted again) and rename it.
Servers follow the alias, so a build never leaves a half-written collection serving; the
previous version stays until the next build (a question in flight finishes on it).
"""

from .location import MilvusLocation, parse_location

__all__ = ["MilvusLocation", "parse_location"]
