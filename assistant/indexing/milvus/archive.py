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
from .layout import LIMIT, PLACEHOLDER, blob_parts, create_archive, query_all, read_parts


def archive_name(alias: str) -> str:
    return f"{alias}__archive"


def version_name(doc_id: str, version: str) -> str:
    """A kept version's name in the archive."""
    return f"{doc_id}@{version}"


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
            name = version_name(doc_id, version)
        return read_parts(self.client, self.collection, name)


def publish_archive(client: Any, alias: str, kept: ArchiveFolder) -> int:
    """Add the versions `kept` holds that the Milvus archive lacks; returns how many were added."""
    collection = archive_name(alias)
    if not client.has_collection(collection):
        create_archive(client, collection)
    have = {r["name"] for r in query_all(client, collection, "part == 0", ["name"])}
    added = 0
    rows: list[dict[str, Any]] = []
    for folder, version, path in kept.kept():
        if version_name(folder, version) in have:  # published already: not read again (its id needed no making safe)
            continue
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        name = version_name(data["doc_id"], data["version"])
        if name in have:
            continue
        have.add(name)
        added += 1
        rows.extend({"key": f"{name}#{n}", "name": name, "doc_id": data["doc_id"], "part": n,
                     "indexed_at": str(data.get("indexed_at", "")), "value": part, "placeholder": PLACEHOLDER}
                    for n, part in enumerate(blob_parts(text)))
        if len(rows) >= 256:
            client.insert(collection, rows)
            rows = []
    if rows:
        client.insert(collection, rows)
    client.flush(collection)
    return added
