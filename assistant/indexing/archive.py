"""Every document version an index has served, kept so that passage ids resolve forever.

    <index>/passages/<doc_id>/<version>.json   the version's text, paragraphs and metadata

Written by each corpus build for the versions it has not seen (a few files per build);
never removed by a rebuild, so an id from last month's briefing still shows the text it
named, says whether its document has changed or gone, and where that text is now.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..atomic import write_atomically
from ..errors import PassageIdError
from ..ingest.passages import (
    PassageRef,
    document_version,
    find_paragraph,
    format_passage_id,
    numbered_paragraphs,
    paragraph_at,
    parse_passage_id,
)
from ..ingest.textnorm import sentence_spans
from ..types import Citation, Document, Paragraph
from .store import document_from_json, document_to_json

ARCHIVE_DIR = "passages"


@dataclass(frozen=True)
class Relocation:
    """Quoted text of a stale passage found in the current version of its document."""

    passage_id: str  # the current id of the paragraph where it now stands
    text: str  # the part of the old paragraph found there (the whole of it, or sentences)
    start: int
    end: int


@dataclass(frozen=True)
class PassageView:
    """What `assistant show ID` prints: the passage as its version had it, with context."""

    asked: str
    passage_id: str  # the full id, version included
    status: str  # "current", "changed" (the document has another version now) or "removed"
    document: Document  # the version the id names
    paragraph: Paragraph
    before: Paragraph | None
    after: Paragraph | None
    indexed_at: str = ""
    relocations: tuple[Relocation, ...] = ()
    whole: bool = False  # the whole paragraph still occurs in the current version

    @property
    def text(self) -> str:
        return self.document.text[self.paragraph.start:self.paragraph.end]

    def as_citation(self) -> Citation:
        """The whole paragraph as a citation, for its reference."""
        doc, para = self.document, self.paragraph
        return Citation(
            n=1, chunk_id="", doc_id=doc.doc_id, meta=doc.meta,
            page=para.page if doc.kind == "pdf" else None, paragraph=para.number, excerpt=self.text,
            start=para.start, end=para.end, score=0.0, path=doc.path,
            passage_id=self.passage_id, ocr=doc.read_by_ocr(para.page))


class ArchivedVersions(Protocol):
    """Where the document versions an index has served are kept."""

    def read(self, doc_id: str, version: str) -> str | None:
        """A version as kept (JSON); version "" for the last one kept; None when none is."""


class ArchiveFolder:
    """The versions kept in an index folder (<index>/passages/), as builds record them."""

    def __init__(self, index_dir: Path) -> None:
        self.folder = index_dir / ARCHIVE_DIR

    def read(self, doc_id: str, version: str) -> str | None:
        folder = self.folder / _safe(doc_id)
        if version:
            path = folder / f"{version}.json"
        else:  # no version given (the document is gone): the last version seen is the best guess
            kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
            if not kept:
                return None
            path = kept[-1]
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PassageIdError(f"{path}: the archived version is unreadable ({exc})") from exc

    def kept(self) -> Iterator[tuple[str, str, Path]]:
        """Every version kept, oldest first, as (document folder, version, its file): what a
        publish copies beside a Milvus index. The folder is the document's id made safe for a
        file name (the file's JSON has the id itself)."""
        paths = sorted(self.folder.glob("*/*.json"), key=lambda p: p.stat().st_mtime) if self.folder.is_dir() else []
        for path in paths:
            yield path.parent.name, path.stem, path


def record_versions(index_dir: Path, documents: list[Document]) -> int:
    """Keep a copy of each document version not kept yet; returns how many were written."""
    written = 0
    for doc in documents:
        path = index_dir / ARCHIVE_DIR / _safe(doc.doc_id) / f"{document_version(doc)}.json"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(_to_json(doc), ensure_ascii=False).encode("utf-8"))
        written += 1
    return written


def resolve(archive: ArchivedVersions, current: dict[str, Document], passage_id: str) -> PassageView:
    """The passage an id names, in the version it names (earlier versions from `archive`); stale
    ids are marked and relocated."""
    ref = parse_passage_id(passage_id)
    now = current.get(ref.doc_id)
    if now is not None and ref.version in ("", document_version(now)):
        return _view(passage_id, ref, now, "current", "")
    cited, indexed_at = _archived(archive, ref, now)
    if now is None:
        return _view(passage_id, ref, cited, "removed", indexed_at)
    view = _view(passage_id, ref, cited, "changed", indexed_at)
    relocations, whole = relocate(view.text, now)
    return dataclasses.replace(view, relocations=relocations, whole=whole)


def relocate(old_text: str, now: Document) -> tuple[tuple[Relocation, ...], bool]:
    """Where the old paragraph's text stands in the new version: whole, else sentence by sentence."""
    paragraphs = numbered_paragraphs(now)
    found = _find(now.text, old_text)
    if found is not None:
        return (_relocation(now, paragraphs, *found),), True
    out = []
    for a, b in sentence_spans(old_text, 0, len(old_text), True):
        sentence = old_text[a:b]
        if len(sentence.split()) < 4:
            continue  # "Yes." occurs anywhere; only say where real sentences went
        spot = _find(now.text, sentence)
        if spot is not None:
            out.append(_relocation(now, paragraphs, *spot))
    return tuple(out), False


def _view(asked: str, ref: PassageRef, doc: Document, status: str, indexed_at: str) -> PassageView:
    paragraphs = numbered_paragraphs(doc)
    page = ref.page if doc.kind == "pdf" else None
    if doc.kind == "pdf" and ref.page is None:
        raise PassageIdError(f"{asked}: {doc.doc_id} is a PDF; its ids name a page too, as in "
                             f"{format_passage_id(doc.doc_id, 1, 1)}")
    paragraph = find_paragraph(paragraphs, page, ref.paragraph)
    if paragraph is None:
        last = paragraphs[-1] if paragraphs else None
        has = f"; its last paragraph is {format_passage_id(doc.doc_id, last.page if page else None, last.number)}" \
            if last else ""
        raise PassageIdError(f"{asked}: {doc.doc_id} has no paragraph {ref.label}{has}")
    position = paragraphs.index(paragraph)
    return PassageView(
        asked=asked,
        passage_id=format_passage_id(doc.doc_id, page, paragraph.number, document_version(doc)),
        status=status, document=doc, paragraph=paragraph,
        before=paragraphs[position - 1] if position > 0 else None,
        after=paragraphs[position + 1] if position + 1 < len(paragraphs) else None,
        indexed_at=indexed_at,
    )


def _archived(archive: ArchivedVersions, ref: PassageRef, now: Document | None) -> tuple[Document, str]:
    text = archive.read(ref.doc_id, ref.version)
    if text is None and not ref.version:
        raise PassageIdError(f"{ref}: no document {ref.doc_id!r} in this index, now or before")
    if text is None:
        where = "its current version differs" if now is not None else "it is not in the index"
        raise PassageIdError(f"{ref}: this index has never seen version {ref.version} of "
                             f"{ref.doc_id!r} ({where}); was the id made with another index?")
    try:
        data = json.loads(text)
        return document_from_json(data), str(data.get("indexed_at", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise PassageIdError(f"{ref}: the archived version is unreadable ({exc})") from exc


def _find(text: str, needle: str) -> tuple[int, int] | None:
    """Where `needle` occurs in `text`, whitespace differences allowed."""
    words = needle.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def _relocation(doc: Document, paragraphs: tuple[Paragraph, ...], start: int, end: int) -> Relocation:
    para = paragraph_at(paragraphs, start)
    pid = format_passage_id(doc.doc_id, para.page if doc.kind == "pdf" else None, para.number,
                            document_version(doc)) if para else ""
    return Relocation(pid, doc.text[start:end], start, end)


def _safe(doc_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", doc_id)


def _to_json(doc: Document) -> dict[str, Any]:
    return {**document_to_json(doc), "version": document_version(doc),
            "indexed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
