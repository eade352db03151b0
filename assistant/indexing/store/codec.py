"""Documents, chunks and build failures as JSON: the columns of store.sqlite, the passage
archive's files (archive.py) and the Milvus collections (milvus/) all hold these shapes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ...types import Block, Chunk, Document, DocumentMeta, FileFailure, PageSpan, Sentence
from .records import DocumentEntry, StoredDocument


def entry_from_row(row: Sequence[Any]) -> DocumentEntry:
    """A DocumentEntry from its columns, ENTRY_COLUMNS in order."""
    ordinal, doc_id, path, kind, meta, content_hash, file_sha256, meta_entry, first_row, end_row = row
    return DocumentEntry(int(ordinal), doc_id, path, kind, DocumentMeta(**json.loads(meta)), content_hash,
                         file_sha256, json.loads(meta_entry), int(first_row), int(end_row))


def stored_document(entry: DocumentEntry, text: str, blocks: str, pages: str) -> StoredDocument:
    """A document from its entry, its text, and its blocks and pages as stored (JSON)."""
    document = Document(doc_id=entry.doc_id, path=entry.path, meta=entry.meta, text=text,
                        content_hash=entry.content_hash, blocks=blocks_from_json(json.loads(blocks)),
                        pages=pages_from_json(json.loads(pages)), kind=entry.kind)
    return StoredDocument(document, entry.file_sha256, entry.meta_entry)


def document_to_json(doc: Document) -> dict[str, Any]:
    """A document with its text and structure, as archive.py keeps it."""
    return {
        "doc_id": doc.doc_id, "path": doc.path, "kind": doc.kind, "meta": asdict(doc.meta),
        "content_hash": doc.content_hash,
        "pages": pages_to_json(doc.pages),
        "blocks": blocks_to_json(doc.blocks),
        "text": doc.text,
    }


def document_from_json(item: dict[str, Any]) -> Document:
    """A document as document_to_json wrote it."""
    return Document(
        doc_id=item["doc_id"], path=item["path"], meta=DocumentMeta(**item["meta"]),
        text=item["text"], content_hash=item["content_hash"],
        blocks=blocks_from_json(item["blocks"]), pages=pages_from_json(item["pages"]), kind=item["kind"],
    )


def blocks_to_json(blocks: Sequence[Block]) -> list[list[Any]]:
    """[start, end, role, page] of each block."""
    return [[b.start, b.end, b.role, b.page] for b in blocks]


def blocks_from_json(blocks: Sequence[Sequence[Any]]) -> tuple[Block, ...]:
    return tuple(Block(*b) for b in blocks)


def pages_to_json(pages: Sequence[PageSpan]) -> list[list[Any]]:
    """[number, start, end], and true at the end of a page read by OCR."""
    return [[p.number, p.start, p.end, *([True] if p.ocr else [])] for p in pages]


def pages_from_json(pages: Sequence[Sequence[Any]]) -> tuple[PageSpan, ...]:
    return tuple(PageSpan(*p) for p in pages)


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    """A chunk's fields, its sentences as [start, end, paragraph, page]."""
    data = asdict(chunk)
    data["sentences"] = [[s.start, s.end, s.paragraph, s.page] for s in chunk.sentences]
    return data


def chunk_from_json(data: dict[str, Any]) -> Chunk:
    """A chunk as chunk_to_json wrote it (one stored without excerpts has none)."""
    data = dict(data)
    data["sentences"] = tuple(Sentence(*s) for s in data["sentences"])
    data["excerpts"] = tuple((int(a), int(b)) for a, b in data.get("excerpts", ()))
    data["excerpt_texts"] = tuple(data.get("excerpt_texts", ()))
    return Chunk(**data)


def failures_to_json(failures: list[FileFailure]) -> list[dict[str, str]]:
    """The files a build could not read, and why, as the manifest lists them."""
    return [{"path": f.path, "reason": f.reason} for f in failures]
