"""Pass 1 of a build: the documents of the new version, from a corpus folder or given one by one.

Each document is either unchanged since the served version (kept: its rows are reused) or written
into the new version now; the corpus's words (for the glued-word splitter) and the acronyms it
defines (for keyword search) are gathered on the way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tqdm import tqdm

from ...config import Settings
from ...errors import CorpusError
from ...ingest.documents import SourceFile, discover
from ...types import Document, FileFailure
from ..acronyms import find_acronyms
from ..archive import record_versions
from ..embedding import Embedder
from ..store import DocumentEntry, StoredDocument, VersionWriter
from .model import corpus_words
from .reuse import PlannedDocument, ServedVersion, VersionPlan, plan_version
from .workers import RemoteTasks, closing_pool, in_order, parse, workers_for


@dataclass
class CorpusTables:
    """The corpus's words and the acronyms it defines, gathered as documents are read."""

    words: set[str]
    acronyms: dict[str, str]

    @classmethod
    def of_served(cls, served: ServedVersion | None) -> CorpusTables:
        """To start from: unchanged documents' words and acronyms come from the served version's tables."""
        if served is None or not served.reuse_documents:
            return cls(set(), {})
        return cls(set(served.store.corpus_words), dict(served.store.acronyms))

    def add(self, doc: Document) -> None:
        self.words |= corpus_words(doc.text)
        for acronym, expansion in find_acronyms([doc.text]).items():
            self.acronyms.setdefault(acronym, expansion)


@dataclass
class ReadOutcome:
    """What reading a source gave: the documents planned, in order, and what became of each input."""

    planned: list[PlannedDocument] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)


class DocumentSource(Protocol):
    """Where a build's documents come from. plan() comes before each read(), which may use what
    plan() found (a corpus folder's files and which of them are unchanged)."""

    with_excerpts: bool  # embed excerpt windows too (answers quote better with them)
    read_again: bool  # can be read a second time (a build may start over to write a whole version)

    def plan(self, settings: Settings, served: ServedVersion | None, overlays: bool) -> VersionPlan:
        """Whole version or overlay, from what the source can tell before it is read."""

    def read(self, settings: Settings, embedder: Embedder, remote: RemoteTasks | None, writer: VersionWriter,
             served: ServedVersion | None, plan: VersionPlan, tables: CorpusTables) -> ReadOutcome:
        """Write the new and changed documents into `writer`, gathering `tables`; plan the kept ones."""


@dataclass
class OcrProgress:
    """Pages read by OCR so far in a build, and how fast, for the progress bar."""

    pages: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, doc: Document) -> bool:
        """Count a document's OCR pages; True when it had any."""
        count = sum(1 for page in doc.pages if page.ocr)
        self.pages += count
        return count > 0

    def describe(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return f"OCR {self.pages} page{'s' if self.pages != 1 else ''}, {self.pages / elapsed:.2f} pages/s"


class CorpusFolder:
    """The files of settings.corpus_dir, parsed in worker processes; a file is unchanged when its
    content hash, its metadata entry and its document id are."""

    with_excerpts = True
    read_again = True

    def __init__(self) -> None:
        self._files: list[SourceFile] = []
        self._skipped: list[FileFailure] = []
        self._kept: dict[str, DocumentEntry] = {}  # by path: files unchanged since the served version

    def plan(self, settings: Settings, served: ServedVersion | None, overlays: bool) -> VersionPlan:
        files, skipped = discover(settings.corpus_dir)
        self._files, self._skipped = files, [FileFailure(path, reason) for path, reason in skipped]
        old_by_path = {e.path: e for e in served.store.entries.values()} \
            if served and served.reuse_documents else {}
        self._kept = {}
        for source in files:
            old = old_by_path.get(source.relpath)
            if old and old.file_sha256 == source.sha256 and old.meta_entry == source.meta \
                    and old.doc_id == source.doc_id:
                self._kept[source.relpath] = old
        return plan_version(settings, served, {e.doc_id for e in self._kept.values()},
                            len(files) - len(self._kept), overlays)

    def read(self, settings: Settings, embedder: Embedder, remote: RemoteTasks | None, writer: VersionWriter,
             served: ServedVersion | None, plan: VersionPlan, tables: CorpusTables) -> ReadOutcome:
        files, kept = self._files, self._kept
        found = ReadOutcome(failures=list(self._skipped))
        was_indexed = {e.path for e in served.store.entries.values()} if served else set()
        workers = workers_for(settings, embedder, len(files) - len(kept), remote)
        # PDFs to read may hold scans: OCR takes seconds a page, so its progress is shown.
        shown = settings.progress and (len(files) > 20 or any(
            s.path.suffix.lower() == ".pdf" and s.relpath not in kept for s in files))
        ocr = OcrProgress()
        with closing_pool(workers.pool()) as executor:
            reading = tqdm(in_order(files, functools.partial(parse, ocr=settings.ocr), executor,
                                    ready=lambda s: kept.get(s.relpath)),
                           total=len(files), desc="reading", unit="file", disable=not shown, file=sys.stderr)
            for source, result in reading:
                if isinstance(result, Document) and ocr.add(result):
                    reading.set_postfix_str(ocr.describe(), refresh=False)
                if isinstance(result, DocumentEntry) and served is not None:
                    plan.keep(writer, served, result, found.planned)
                    found.unchanged.append(source.relpath)
                elif isinstance(result, str):
                    found.failures.append(FileFailure(source.relpath, result))
                elif isinstance(result, Document):
                    writer.add_document(StoredDocument(result, source.sha256, dict(source.meta)))
                    # Passage ids of this version must resolve forever, even after the document changes.
                    record_versions(settings.index_dir, [result])
                    tables.add(result)
                    found.planned.append(PlannedDocument(result.doc_id))
                    (found.changed if source.relpath in was_indexed else found.added).append(source.relpath)
        present = {f.relpath for f in files}
        found.removed = sorted(p for p in was_indexed if p not in present)
        if not found.planned and not plan.left_in_base:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in found.failures) or "the folder is empty"
            raise CorpusError(f"{settings.corpus_dir}: nothing could be indexed ({reasons})")
        return found


class DocumentStream:
    """Documents that are not files in a corpus folder (a BEIR data set, say), read once as they
    come; a document is unchanged when its content hash and metadata are."""

    read_again = False

    def __init__(self, documents: Iterable[Document], with_excerpts: bool = False) -> None:
        self.documents = documents
        self.with_excerpts = with_excerpts

    def plan(self, settings: Settings, served: ServedVersion | None, overlays: bool) -> VersionPlan:
        # Read once, as they come: an overlay is written when the served index is large, however
        # much turns out to have changed (the next build writes whole if too much did).
        return plan_version(settings, served, overlays=overlays)

    def read(self, settings: Settings, embedder: Embedder, remote: RemoteTasks | None, writer: VersionWriter,
             served: ServedVersion | None, plan: VersionPlan, tables: CorpusTables) -> ReadOutcome:
        old = served.store.entries if served and served.reuse_documents else {}
        found = ReadOutcome()
        for doc in self.documents:
            meta_json = json.dumps(dataclasses.asdict(doc.meta), sort_keys=True)
            key = hashlib.sha256(f"{doc.content_hash}:{meta_json}".encode()).hexdigest()
            prior = old.get(doc.doc_id)
            if prior is not None and prior.file_sha256 == key and served is not None:
                plan.keep(writer, served, prior, found.planned)
                found.unchanged.append(doc.path)
            else:
                writer.add_document(StoredDocument(doc, key, {}))
                tables.add(doc)
                found.planned.append(PlannedDocument(doc.doc_id))
        found.unchanged.sort()
        return found
