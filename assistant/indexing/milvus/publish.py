"""Publish a built version of the embedded index to Milvus, then point the alias at it.

A version is written once and then only read. The first publish writes five new collections;
later ones bring the version before the served one (which no server reads any more) up to date
instead, rewriting only the documents that changed since it was written, and rename it. Either
way the alias moves only once the collections are complete, flushed and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from ...errors import IndexError_
from ..archive import ArchiveFolder
from ..keyword import AVERAGE_DRIFT
from ..store import IndexStore
from .archive import publish_archive
from .layout import (
    PLACEHOLDER,
    Numbering,
    VersionCollections,
    blob_parts,
    create,
    document_blob,
    document_rows,
    query_all,
    read_blob,
    versions_of,
)
from .location import MilvusLocation, connect
from .staged import TERMS_ASKED, StagedDocument, StagedVersion

BATCH = 512  # rows per insert request (a passage row is a few kB: well under gRPC's 64 MB)
REWRITE_SHARE = 0.5  # ... and while fewer than this share of the passages changed; else it is written anew
TABLES = ("manifest", "acronyms", "corpus_words", "layout")  # the blobs every publish writes again

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Spare:
    """A complete version that is not served: the one a publish brings up to date."""

    names: VersionCollections
    numbering: Numbering


def publish(store: IndexStore, location: MilvusLocation, progress: Progress | None = None,
            dense_index: str = "FLAT", kept: ArchiveFolder | None = None, full: bool = False) -> str:
    """Make `store` (an opened embedded version) the version the alias serves.

    Returns the passages collection's name. Publishing what the alias already serves does nothing
    (unless `full`, or the served version is in an older format); `full` writes every collection
    anew instead of updating the spare version; a failure leaves the
    alias where it was (the collections it was writing are dropped). The document versions `kept`
    (the staging index's passage archive) are added to the archive beside the index first.
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
        current = VersionCollections(served) if served else None
        if served == names.passages or (current and not full and _numbering(client, current)
                                        and read_blob(client, current, "fingerprint") == fingerprint):
            say(f"{location}: already serves this index ({served}); nothing to publish")
            return str(served)
        existing = set(client.list_collections())
        if location.collection in existing:
            raise IndexError_(f"{location}: '{location.collection}' is a collection, not an alias; "
                              "choose another name for the index or drop that collection")
        for name in set(names.all) & existing:  # left by a publish of this version that failed part way
            client.drop_collection(name)
        staged = StagedVersion(store)
        documents = staged.documents()
        spare = None if full else _spare(client, location.collection, served, staged)
        if spare is None or not _update(client, spare, names, staged, documents, fingerprint, say):
            _write(client, names, staged, documents, fingerprint, dense_index, say)
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


def _numbering(client: Any, names: VersionCollections) -> Numbering | None:
    """The version's numbering; None when it was written in an older format (readers refuse it:
    the next publish writes anew) or cannot be read."""
    from pymilvus.exceptions import MilvusException

    try:
        return Numbering.read(client, names)
    except (MilvusException, ValueError, TypeError):  # its blobs unreadable, or not JSON of today's fields
        return None


def content_fingerprint(store: IndexStore) -> str:
    """What a version holds, whatever its name: the model and chunking, and each document's content,
    file and metadata (chunks, terms and tables follow from those). Equal for a rebuild that changed nothing."""
    digest = hashlib.sha256(json.dumps(store.manifest["identity"], sort_keys=True).encode())
    for entry in store.entries.values():
        digest.update(json.dumps([entry.doc_id, entry.path, entry.kind, entry.content_hash, entry.file_sha256,
                                  entry.meta_entry, entry.end_row - entry.first_row], sort_keys=True).encode())
    return digest.hexdigest()


# -- a version written anew ------------------------------------------------------------------


def _write(client: Any, names: VersionCollections, staged: StagedVersion, documents: list[StagedDocument],
           fingerprint: str, dense_index: str, say: Progress) -> None:
    """Write every collection of the version anew: its documents keyed by their order."""
    store = staged.store
    say(f"publishing {store.size} passages, {len(documents)} documents")
    create(client, names, int(store.manifest["identity"]["dimension"]), dense_index)
    try:
        # The vocabulary: a term's sparse dimension is its place in the staged terms table.
        dimensions: dict[str, int] = {}
        terms = []
        for term, df in staged.vocabulary():
            dimensions[term] = len(dimensions)
            terms.append({"term": term, "dimension": dimensions[term], "df": df, "placeholder": PLACEHOLDER})
        _insert(client, names.terms, terms)
        keys = {d.doc_id: int(d.entry["ordinal"]) for d in documents}
        _add_documents(client, names, staged, documents, keys, dimensions, staged.average_length)
        _insert(client, names.docs, (_doc_row(d, keys[d.doc_id]) for d in documents))
        numbering = Numbering(staged.k1, staged.b, staged.average_length, next_key=max(keys.values(), default=-1) + 1,
                              next_dimension=len(dimensions))
        _write_tables(client, names, store, numbering)
        _finish(client, names, staged, fingerprint, load=True)
    except BaseException:
        for name in names.all:
            client.drop_collection(name)
        raise


# -- the spare version brought up to date ----------------------------------------------------


def _spare(client: Any, alias: str, served: str | None, staged: StagedVersion) -> Spare | None:
    """The complete, unserved version of `alias` that can be brought up to date to `staged`: built
    with the same model, chunking and BM25 parameters, its average passage length close enough."""
    collections = set(client.list_collections())
    for version in versions_of(alias, sorted(collections)):
        if version.passages == served or not set(version.all) <= collections:
            continue
        numbering = _numbering(client, version)
        if numbering is None or not read_blob(client, version, "fingerprint"):
            continue  # an older format, or left part way by a publish that was interrupted
        manifest = json.loads(read_blob(client, version, "manifest") or "{}")
        if (manifest.get("identity") == staged.store.manifest["identity"]
                and (numbering.k1, numbering.b) == (staged.k1, staged.b)
                and abs(staged.average_length - numbering.average_length)
                <= AVERAGE_DRIFT * numbering.average_length):
            return Spare(version, numbering)
    return None


def _update(client: Any, spare: Spare, names: VersionCollections, staged: StagedVersion,
            documents: list[StagedDocument], fingerprint: str, say: Progress) -> bool:
    """Bring the spare version up to date with `staged`, rewriting only the documents whose digest
    changed, then rename it to `names`. False (nothing done) when so much changed that writing anew is
    as cheap; a failure drops the spare version (the next publish writes anew)."""
    old = spare.names
    published = {r["doc_id"]: r for r in query_all(client, old.docs, "ordinal >= 0", ["doc_id", "key", "digest",
                                                                                         "entry"])}
    changed = [d for d in documents if d.doc_id not in published or published[d.doc_id]["digest"] != d.digest]
    present = {d.doc_id for d in documents}
    removed = [r for doc_id, r in published.items() if doc_id not in present]
    rewritten = sum(len(d.rows) for d in changed)
    if rewritten > REWRITE_SHARE * staged.store.size:
        return False
    say(f"publishing by updating {old.passages}: {len(changed)} documents to write ({rewritten} passages), "
        f"{len(removed)} to remove, {len(documents) - len(changed)} unchanged")
    try:
        # Incomplete from here on: an interrupted update is never taken for a version.
        client.delete(old.blobs, filter='name == "fingerprint"')
        client.flush(old.blobs)
        touched: set[str] = set()  # terms whose document frequency changes
        for record in [published[d.doc_id] for d in changed if d.doc_id in published] + removed:
            where = document_rows(int(record["key"]))
            touched.update(t for r in query_all(client, old.passages, where, ["terms"]) for t in r["terms"].split())
            client.delete(old.passages, filter=where)
            client.delete(old.excerpts, filter=document_rows(int(record["key"]), "chunk_row"))
            client.delete(old.blobs, filter=f"name == {json.dumps(document_blob(record['doc_id']))}")
        for record in removed:
            client.delete(old.docs, ids=[record["doc_id"]])
        for doc in changed:
            touched |= staged.terms_of(doc)
        numbering = spare.numbering
        keys = {doc_id: int(r["key"]) for doc_id, r in published.items()}
        for doc in changed:
            if doc.doc_id not in keys:
                keys[doc.doc_id] = numbering.next_key
                numbering = replace(numbering, next_key=numbering.next_key + 1)
        dimensions, numbering = _update_terms(client, old, staged, touched, numbering)
        _add_documents(client, old, staged, changed, keys, dimensions, numbering.average_length)
        rewritten_ids = {d.doc_id for d in changed}
        _insert(client, old.docs, (row for row in (_doc_row(d, keys[d.doc_id]) for d in documents)
                                   if row["doc_id"] in rewritten_ids
                                   or published[row["doc_id"]]["entry"] != row["entry"]), upsert=True)
        for name in TABLES:
            client.delete(old.blobs, filter=f"name == {json.dumps(name)}")
        _write_tables(client, old, staged.store, numbering)
        _finish(client, old, staged, fingerprint, load=False)
        for new, was in zip(names.all, old.all):
            if new != was:
                client.rename_collection(was, new)
                client.load_collection(new)  # a renamed collection comes back released
    except BaseException:
        existing = set(client.list_collections())
        for name in {*old.all, *names.all} & existing:
            client.drop_collection(name)
        raise
    return True


def _update_terms(client: Any, names: VersionCollections, staged: StagedVersion, touched: set[str],
                  numbering: Numbering) -> tuple[dict[str, int], Numbering]:
    """Set the document frequencies of the `touched` terms as staged; new terms get the next
    dimensions, vanished ones are removed. Returns the dimensions of those still in use."""
    frequencies = staged.frequencies(touched)
    known: dict[str, int] = {}
    wanted = sorted(touched)
    for n in range(0, len(wanted), TERMS_ASKED):
        known.update((r["term"], int(r["dimension"])) for r in client.query(
            names.terms, filter=f"term in {json.dumps(wanted[n:n + TERMS_ASKED])}",
            output_fields=["term", "dimension"], limit=TERMS_ASKED, consistency_level="Strong"))
    dimensions, rows, gone = {}, [], []
    for term in wanted:
        if not frequencies[term]:
            if term in known:
                gone.append(term)
            continue
        if term not in known:
            known[term] = numbering.next_dimension
            numbering = replace(numbering, next_dimension=numbering.next_dimension + 1)
        dimensions[term] = known[term]
        rows.append({"term": term, "dimension": known[term], "df": frequencies[term], "placeholder": PLACEHOLDER})
    _insert(client, names.terms, rows, upsert=True)
    if gone:
        client.delete(names.terms, ids=gone)
    return dimensions, numbering


# -- shared by both ---------------------------------------------------------------------------


def _add_documents(client: Any, names: VersionCollections, staged: StagedVersion, documents: Iterable[StagedDocument],
                   keys: dict[str, int], dimensions: dict[str, int], average: float) -> None:
    """Insert these documents' passages, excerpt windows and texts."""
    passages: list[dict[str, Any]] = []
    excerpts: list[dict[str, Any]] = []
    for doc in documents:
        more_passages, more_excerpts = staged.rows_of(doc, keys[doc.doc_id], dimensions, average)
        passages += more_passages
        excerpts += more_excerpts
        _insert(client, names.blobs, _blob_rows(document_blob(doc.doc_id), staged.text(doc)))
        if len(passages) >= BATCH:
            _insert(client, names.passages, passages)
            passages = []
        if len(excerpts) >= BATCH:
            _insert(client, names.excerpts, excerpts)
            excerpts = []
    _insert(client, names.passages, passages)
    _insert(client, names.excerpts, excerpts)


def _doc_row(doc: StagedDocument, key: int) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "ordinal": int(doc.entry["ordinal"]), "key": key, "digest": doc.digest,
            "entry": doc.published_entry(key), "placeholder": PLACEHOLDER}


def _write_tables(client: Any, names: VersionCollections, store: IndexStore, numbering: Numbering) -> None:
    values = {"manifest": json.dumps(store.manifest, ensure_ascii=False),
              "acronyms": json.dumps(store.acronyms, ensure_ascii=False),
              "corpus_words": json.dumps(store.corpus_words, ensure_ascii=False),
              "layout": numbering.json()}
    _insert(client, names.blobs, (row for name in TABLES for row in _blob_rows(name, values[name])))


def _finish(client: Any, names: VersionCollections, staged: StagedVersion, fingerprint: str, load: bool) -> None:
    """Flush (and load) the collections, check they hold every passage, then mark the version complete."""
    for name in names.all:
        client.flush(name)
        if load:
            client.load_collection(name)
    counted = client.query(names.passages, filter="", output_fields=["count(*)"], consistency_level="Strong")
    if int(counted[0]["count(*)"]) != staged.store.size:
        raise IndexError_(f"{names.passages} holds {counted[0]['count(*)']} passages, not the "
                          f"{staged.store.size} staged; run the build again with --full")
    _insert(client, names.blobs, _blob_rows("fingerprint", fingerprint))
    client.flush(names.blobs)


def _blob_rows(name: str, value: str) -> list[dict[str, Any]]:
    return [{"key": f"{name}#{n}", "name": name, "part": n, "value": part, "placeholder": PLACEHOLDER}
            for n, part in enumerate(blob_parts(value))]


def _insert(client: Any, collection: str, rows: Iterable[dict[str, Any]], upsert: bool = False) -> None:
    """Insert (or upsert) rows, BATCH per request."""
    send = client.upsert if upsert else client.insert
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            send(collection, batch)
            batch = []
    if batch:
        send(collection, batch)


def _drop_old_versions(client: Any, alias: str, keep: set[str | None]) -> None:
    """Versions older than the previous one: no server reads them any more."""
    for version in versions_of(alias, client.list_collections()):
        if version.passages not in keep:
            for name in version.all:
                client.drop_collection(name)
