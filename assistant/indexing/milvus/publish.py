"""Publish a built version of the embedded index to Milvus, then point the alias at it."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...errors import IndexError_
from ..archive import ArchiveFolder
from ..keyword import length_norms, passage_lengths, posting_weights
from ..store import ENTRY_COLUMNS, IndexStore
from .archive import publish_archive
from .layout import (
    NO_TERMS,
    PLACEHOLDER,
    TEXT_MAX,
    VersionCollections,
    blob_parts,
    create,
    encode_windows,
    read_blob,
    versions_of,
)
from .location import MilvusLocation, connect

BATCH = 512  # rows per insert request (a passage row is a few kB: well under gRPC's 64 MB)

Progress = Callable[[str], None]


def publish(store: IndexStore, location: MilvusLocation, progress: Progress | None = None,
            dense_index: str = "FLAT", kept: ArchiveFolder | None = None) -> str:
    """Write `store` (an opened embedded version) into new collections and switch the alias to them.

    Returns the passages collection's name. Publishing the version the alias already serves does
    nothing; a failure leaves the alias where it was (the half-written collections are dropped).
    The document versions `kept` (the staging index's passage archive) are added to the archive
    beside the index first.
    """
    say = progress or (lambda _message: None)
    client = connect(location)
    try:
        if kept is not None:  # first: an id quoted from the new version must resolve everywhere
            added = publish_archive(client, location.collection, kept)
            if added:
                say(f"{location}: {added} document versions added to the passage archive")
        names = VersionCollections.of(location.collection, store.version)
        served = served_collection(client, location.collection)
        fingerprint = content_fingerprint(store)
        if served == names.passages or (served and read_blob(client, VersionCollections(served), "fingerprint")
                                        == fingerprint):
            say(f"{location}: already serves this index ({served}); nothing to publish")
            return str(served)
        existing = set(client.list_collections())
        if location.collection in existing:
            raise IndexError_(f"{location}: '{location.collection}' is a collection, not an alias; "
                              "choose another name for the index or drop that collection")
        for name in names.all:  # left by a publish that failed part way
            if name in existing:
                client.drop_collection(name)
        create(client, names, int(store.manifest["identity"]["dimension"]), dense_index)
        try:
            _write(client, store, names, fingerprint, say)
            for name in names.all:
                client.flush(name)
                client.load_collection(name)
        except BaseException:
            for name in names.all:
                client.drop_collection(name)
            raise
        if served is None:
            client.create_alias(names.passages, location.collection)
        else:
            client.alter_alias(names.passages, location.collection)
        say(f"{location}: now serves {names.passages} ({store.size} passages)")
        _drop_old_versions(client, location.collection, keep={names.passages, served})
        return names.passages
    finally:
        client.close()


def served_collection(client: Any, alias: str) -> str | None:
    """The passages collection `alias` points at, or None when it points nowhere yet."""
    from pymilvus.exceptions import MilvusException

    try:
        return str(client.describe_alias(alias)["collection_name"])
    except (MilvusException, IndexError_):  # no such alias; or the server is down: nothing new to follow
        return None


def _write(client: Any, store: IndexStore, names: VersionCollections, fingerprint: str, say: Progress) -> None:
    db = store._db()
    say(f"publishing {store.size} passages, {len(store.entries)} documents")
    # The vocabulary: a term's sparse dimension is its place in the terms table.
    dimensions: dict[str, int] = {}
    rows = []
    for term, start, stop in db.execute("SELECT term, start, stop FROM terms ORDER BY start"):
        dimensions[term] = len(dimensions)
        rows.append({"term": term, "dimension": dimensions[term], "df": int(stop - start),
                     "placeholder": PLACEHOLDER})
    _insert(client, names.terms, rows)
    keyword = store.manifest.get("keyword", {})
    k1, b = float(keyword.get("k1", 1.2)), float(keyword.get("b", 0.75))
    try:
        norms = length_norms(passage_lengths(store.path), k1, b)
    except OSError as exc:
        raise IndexError_(f"{store.path}: this version predates stored passage lengths; "
                          "run `assistant index --full` first") from exc
    vectors = store.vectors
    starts = np.asarray(store.excerpt_starts)
    batch: list[dict[str, Any]] = []
    for row, chunk_id, doc, data, terms, role in db.execute(
            "SELECT row, chunk_id, doc, data, terms, role FROM chunks ORDER BY row"):
        windows = np.asarray(store.excerpt_vectors[int(starts[row]):int(starts[row + 1])]) \
            if len(store.excerpt_vectors) else np.zeros((0, 1), dtype=np.float32)
        batch.append({"row": row, "chunk_id": chunk_id, "doc": doc, "role": role,
                      "data": _fits(data, chunk_id), "terms": _fits(terms, chunk_id),
                      "windows": encode_windows(windows) if len(windows) else "",
                      "dense": np.asarray(vectors[row], dtype=np.float32).tolist(),
                      "sparse": _sparse(terms.split(), dimensions, norms[row], k1)})
        if len(batch) >= BATCH:
            _insert(client, names.passages, batch)
            batch = []
    _insert(client, names.passages, batch)
    _insert(client, names.excerpts, _excerpt_rows(store))
    docs, blobs = [], []
    for row in db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)}, text, blocks, pages FROM documents ORDER BY ordinal"):
        entry = dict(zip(ENTRY_COLUMNS, row[:len(ENTRY_COLUMNS)]))
        docs.append({"doc_id": entry["doc_id"], "ordinal": entry["ordinal"],
                     "entry": json.dumps(entry, ensure_ascii=False), "placeholder": PLACEHOLDER})
        text, blocks, pages = row[len(ENTRY_COLUMNS):]
        blobs.extend(_blob_rows(f"doc:{entry['ordinal']}", json.dumps([text, blocks, pages], ensure_ascii=False)))
    _insert(client, names.docs, docs)
    for name, value in (("fingerprint", fingerprint),
                        ("manifest", json.dumps(store.manifest, ensure_ascii=False)),
                        ("acronyms", json.dumps(store.acronyms, ensure_ascii=False)),
                        ("corpus_words", json.dumps(store.corpus_words, ensure_ascii=False))):
        blobs.extend(_blob_rows(name, value))
    _insert(client, names.blobs, blobs)


def content_fingerprint(store: IndexStore) -> str:
    """What a version holds, whatever its name: the model and chunking, and each document's content,
    file and metadata (chunks, terms and tables follow from those). Equal for a rebuild that changed nothing."""
    digest = hashlib.sha256(json.dumps(store.manifest["identity"], sort_keys=True).encode())
    for entry in store.entries.values():
        digest.update(json.dumps([entry.doc_id, entry.path, entry.kind, entry.content_hash, entry.file_sha256,
                                  entry.meta_entry, entry.end_row - entry.first_row], sort_keys=True).encode())
    return digest.hexdigest()


def _sparse(terms: list[str], dimensions: dict[str, int], norm: float, k1: float) -> dict[int, float]:
    """A passage's BM25 weights by term dimension (idf is the question's side: see reader.py)."""
    if not terms:
        return {NO_TERMS: 1.0}
    counts = Counter(terms)
    tf = np.minimum(np.array(list(counts.values()), dtype=np.float32), 65535)
    weights = posting_weights(tf, np.float32(norm), k1)
    return {dimensions[t]: float(w) for t, w in zip(counts, weights) if t in dimensions}


def _excerpt_rows(store: IndexStore) -> Iterator[dict[str, Any]]:
    if not len(store.excerpt_vectors):
        return
    starts = np.asarray(store.excerpt_starts)
    chunk_rows = np.repeat(np.arange(store.size), np.diff(starts))
    for excerpt, chunk_row in enumerate(chunk_rows.tolist()):
        yield {"excerpt": excerpt, "chunk_row": chunk_row,
               "vector": np.asarray(store.excerpt_vectors[excerpt], dtype=np.float32).tolist()}


def _blob_rows(name: str, value: str) -> list[dict[str, Any]]:
    return [{"key": f"{name}#{n}", "name": name, "part": n, "value": part, "placeholder": PLACEHOLDER}
            for n, part in enumerate(blob_parts(value))]


def _fits(value: str, chunk_id: str) -> str:
    if len(value.encode("utf-8")) > TEXT_MAX:
        raise IndexError_(f"{chunk_id}: this passage's stored form is over Milvus' {TEXT_MAX}-byte text limit")
    return value


def _insert(client: Any, collection: str, rows: Any) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            client.insert(collection, batch)
            batch = []
    if batch:
        client.insert(collection, batch)


def _drop_old_versions(client: Any, alias: str, keep: set[str | None]) -> None:
    """Versions older than the previous one: no server reads them any more."""
    for version in versions_of(alias, client.list_collections()):
        if version.passages not in keep:
            for name in version.all:
                client.drop_collection(name)
