"""The collections one published version is made of: their names and schemas."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_MAX = 65_535  # bytes of a VARCHAR field (Milvus' limit)
BLOB_PART = 16_000  # characters of a long value per blobs row (at most 4 bytes each: under TEXT_MAX)
NO_TERMS = 2**31 - 1  # sparse dimension of a passage without terms (Milvus refuses an empty sparse vector)
PLACEHOLDER_DIM = 2  # Milvus wants a vector in every collection; the companion ones carry this unused one
PLACEHOLDER = [0.0] * PLACEHOLDER_DIM
LIMIT = 16_384  # Milvus' largest top-k and query window
FORMAT = 2  # of the collections a publish writes; a version without it is refused with the command that rewrites it
ROW_BITS = 20  # a document's passages are the rows key << ROW_BITS + n: numbered by document, stable across publishes
WINDOW_BITS = 12  # a passage's excerpt windows are keyed row << WINDOW_BITS + n
KEYS = 2 ** (63 - ROW_BITS - WINDOW_BITS)  # document keys that fit an INT64 excerpt key


def passage_row(key: int, n: int) -> int:
    """The row of the n-th passage of the document published under `key`."""
    if not 0 <= n < 2**ROW_BITS or not 0 <= key < KEYS:
        raise ValueError(f"passage {n} of document key {key} is beyond what the Milvus layout numbers")
    return (key << ROW_BITS) + n


def document_rows(key: int, field: str = "row") -> str:
    """A filter on `field` (a passage row) keeping the passages of the document published under `key`."""
    return f"{field} >= {passage_row(key, 0)} and {field} < {passage_row(key + 1, 0)}"


def excerpt_key(row: int, n: int) -> int:
    """The key of the n-th excerpt window of the passage at `row`."""
    if not 0 <= n < 2**WINDOW_BITS:
        raise ValueError(f"passage row {row} has more than {2**WINDOW_BITS} excerpt windows")
    return (row << WINDOW_BITS) + n


@dataclass(frozen=True)
class VersionCollections:
    """The names of one version's collections, all derived from the passages collection's."""

    passages: str

    @classmethod
    def of(cls, alias: str, version: str) -> VersionCollections:
        return cls(f"{alias}__{re.sub(r'[^A-Za-z0-9_]', '_', version)}")

    @property
    def excerpts(self) -> str:
        return f"{self.passages}__excerpts"

    @property
    def terms(self) -> str:
        return f"{self.passages}__terms"

    @property
    def docs(self) -> str:
        return f"{self.passages}__docs"

    @property
    def blobs(self) -> str:
        return f"{self.passages}__blobs"

    @property
    def all(self) -> tuple[str, ...]:
        return (self.passages, self.excerpts, self.terms, self.docs, self.blobs)


@dataclass(frozen=True)
class Numbering:
    """How a published version numbers what it holds, kept in its blobs as "layout": its BM25
    parameters (every passage's weights were normalised by this average length) and the next
    document key and term dimension to give out. A version without one was written in an older
    format."""

    k1: float
    b: float
    average_length: float
    next_key: int
    next_dimension: int
    format: int = FORMAT

    @classmethod
    def read(cls, client: Any, names: VersionCollections) -> Numbering | None:
        value = read_blob(client, names, "layout")
        if not value:
            return None
        numbering = cls(**json.loads(value))
        return numbering if numbering.format == FORMAT else None

    def json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def document_blob(doc_id: str) -> str:
    """The blob name of a document's text, blocks and pages."""
    return f"doc:{doc_id}"


def encode_windows(vectors: np.ndarray) -> str:
    """A passage's excerpt vectors as text (base64 of float32: exact), carried in its row so that
    reading the passage brings them; "" when they would not fit (then read from the excerpts collection)."""
    text = base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")
    return text if 0 < len(text) <= TEXT_MAX else ""


def decode_windows(text: str, windows: int, dimension: int) -> np.ndarray | None:
    """encode_windows undone; None when the row does not carry `windows` vectors."""
    if not text or not windows:
        return None
    vectors = np.frombuffer(base64.b64decode(text), dtype="<f4")
    return vectors.reshape(windows, dimension) if len(vectors) == windows * dimension else None


def blob_parts(value: str) -> list[str]:
    """A long value cut into parts that each fit a VARCHAR field (at least one part)."""
    return [value[i:i + BLOB_PART] for i in range(0, len(value), BLOB_PART)] or [""]


def read_parts(client: Any, collection: str, name: str) -> str | None:
    """The value stored as parts under `name` in `collection`, joined; None when there is none."""
    parts = client.query(collection, filter=f"name == {json.dumps(name)}", output_fields=["part", "value"],
                         limit=LIMIT)
    return "".join(p["value"] for p in sorted(parts, key=lambda p: p["part"])) if parts else None


def read_blob(client: Any, names: VersionCollections, name: str) -> str:
    """A long value of a published version ("" when it has none)."""
    return read_parts(client, names.blobs, name) or ""


def query_all(client: Any, collection: str, where: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row matching `where`, however many, read a window at a time."""
    iterator = client.query_iterator(collection, batch_size=4096, filter=where, output_fields=fields)
    rows: list[dict[str, Any]] = []
    try:
        while batch := iterator.next():
            rows.extend(batch)
    finally:
        iterator.close()
    return rows


def versions_of(alias: str, collections: list[str]) -> list[VersionCollections]:
    """The published versions of `alias` among a server's collections."""
    prefix = f"{alias}__v_"  # a version's token (not the archive beside them)
    return [VersionCollections(name) for name in collections
            if name.startswith(prefix) and "__" not in name[len(prefix):]]


def _schema(*fields: tuple[str, Any, dict[str, Any]]) -> Any:
    """A schema of these (name, type, options) fields, the first the primary key."""
    from pymilvus import MilvusClient

    made = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for n, (name, kind, options) in enumerate(fields):
        made.add_field(name, kind, is_primary=n == 0, **options)
    return made


def _indexes(client: Any, vector: str, metric: str = "IP", kind: str = "FLAT", sparse: str | None = None) -> Any:
    params = client.prepare_index_params()
    params.add_index(vector, index_type=kind, metric_type=metric)
    if sparse:
        params.add_index(sparse, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    return params


def _placeholder() -> tuple[str, Any, dict[str, Any]]:
    from pymilvus import DataType

    return ("placeholder", DataType.FLOAT_VECTOR, {"dim": PLACEHOLDER_DIM})


def create(client: Any, names: VersionCollections, dimension: int, dense_index: str = "FLAT") -> None:
    """Create the empty collections of a version, with their indexes (`dense_index`: FLAT, HNSW, ...)."""
    from pymilvus import DataType

    text = {"max_length": TEXT_MAX}
    client.create_collection(names.passages, schema=_schema(
        ("row", DataType.INT64, {}), ("chunk_id", DataType.VARCHAR, {"max_length": 1024}),
        ("doc", DataType.INT64, {}), ("role", DataType.VARCHAR, {"max_length": 64}),
        ("data", DataType.VARCHAR, text), ("terms", DataType.VARCHAR, text), ("windows", DataType.VARCHAR, text),
        ("dense", DataType.FLOAT_VECTOR, {"dim": dimension}), ("sparse", DataType.SPARSE_FLOAT_VECTOR, {}),
    ), index_params=_indexes(client, "dense", kind=dense_index, sparse="sparse"))
    client.create_collection(names.excerpts, schema=_schema(
        ("excerpt", DataType.INT64, {}), ("chunk_row", DataType.INT64, {}),
        ("vector", DataType.FLOAT_VECTOR, {"dim": dimension}),
    ), index_params=_indexes(client, "vector"))
    client.create_collection(names.terms, schema=_schema(
        ("term", DataType.VARCHAR, {"max_length": 1024}), ("dimension", DataType.INT64, {}),
        ("df", DataType.INT64, {}), _placeholder(),
    ), index_params=_indexes(client, "placeholder", metric="L2"))
    client.create_collection(names.docs, schema=_schema(
        ("doc_id", DataType.VARCHAR, {"max_length": 1024}), ("ordinal", DataType.INT64, {}),
        ("key", DataType.INT64, {}), ("digest", DataType.VARCHAR, {"max_length": 64}),
        ("entry", DataType.VARCHAR, text), _placeholder(),
    ), index_params=_indexes(client, "placeholder", metric="L2"))
    client.create_collection(names.blobs, schema=_schema(
        ("key", DataType.VARCHAR, {"max_length": 1200}), ("name", DataType.VARCHAR, {"max_length": 1100}),
        ("part", DataType.INT64, {}), ("value", DataType.VARCHAR, text), _placeholder(),
    ), index_params=_indexes(client, "placeholder", metric="L2"))


def create_archive(client: Any, collection: str) -> None:
    """Create the passage archive beside an index (milvus/archive.py), loaded and empty."""
    from pymilvus import DataType

    client.create_collection(collection, schema=_schema(
        ("key", DataType.VARCHAR, {"max_length": 2200}), ("name", DataType.VARCHAR, {"max_length": 2100}),
        ("doc_id", DataType.VARCHAR, {"max_length": 1024}), ("part", DataType.INT64, {}),
        ("indexed_at", DataType.VARCHAR, {"max_length": 64}), ("value", DataType.VARCHAR, {"max_length": TEXT_MAX}),
        _placeholder(),
    ), index_params=_indexes(client, "placeholder", metric="L2"))
    client.load_collection(collection)
