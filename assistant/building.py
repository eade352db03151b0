"""Corpus -> a new index version, streamed: parse, chunk, embed in batches, write as it goes.

Two passes, so that memory does not grow with the corpus:
1. every file is parsed (or, unchanged since the served build, taken from it) and its text
   written into the new version; the corpus's words (for the glued-word splitter) and the
   acronyms it defines (for keyword search) are gathered on the way;
2. each document is read back, chunked, and its chunks queued; a full queue is embedded in
   one batch and written. Unchanged documents keep their chunks, vectors and terms.
Any vector whose exact input text the served build already embedded is reused, not encoded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .answer.acronyms import find_acronyms
from .answer.retrieval import chunk_keyword_terms
from .config import Settings
from .errors import CorpusError, IndexError_, IndexMismatchError
from .indexing import store as index_store
from .indexing import vectors as vector_index
from .indexing.archive import record_versions
from .indexing.embedding import Embedder, SentenceTransformerEmbedder
from .indexing.keyword import AVERAGE_DRIFT
from .indexing.layered import LayeredStore, overlay_over
from .indexing.layered import load as load_served
from .indexing.opening import publish_if_asked
from .indexing.store import DocumentEntry, IndexIdentity, IndexStore, Overlay, StoredDocument, VersionWriter, embed_key
from .ingest.chunking import CHUNKING_VERSION, ChunkingParams, TokenCounter
from .ingest.documents import discover
from .ingest.textnorm import GlueSplitter, words
from .types import BuildReport, Chunk, Document, FileFailure
from .workers import Chunker, chunk_in_worker, chunker_file, in_order, parse, pool, start_chunker, worker_count

Progress = Callable[[str], None]

_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()
QUEUE_TEXTS = 2048  # texts (chunks and their excerpts) embedded per batch of documents


@dataclass
class OcrRate:
    """Pages read by OCR so far in a build, and how fast, for the progress bar."""

    pages: int = 0
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def add(self, doc: Document) -> bool:
        """Count a document's OCR pages; True when it had any."""
        count = sum(1 for page in doc.pages if page.ocr)
        self.pages += count
        return count > 0

    def describe(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return f"OCR {self.pages} page{'s' if self.pages != 1 else ''}, {self.pages / elapsed:.2f} pages/s"


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per process, model name, precision and device."""
    key = f"{settings.model}|{settings.precision}|{settings.device}"
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(settings.model, settings.precision, settings.device)
        return _EMBEDDERS[key]


def identity_for(settings: Settings, embedder: Embedder) -> IndexIdentity:
    return IndexIdentity(model=settings.model, dimension=embedder.dimension,
                         chunking_version=CHUNKING_VERSION, max_chunk_tokens=settings.max_chunk_tokens)


def corpus_words(text: str) -> set[str]:
    """The words of a text the glued-word splitter may split into."""
    return {w for w in words(text) if w.isalpha() and len(w) < 20}


def make_splitter(embedder: Embedder, texts: Sequence[str] = (), known: Iterable[str] = ()) -> GlueSplitter:
    """Glued-word splitter knowing the model's words and the corpus's own (from `texts`, or `known`)."""
    found = set(known).union(*(corpus_words(t) for t in texts))
    return GlueSplitter(list(embedder.vocabulary()) + sorted(found))


@dataclass(frozen=True)
class Previous:
    """The served version a build reuses: documents by path when its settings match, vectors always."""

    store: IndexStore | LayeredStore
    reuse_documents: bool

    def layer(self, doc_id: str) -> tuple[IndexStore, DocumentEntry] | None:
        """The version folder that holds a served document, and its entry there."""
        if isinstance(self.store, LayeredStore):
            return self.store.layer(doc_id)
        entry = self.store.entries.get(doc_id)
        return (self.store, entry) if entry is not None else None


@dataclass(frozen=True)
class Planned:
    """A document of the version being written: parsed now, or `kept` from the served one (its
    entry in `source`, the version folder that holds it)."""

    doc_id: str
    kept: DocumentEntry | None = None
    source: IndexStore | None = None


class _WriteWhole(Exception):
    """An overlay cannot be written (the corpus defines new acronyms: every passage's terms change)."""


@dataclass
class Layering:
    """What a build writes: a whole version (unchanged documents' rows copied from `source`), or
    an overlay over `base` holding only what changed (documents the base still serves unchanged,
    `in_base`, are not written)."""

    source: IndexStore | None
    base: IndexStore | None = None
    in_base: set[str] = dataclasses.field(default_factory=set)

    def keep(self, writer: VersionWriter, previous: Previous, entry: DocumentEntry, planned: list[Planned]) -> None:
        """An unchanged document: left in the base, copied from the source, or re-written from the
        layer that holds it (its vectors and terms reused)."""
        found = previous.layer(entry.doc_id)
        assert found is not None
        layer, local = found
        if layer is self.base:
            self.in_base.add(entry.doc_id)
            return
        if layer is self.source:
            writer.copy_document(layer, local)
        else:
            writer.add_document(layer.documents[local.doc_id])
        planned.append(Planned(local.doc_id, local, layer))

    def overlay(self, stale_terms: bool = False) -> Overlay | None:
        """What the overlay records (None: a whole version); `stale_terms`: the base's passages kept
        terms made before the corpus defined new acronyms (the next build writes whole)."""
        if self.base is None:
            return None
        return overlay_over(self.base, (d for d in self.base.entries if d not in self.in_base), stale_terms)


def layering_for(settings: Settings, previous: Previous | None, kept: Iterable[str] | None = None,
                 changed: int = 0, overlays: bool = True) -> Layering:
    """Whether this build writes an overlay: the served index is large (settings.overlay_above),
    the build keeps its settings, and what changed (the `kept` documents known, `changed` files to
    read) plus any earlier overlay stays within settings.overlay_share of the base."""
    if previous is None:
        return Layering(None)
    store = previous.store
    base = store.base if isinstance(store, LayeredStore) else store
    whole = Layering(base)
    if not overlays or not previous.reuse_documents or settings.store or settings.overlay_share <= 0 \
            or base.size <= settings.overlay_above:
        return whole
    if isinstance(store, LayeredStore) and (store.drift >= AVERAGE_DRIFT or store.stale_terms or int(
            store.hidden.sum()) + store.overlay.size > settings.overlay_share * base.size):
        return whole
    source = store.overlay if isinstance(store, LayeredStore) else None
    if kept is not None:
        kept = set(kept)
        staying = {d for d in kept if (found := previous.layer(d)) and found[0] is base}
        replaced = sum(e.end_row - e.first_row for d, e in base.entries.items() if d not in staying)
        copied = sum(e.end_row - e.first_row for d, e in store.entries.items() if d in kept and d not in staying)
        if replaced + copied > settings.overlay_share * base.size \
                or changed > settings.overlay_share * len(base.entries):
            return whole
    return Layering(source, base)


@dataclass
class _Gathered:
    """What pass 1 learns about the corpus as it goes."""

    words: set[str]
    acronyms: dict[str, str]

    def add(self, doc: Document) -> None:
        self.words |= corpus_words(doc.text)
        for acronym, expansion in find_acronyms([doc.text]).items():
            self.acronyms.setdefault(acronym, expansion)


def build_index(settings: Settings, full: bool = False, embedder: Embedder | None = None,
                progress: Progress | None = None) -> BuildReport:
    """Incremental build: re-parse and re-embed only what changed, then swap atomically (and
    publish to settings.store); in a Ray cluster when settings.ray names one.

    Raises CorpusError when no document at all could be indexed.
    """
    with spread(settings, embedder or get_embedder(settings)) as used:
        return _build_index(settings, full, used, progress)


def _build_index(settings: Settings, full: bool, embedder: Embedder, progress: Progress | None) -> BuildReport:
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    identity = identity_for(settings, embedder)
    with index_store.build_lock(settings.index_dir):
        previous = previous_version(settings, identity, full, say)
        try:
            report = _write_corpus(settings, embedder, identity, previous, started, say, overlays=True)
        except _WriteWhole:
            say("the corpus defines new acronyms: every passage's keyword terms are made again")
            report = _write_corpus(settings, embedder, identity, previous, started, say, overlays=False)
        publish_if_asked(settings, say, full)
    return report


def _write_corpus(settings: Settings, embedder: Embedder, identity: IndexIdentity, previous: Previous | None,
                  started: float, say: Progress, overlays: bool) -> BuildReport:
    """Read the corpus folder and write a version: whole, or an overlay over the served one."""
    files, skipped = discover(settings.corpus_dir)
    failures = [FileFailure(path, reason) for path, reason in skipped]
    was_indexed = {e.path for e in previous.store.entries.values()} if previous else set()
    old_by_path = {e.path: e for e in previous.store.entries.values()} \
        if previous and previous.reuse_documents else {}
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    kept_by_path: dict[str, DocumentEntry] = {}
    for source in files:
        old = old_by_path.get(source.relpath)
        if old and old.file_sha256 == source.sha256 and old.meta_entry == source.meta \
                and old.doc_id == source.doc_id:
            kept_by_path[source.relpath] = old
    layering = layering_for(settings, previous, {e.doc_id for e in kept_by_path.values()},
                            len(files) - len(kept_by_path), overlays)
    with VersionWriter(settings.index_dir, identity.dimension) as writer:
        gathered = _start_gathering(previous)
        planned: list[Planned] = []
        workers = workers_for(settings, embedder, len(files) - len(kept_by_path))
        # PDFs to read may hold scans: OCR takes seconds a page, so its progress is shown.
        shown = settings.progress and (len(files) > 20 or any(
            s.path.suffix.lower() == ".pdf" and s.relpath not in kept_by_path for s in files))
        ocr_rate = OcrRate()
        with closing_pool(workers.pool()) as executor:
            reading = tqdm(in_order(files, functools.partial(parse, ocr=settings.ocr), executor,
                                    ready=lambda s: kept_by_path.get(s.relpath)),
                           total=len(files), desc="reading", unit="file", disable=not shown, file=sys.stderr)
            for source, result in reading:
                if isinstance(result, Document) and ocr_rate.add(result):
                    reading.set_postfix_str(ocr_rate.describe(), refresh=False)
                if isinstance(result, DocumentEntry) and previous is not None:
                    layering.keep(writer, previous, result, planned)
                    unchanged.append(source.relpath)
                elif isinstance(result, str):
                    failures.append(FileFailure(source.relpath, result))
                elif isinstance(result, Document):
                    writer.add_document(StoredDocument(result, source.sha256, dict(source.meta)))
                    # Passage ids of this version must resolve forever, even after the document changes.
                    record_versions(settings.index_dir, [result])
                    gathered.add(result)
                    planned.append(Planned(result.doc_id))
                    (changed if source.relpath in was_indexed else added).append(source.relpath)
        present = {f.relpath for f in files}
        removed = sorted(p for p in was_indexed if p not in present)
        if not planned and not layering.in_base:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in failures) or "the folder is empty"
            raise CorpusError(f"{settings.corpus_dir}: nothing could be indexed ({reasons})")
        if layering.base is not None and previous is not None and gathered.acronyms != previous.store.acronyms:
            raise _WriteWhole()
        written = _write_chunks(settings, embedder, identity, writer, previous, layering, planned, gathered,
                                failures, started, say)
    return BuildReport(
        added=tuple(added), changed=tuple(changed), removed=tuple(removed),
        unchanged=tuple(unchanged), failed=tuple(failures), embedded_chunks=written.embedded_chunks,
        reused_chunks=written.total_chunks - written.embedded_chunks, total_chunks=written.total_chunks,
        seconds=time.perf_counter() - started, index_dir=str(written.version),
    )


def build_index_from_documents(settings: Settings, documents: Iterable[Document],
                               embedder: Embedder | None = None, progress: Progress | None = None,
                               with_excerpts: bool = False) -> BuildReport:
    """Index documents that are not files in a corpus folder (a BEIR data set, say), read once.

    Same incremental reuse and atomic swap as build_index; a document is unchanged when
    its content hash and metadata are. Excerpt windows are embedded only `with_excerpts`
    (retrieval alone does not need them; answers quote better with them).
    """
    with spread(settings, embedder or get_embedder(settings)) as used:
        return _build_from_documents(settings, documents, used, progress, with_excerpts)


def _build_from_documents(settings: Settings, documents: Iterable[Document], embedder: Embedder,
                          progress: Progress | None, with_excerpts: bool) -> BuildReport:
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    identity = identity_for(settings, embedder)
    with index_store.build_lock(settings.index_dir):
        previous = previous_version(settings, identity, False, say)
        old = previous.store.entries if previous and previous.reuse_documents else {}
        # The documents are read once, as they come: an overlay is written when the served index
        # is large, however much turns out to have changed (the next build writes whole if too much).
        layering = layering_for(settings, previous)
        kept_paths = []
        with VersionWriter(settings.index_dir, identity.dimension) as writer:
            gathered = _start_gathering(previous)
            planned: list[Planned] = []
            for doc in documents:
                meta_json = json.dumps(dataclasses.asdict(doc.meta), sort_keys=True)
                key = hashlib.sha256(f"{doc.content_hash}:{meta_json}".encode()).hexdigest()
                prior = old.get(doc.doc_id)
                if prior is not None and prior.file_sha256 == key and previous is not None:
                    layering.keep(writer, previous, prior, planned)
                    kept_paths.append(doc.path)
                else:
                    writer.add_document(StoredDocument(doc, key, {}))
                    gathered.add(doc)
                    planned.append(Planned(doc.doc_id))
            written = _write_chunks(settings, embedder, identity, writer, previous, layering, planned, gathered,
                                    [], started, say, with_excerpts=with_excerpts)
        publish_if_asked(settings, say)
    return BuildReport(unchanged=tuple(sorted(kept_paths)), embedded_chunks=written.embedded_chunks,
                       reused_chunks=written.total_chunks - written.embedded_chunks,
                       total_chunks=written.total_chunks, seconds=time.perf_counter() - started,
                       index_dir=str(written.version))


def _start_gathering(previous: Previous | None) -> _Gathered:
    """Unchanged documents' words and acronyms come from the served build's tables."""
    if previous is None or not previous.reuse_documents:
        return _Gathered(set(), {})
    return _Gathered(set(previous.store.corpus_words), dict(previous.store.acronyms))


@dataclass(frozen=True)
class _Written:
    version: Any
    embedded_chunks: int
    total_chunks: int


@dataclass
class _Queued:
    """A document's chunks waiting for their vectors (None: still to be embedded)."""

    doc_id: str
    chunks: list[Chunk]
    terms: list[list[str]]
    vectors: np.ndarray | None = None
    excerpt_vectors: np.ndarray | None = None


def _write_chunks(settings: Settings, embedder: Embedder, identity: IndexIdentity, writer: VersionWriter,
                  previous: Previous | None, layering: Layering, planned: list[Planned], gathered: _Gathered,
                  failures: list[FileFailure], started: float, say: Progress,
                  with_excerpts: bool = True) -> _Written:
    """Pass 2: chunk, embed (reusing what was embedded before) and write, document by document."""
    splitter = GlueSplitter(list(embedder.vocabulary()) + sorted(gathered.words))
    params = ChunkingParams(max_tokens=settings.max_chunk_tokens)
    old = previous.store if previous else None
    source = layering.source  # unchanged documents' rows are copied from here
    # Kept chunks keep their terms unless the corpus now defines acronyms it did not.
    retokenise = old is None or gathered.acronyms != old.acronyms
    queue: list[_Queued] = []
    queued_texts = 0
    counts = {"embedded_texts": 0, "embedded_chunks": 0, "reused_texts": 0}
    shown = settings.progress and len(planned) > 20
    passages_started = time.perf_counter()
    workers = workers_for(settings, embedder, sum(1 for p in planned if p.kept is None))
    chunker = Chunker(workers.count_tokens or embedder.count_tokens, splitter, gathered.acronyms, params)
    state = chunker_file(chunker, writer.folder) if workers.count else ""
    with closing_pool(workers.pool(start_chunker, (state,))) as executor:
        job = chunker if executor is None else chunk_in_worker
        bar = tqdm(in_order(planned, job, executor, argument=lambda p: writer.document(p.doc_id), inline=chunker,
                            ready=lambda p: _kept_chunks(p, source, retokenise, gathered, splitter)),
                   total=len(planned), desc="indexing", unit="doc", disable=not shown, file=sys.stderr)
        for item, result in bar:
            if isinstance(result, DocumentEntry) and source is not None:
                _flush(queue, embedder, old, writer, settings, with_excerpts, counts)  # rows stay in order
                queued_texts = 0
                writer.copy_chunks(source, result)
            elif isinstance(result, _Queued):
                queue.append(result)
            else:
                chunks, terms = result
                queue.append(_Queued(item.doc_id, chunks, terms))
                queued_texts += len(chunks) + (sum(len(c.excerpt_texts) for c in chunks) if with_excerpts else 0)
            if queued_texts >= QUEUE_TEXTS:
                _flush(queue, embedder, old, writer, settings, with_excerpts, counts)
                queued_texts = 0
            if shown and bar.n % 50 == 0:
                rate = writer.rows / max(1e-9, time.perf_counter() - passages_started)
                bar.set_postfix_str(f"{rate:,.0f} passages/s", refresh=False)
        _flush(queue, embedder, old, writer, settings, with_excerpts, counts)
    if state:
        Path(state).unlink()
    say(f"embedded {counts['embedded_texts']} texts ({counts['embedded_chunks']} chunks and their excerpts); "
        f"{counts['reused_texts']} reused")
    manifest: dict[str, Any] = {
        "identity": identity.__dict__,
        "chunking": {"version": CHUNKING_VERSION, "max_tokens": settings.max_chunk_tokens,
                     "soft_tokens": params.soft_tokens},
        "model": {"name": settings.model, "dimension": identity.dimension,
                  "max_tokens": embedder.max_tokens, "precision": getattr(embedder, "precision", "")},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 3),
        "counts": {"documents": len(planned), "failed": len(failures), **counts},
        "failed": index_store.failures_to_json(failures),
    }
    spec = vector_index.choose(writer.rows, settings.vector_index, settings.ann_above, settings.ivf_lists,
                               settings.ivf_probe)
    if spec["kind"] != "flat":
        say(f"writing an approximate vector index ({spec['kind']}, {spec['lists']} lists) for {writer.rows} passages")
    overlay = layering.overlay(stale_terms=retokenise and old is not None)
    if overlay is not None:
        say(f"writing {writer.rows} passages over the {overlay.live_rows} the served version keeps "
            f"({len(overlay.hidden)} of its documents replaced or removed)")
    version = writer.commit(manifest, {"acronyms": gathered.acronyms, "corpus_words": sorted(gathered.words)}, spec,
                            overlay)
    return _Written(version, counts["embedded_chunks"], writer.rows + (overlay.live_rows if overlay else 0))


def _kept_chunks(item: Planned, source: IndexStore | None, retokenise: bool, gathered: _Gathered,
                 splitter: GlueSplitter) -> DocumentEntry | _Queued | None:
    """An unchanged document's rows, to copy as they are from `source`, or its chunks and vectors
    read from the version that holds it (terms made again when the corpus defines new acronyms);
    None: not kept."""
    if item.kept is None or item.source is None:
        return None
    entry, old = item.kept, item.source
    if old is source and not retokenise:
        return entry
    chunks = old.chunks.of_document(entry)
    first, end = entry.first_row, entry.end_row
    terms = [chunk_keyword_terms(c, entry.meta.title, gathered.acronyms, splitter) for c in chunks] if retokenise \
        else [list(old.chunk_terms(row)) for row in range(first, end)]
    excerpts = old.excerpt_vectors[int(old.excerpt_starts[first]):int(old.excerpt_starts[end])] \
        if len(old.excerpt_vectors) else None
    return _Queued(item.doc_id, chunks, terms, np.asarray(old.vectors[first:end]),
                   None if excerpts is None else np.asarray(excerpts))


@dataclass(frozen=True)
class Workers:
    """How many processes parse and chunk, and the token counter they get; in Ray tasks when `ray`."""

    count: int
    count_tokens: TokenCounter | None
    ray: bool = False

    def pool(self, initializer: Callable[..., None] | None = None, args: tuple[Any, ...] = ()) -> Executor | None:
        if self.ray:
            from .distributed.ray_cluster import RayExecutor

            return RayExecutor(self.count, initializer, args)
        return pool(self.count, initializer, args)


def workers_for(settings: Settings, embedder: Embedder, documents: int) -> Workers:
    """Workers only where the embedder can hand them its tokenizer (so chunks count alike)."""
    make_counter = getattr(embedder, "token_counter", None)
    if make_counter is None:
        return Workers(0, None)
    spread_over = int(getattr(embedder, "ray_workers", 0))
    if spread_over:  # a Ray cluster: every document goes to its tasks
        return Workers(spread_over, make_counter(), ray=True)
    count = worker_count(settings.workers, documents)
    return Workers(count, make_counter() if count else None)


@contextlib.contextmanager
def spread(settings: Settings, embedder: Embedder) -> Iterator[Embedder]:
    """The embedder a build uses: the local model, or (settings.ray) one spread over a Ray cluster
    for the length of the build, its parsing and chunking in that cluster's tasks too."""
    if not settings.ray:
        yield embedder
        return
    from .distributed.ray_cluster import RayEmbedder, ray_session

    with ray_session(settings.ray) as cpus:
        spread_out = RayEmbedder(embedder, settings, workers=cpus)
        try:
            yield spread_out
        finally:
            spread_out.close()


@contextlib.contextmanager
def closing_pool(executor: Executor | None) -> Iterator[Executor | None]:
    """The pool, shut down on the way out (waiting jobs cancelled when something failed)."""
    try:
        yield executor
    except BaseException:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        raise
    if executor is not None:
        executor.shutdown(wait=True)


def _flush(queue: list[_Queued], embedder: Embedder, old: IndexStore | LayeredStore | None, writer: VersionWriter,
           settings: Settings, with_excerpts: bool, counts: dict[str, int]) -> None:
    """Embed what the queued documents still need, in one batch, and write them in order."""
    todo = [q for q in queue if q.vectors is None]
    texts = [c.embed_text for q in todo for c in q.chunks]
    if with_excerpts:
        texts += [t for q in todo for c in q.chunks for t in c.excerpt_texts]
    if texts:
        keys = [embed_key(t) for t in texts]
        known = old.stored_vectors(texts) if old is not None else {}
        fresh_texts = {k: t for k, t in zip(keys, texts) if k not in known}
        fresh = embedder.encode(list(fresh_texts.values()), batch_size=settings.batch_size)
        known.update(zip(fresh_texts, fresh))
        counts["embedded_texts"] += len(fresh_texts)
        counts["reused_texts"] += len(texts) - len(fresh_texts)
        chunk_count = sum(len(q.chunks) for q in todo)
        counts["embedded_chunks"] += sum(1 for k in dict.fromkeys(keys[:chunk_count]) if k in fresh_texts)
        vectors = (known[k] for k in keys[:chunk_count])
        excerpts = (known[k] for k in keys[chunk_count:])
        for q in todo:
            q.vectors = np.stack([next(vectors) for _ in q.chunks]) if q.chunks else \
                np.zeros((0, writer.dimension), np.float32)
            n = sum(len(c.excerpt_texts) for c in q.chunks) if with_excerpts else 0
            q.excerpt_vectors = np.stack([next(excerpts) for _ in range(n)]) if n else None
    for q in queue:
        assert q.vectors is not None
        writer.add_chunks(q.doc_id, q.chunks, q.vectors, q.excerpt_vectors, q.terms)
    queue.clear()


def previous_version(settings: Settings, identity: IndexIdentity, full: bool, say: Progress) -> Previous | None:
    """The served version, opened for reuse (None for a full build or none usable)."""
    if full or index_store.current_version(settings.index_dir) is None:
        return None
    try:
        return Previous(load_served(settings.index_dir, identity, exact=True), True)
    except IndexMismatchError as exc:
        say(f"rebuilding everything: {exc}".split("; run")[0])
        try:
            old = load_served(settings.index_dir, exact=True)
        except IndexError_:
            return None
        if (old.identity.model, old.identity.dimension) != (identity.model, identity.dimension):
            return None
        # Same model: every document is parsed and chunked again, but any text embedded
        # before keeps its vector (an upgrade of the chunking re-embeds only what changed).
        say("reusing the vectors of texts embedded before")
        return Previous(old, False)
    except IndexError_ as exc:
        say(f"rebuilding everything: the old index is unusable ({exc})")
        return None
