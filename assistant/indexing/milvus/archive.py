"""The passage archive beside a Milvus index: every document version ever published, so that
passage ids resolve on any chat server, not only on the machine that built the index.

    COLLECTION__archive   one row per part of a kept version (its JSON, BLOB_PART characters a
                          part): name "doc_id@version", the document id, when it was indexed

Unlike a version's collections it is never replaced: a publish adds the versions it lacks.
"""

from __future__ import annotations

import json
from typing import Any

from ..archive import ArchiveFolder
from .layout import BLOB_PART, PLACEHOLDER_DIM, TEXT_MAX

_PLACEHOLDER = [0.0] * PLACEHOLDER_DIM
LIMIT = 16_384


def archive_name(alias: str) -> str:
    return f"{alias}__archive"


class MilvusArchive:
    """The versions kept beside the index `alias` names (archive.ArchivedVersions)."""

    def __init__(self, client: Any, alias: str) -> None:
        self.client = client
        self.collection = archive_name(alias)

    def read(self, doc_id: str, version: str) -> str | None:
        if not self.client.has_collection(self.collection):
            return None  # no archive published yet
        if not version:  # the last one kept
            firsts = self.client.query(self.collection, filter=f"doc_id == {json.dumps(doc_id)} and part == 0",
                                       output_fields=["name", "indexed_at"], limit=LIMIT)
            if not firsts:
                return None
            name = max(firsts, key=lambda r: r["indexed_at"])["name"]
        else:
            name = f"{doc_id}@{version}"
        parts = self.client.query(self.collection, filter=f"name == {json.dumps(name)}",
                                  output_fields=["part", "value"], limit=LIMIT)
        return "".join(p["value"] for p in sorted(parts, key=lambda p: p["part"])) if parts else None


def publish_archive(client: Any, alias: str, kept: ArchiveFolder) -> int:
    """Add the versions `kept` holds that the Milvus archive lacks; returns how many were added."""
    collection = archive_name(alias)
    if not client.has_collection(collection):
        _create(client, collection)
    have: set[str] = set()
    iterator = client.query_iterator(collection, batch_size=4096, filter="part == 0", output_fields=["name"])
    try:
        while batch := iterator.next():
            have.update(r["name"] for r in batch)
    finally:
        iterator.close()
    added, rows = 0, []
    for text in kept.kept():
        data = json.loads(text)
        name = f"{data['doc_id']}@{data['version']}"
        if name in have:
            continue
        have.add(name)
        added += 1
        for n, start in enumerate(range(0, max(len(text), 1), BLOB_PART)):
            rows.append({"key": f"{name}#{n}", "name": name, "doc_id": data["doc_id"], "part": n,
                         "indexed_at": str(data.get("indexed_at", "")), "value": text[start:start + BLOB_PART],
                         "placeholder": _PLACEHOLDER})
        if len(rows) >= 256:
            client.insert(collection, rows)
            rows = []
    if rows:
        client.insert(collection, rows)
    client.flush(collection)
    return added


def _create(client: Any, collection: str) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=2200)
    schema.add_field("name", DataType.VARCHAR, max_length=2100)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("part", DataType.INT64)
    schema.add_field("indexed_at", DataType.VARCHAR, max_length=64)
    schema.add_field("value", DataType.VARCHAR, max_length=TEXT_MAX)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
    params = client.prepare_index_params()
    params.add_index("placeholder", index_type="FLAT", metric_type="L2")
    client.create_collection(collection, schema=schema, index_params=params)
    client.load_collection(collection)
