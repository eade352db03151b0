"""The one place that wires the parts: build_index() and Assistant.ask()."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .answer.answering import compose, search_depth
from .answer.retrieval import Retriever
from .briefing.layout import Briefing, briefing_from_answers, verified
from .config import Settings
from .errors import CorpusError, IndexError_, IndexMismatchError, PassageIdError
from .indexing import store as index_store
from .indexing.archive import PassageView, record_versions, resolve
from .indexing.corpus_status import CorpusChanges, IndexedFile, compare
from .indexing.embedding import Embedder, SentenceTransformerEmbedder
from .indexing.store import IndexIdentity, IndexStore, StoredDocument
from .ingest.chunking import CHUNKING_VERSION, ChunkingParams, chunk_document
from .ingest.documents import discover, load_document
from .ingest.passages import document_version
from .ingest.textnorm import GlueSplitter, words
from .types import Answer, BuildReport, Chunk, Citation, Document, FileFailure, IndexedDocument, IndexSummary

Progress = Callable[[str], None]

_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per process, model name and precision."""
    key = f"{settings.model}|{settings.precision}"
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(settings.model, settings.precision)
        return _EMBEDDERS[key]


def identity_for(settings: Settings, embedder: Embedder) -> IndexIdentity:
    return IndexIdentity(model=settings.model, dimension=embedder.dimension,
                         chunking_version=CHUNKING_VERSION, max_chunk_tokens=settings.max_chunk_tokens)


def make_splitter(embedder: Embedder, texts: Sequence[str] = ()) -> GlueSplitter:
    """Glued-word splitter knowing the model's words and the corpus's own words."""
    corpus_words = {w for text in texts for w in words(text) if w.isalpha() and len(w) < 20}
    return GlueSplitter(list(embedder.vocabulary()) + sorted(corpus_words))


def _embed_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_index(settings: Settings, full: bool = False, embedder: Embedder | None = None,
                progress: Progress | None = None) -> BuildReport:
    """Incremental build: re-parse and re-embed only what changed, then swap atomically.

    Raises CorpusError when no document at all could be indexed.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    embedder = embedder or get_embedder(settings)
    identity = identity_for(settings, embedder)
    with index_store.build_lock(settings.index_dir):
        previous = _previous_store(settings, identity, full, say)
        files, skipped = discover(settings.corpus_dir)
        failures = [FileFailure(path, reason) for path, reason in skipped]
        old_by_path = {s.document.path: s for s in previous.documents.values()} if previous else {}
        was_indexed = set(previous.manifest.get("documents", {})) if previous else set()

        # 1. Parse what changed; keep what did not.
        kept: list[StoredDocument] = []
        parsed: list[StoredDocument] = []
        added: list[str] = []
        changed: list[str] = []
        unchanged: list[str] = []
        shown = settings.progress and len(files) > 20
        for source in tqdm(files, desc="reading", unit="file", disable=not shown, file=sys.stderr):
            old = old_by_path.get(source.relpath)
            if old and old.file_sha256 == source.sha256 and old.meta_entry == source.meta \
                    and old.document.doc_id == source.doc_id:
                kept.append(old)
                unchanged.append(source.relpath)
                continue
            try:
                doc = load_document(source)
            except CorpusError as exc:
                failures.append(FileFailure(source.relpath, str(exc).split(": ", 1)[-1]))
                continue
            parsed.append(StoredDocument(doc, source.sha256, dict(source.meta)))
            (changed if old or source.relpath in was_indexed else added).append(source.relpath)
        present = {f.relpath for f in files}
        removed = sorted(p for p in was_indexed | set(old_by_path) if p not in present)
        documents = sorted(kept + parsed, key=lambda s: s.document.path)
        if not documents:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in failures) or "the folder is empty"
            raise CorpusError(f"{settings.corpus_dir}: nothing could be indexed ({reasons})")

        # Passage ids of these versions must resolve forever, even after their documents change.
        record_versions(settings.index_dir, [s.document for s in documents])
        version, embedded, total = _index_documents(settings, embedder, identity, previous, documents,
                                                    {s.document.path for s in kept}, failures, started, say)
    return BuildReport(
        added=tuple(added), changed=tuple(changed), removed=tuple(removed),
        unchanged=tuple(unchanged), failed=tuple(failures), embedded_chunks=embedded,
        reused_chunks=total - embedded, total_chunks=total,
        seconds=time.perf_counter() - started, index_dir=str(version),
    )


def build_index_from_documents(settings: Settings, documents: Sequence[Document],
                               embedder: Embedder | None = None,
                               progress: Progress | None = None) -> BuildReport:
    """Index documents that are not files in a corpus folder (a BEIR data set, say).

    Same incremental reuse and atomic swap as build_index; a document is unchanged when
    its content hash and metadata are.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    embedder = embedder or get_embedder(settings)
    identity = identity_for(settings, embedder)
    with index_store.build_lock(settings.index_dir):
        previous = _previous_store(settings, identity, False, say)
        old = previous.documents if previous else {}
        stored = []
        kept_paths = set()
        for doc in documents:
            meta_json = json.dumps(dataclasses.asdict(doc.meta), sort_keys=True)
            key = hashlib.sha256(f"{doc.content_hash}:{meta_json}".encode()).hexdigest()
            prior = old.get(doc.doc_id)
            if prior is not None and prior.file_sha256 == key:
                stored.append(prior)
                kept_paths.add(doc.path)
            else:
                stored.append(StoredDocument(doc, key, {}))
        version, embedded, total = _index_documents(settings, embedder, identity, previous, stored,
                                                    kept_paths, [], started, say, with_excerpts=False)
    return BuildReport(unchanged=tuple(sorted(kept_paths)), embedded_chunks=embedded,
                       reused_chunks=total - embedded, total_chunks=total,
                       seconds=time.perf_counter() - started, index_dir=str(version))


def _index_documents(settings: Settings, embedder: Embedder, identity: IndexIdentity,
                     previous: IndexStore | None, documents: list[StoredDocument], kept_paths: set[str],
                     failures: list[FileFailure], started: float, say: Progress,
                     with_excerpts: bool = True) -> tuple[Any, int, int]:
    """Chunk, embed (reusing what was embedded before) and save; (version, embedded, total)."""
    # 2. Chunks: reuse those of unchanged documents, chunk the rest.
    old_chunks: dict[str, list[Chunk]] = {}
    old_vectors: dict[str, np.ndarray] = {}
    if previous:
        for i, chunk in enumerate(previous.chunks):
            old_chunks.setdefault(chunk.doc_id, []).append(chunk)
            old_vectors[_embed_key(chunk.embed_text)] = previous.vectors[i]
    splitter = make_splitter(embedder, [s.document.text for s in documents])
    params = ChunkingParams(max_tokens=settings.max_chunk_tokens)
    chunks: list[Chunk] = []
    for stored in documents:
        doc = stored.document
        if doc.path in kept_paths:
            chunks.extend(old_chunks.get(doc.doc_id, []))
        else:
            chunks.extend(chunk_document(doc, embedder.count_tokens, splitter, params))

    # 3. Vectors: reuse any whose exact input text was embedded before.
    if previous is not None:
        old_excerpts = [t for c in previous.chunks for t in c.excerpt_texts]
        if len(previous.excerpt_vectors) == len(old_excerpts):
            old_vectors.update(zip(map(_embed_key, old_excerpts), previous.excerpt_vectors))
    texts = [c.embed_text for c in chunks]
    if with_excerpts:
        texts += [t for c in chunks for t in c.excerpt_texts]
    keys = [_embed_key(t) for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in old_vectors))
    say(f"embedding {len(todo)} of {len(texts)} texts ({len(chunks)} chunks and their excerpts; "
        f"{len(texts) - len(todo)} reused)")
    by_key = dict(zip(keys, texts))
    fresh = embedder.encode([by_key[k] for k in todo], batch_size=settings.batch_size,
                            progress=settings.progress and len(todo) > settings.batch_size)
    known = {**old_vectors, **dict(zip(todo, fresh))}
    all_vectors = np.stack([known[k] for k in keys]) if keys else np.zeros((0, identity.dimension), np.float32)
    vectors = all_vectors[: len(chunks)]
    excerpt_vectors = all_vectors[len(chunks):] if with_excerpts else None
    fresh_keys = set(todo)
    embedded_chunks = sum(1 for k in keys[: len(chunks)] if k in fresh_keys)

    seconds = time.perf_counter() - started
    counts = {s.document.doc_id: 0 for s in documents}
    for chunk in chunks:
        counts[chunk.doc_id] += 1
    manifest: dict[str, Any] = {
        "identity": identity.__dict__,
        "chunking": {"version": CHUNKING_VERSION, "max_tokens": settings.max_chunk_tokens,
                     "soft_tokens": params.soft_tokens},
        "model": {"name": settings.model, "dimension": identity.dimension,
                  "max_tokens": embedder.max_tokens, "precision": getattr(embedder, "precision", "")},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 3),
        "counts": {"documents": len(documents), "chunks": len(chunks), "failed": len(failures),
                   "excerpts": sum(len(c.excerpts) for c in chunks),
                   "embedded_texts": len(todo), "embedded_chunks": embedded_chunks},
        "documents": {
            s.document.path: {"doc_id": s.document.doc_id, "sha256": s.file_sha256,
                              "content_hash": s.document.content_hash,
                              "title": s.document.meta.title, "chunks": counts[s.document.doc_id]}
            for s in documents
        },
        "failed": index_store.failures_to_json(failures),
    }
    version = index_store.save(settings.index_dir, manifest, documents, chunks, vectors, excerpt_vectors)
    return version, embedded_chunks, len(chunks)


def _previous_store(settings: Settings, identity: IndexIdentity, full: bool,
                    say: Progress) -> IndexStore | None:
    if full or index_store.current_version(settings.index_dir) is None:
        return None
    try:
        return index_store.load(settings.index_dir, identity)
    except IndexMismatchError as exc:
        say(f"rebuilding everything: {exc}".split("; run")[0])
        try:
            old = index_store.load(settings.index_dir)
        except IndexError_:
            return None
        if (old.identity.model, old.identity.dimension) != (identity.model, identity.dimension):
            return None
        # Same model: every document is parsed and chunked again, but any text embedded
        # before keeps its vector (an upgrade of the chunking re-embeds only what changed).
        say("reusing the vectors of texts embedded before")
        return dataclasses.replace(old, documents={})
    except IndexError_ as exc:
        say(f"rebuilding everything: the old index is unusable ({exc})")
        return None


def show_passage(settings: Settings, passage_id: str, store: IndexStore | None = None) -> PassageView:
    """The passage an id names, against the served index (no model needed)."""
    store = store or index_store.load(settings.index_dir)
    docs = {doc_id: stored.document for doc_id, stored in store.documents.items()}
    return resolve(settings.index_dir, docs, passage_id)


class Assistant:
    """Answers questions from one loaded index; reloads when a rebuild swaps a new one in."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder(settings)
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        store = index_store.load(self.settings.index_dir, identity_for(self.settings, self.embedder))
        splitter = make_splitter(self.embedder, [s.document.text for s in store.documents.values()])
        self.store = store
        self.splitter = splitter
        self.retriever = Retriever(store, self.embedder, splitter, self.settings)

    def reload_if_changed(self) -> bool:
        """Pick up a newly swapped-in index; True when one was loaded."""
        version = index_store.current_version(self.settings.index_dir)
        if version is None or version == self.store.path:
            return False
        with self._lock:
            if version != self.store.path:
                self._load()
                return True
        return False

    def ask(self, question: str, doc_ids: Collection[str] | None = None) -> Answer:
        """An answer of verbatim cited excerpts, or "not covered" with the closest passages."""
        question = " ".join(question.split())
        if not question:
            return Answer(question, "Ask a question about the documents.", True, ())
        retriever = self.retriever  # one consistent index for the whole question
        store = retriever.store
        query = retriever.analyse(question, doc_ids)
        hits = retriever.search(query, search_depth(query, self.settings), doc_ids)
        return compose(query, hits, self.settings, store.document, store.chunk_excerpt_vectors,
                       retriever.coverage, searched=question)

    # -- For the web chat (assistant/ui.py) ------------------------------------------------

    def ask_in_context(self, question: str, searched: str,
                       doc_ids: Collection[str] | None = None) -> Answer:
        """Like ask(), but retrieval reads `searched` (a follow-up resolved with the
        conversation, see conversation.py) while the answer keeps the question as asked."""
        answer = self.ask(searched, doc_ids)
        return dataclasses.replace(answer, question=" ".join(question.split()))

    def show(self, passage_id: str) -> PassageView:
        """The passage an id names, with its context; stale ids are marked and relocated."""
        return show_passage(self.settings, passage_id, self.store)

    def source_of(self, citation: Citation) -> Document | None:
        """The document version a citation was made from: the served one, else the archived."""
        if not citation.passage_id:
            return self.document(citation.doc_id)
        try:
            return self.show(citation.passage_id).document
        except PassageIdError:
            return None

    def is_current(self, citation: Citation) -> bool:
        """The citation was made from the document version the index serves now."""
        doc = self.document(citation.doc_id)
        if doc is None:
            return False
        return not citation.passage_id or citation.passage_id.endswith(f"@{document_version(doc)}")

    def brief(self, questions: Sequence[str], title: str = "Briefing") -> tuple[Briefing, list[str]]:
        """A briefing of the answers to these questions, every quote checked against its
        source, and what had to be left out (normally nothing)."""
        answers = [self.ask(q) for q in questions]
        return verified(briefing_from_answers(answers, title), self.source_of)

    def document(self, doc_id: str) -> Document | None:
        """A document of the served index, or None when a rebuild has removed it."""
        stored = self.store.documents.get(doc_id)
        return stored.document if stored else None

    def summary(self) -> IndexSummary:
        """What the served index holds and when it was built."""
        store = self.store
        manifest = store.manifest
        per_path = manifest.get("documents", {})
        documents = tuple(
            IndexedDocument(s.document.doc_id, s.document.path, s.document.kind, s.document.meta,
                            int(per_path.get(s.document.path, {}).get("chunks", 0)))
            for s in sorted(store.documents.values(), key=lambda s: s.document.path))
        failed = tuple(FileFailure(f["path"], f["reason"]) for f in manifest.get("failed", []))
        return IndexSummary(store.path.name, str(manifest.get("built_at", "")),
                            float(manifest.get("build_seconds", 0.0)), documents, len(store.chunks), failed)

    def corpus_changes(self) -> CorpusChanges:
        """Files added, changed or removed in the corpus folder since the served build."""
        store = self.store
        files, _skipped = discover(self.settings.corpus_dir)
        indexed = {s.document.path: IndexedFile(s.file_sha256, s.meta_entry) for s in store.documents.values()}
        failed = {f["path"] for f in store.manifest.get("failed", [])}
        built_at = (store.path / "manifest.json").stat().st_mtime
        modified = {f.relpath: f.path.stat().st_mtime for f in files if f.relpath in failed}
        return compare(files, indexed, failed, built_at, modified)


def evaluate_beir(settings: Settings, folder: Path, split: str = "test",
                  progress: Progress | None = None) -> dict[str, Any]:
    """nDCG@10 and recall@100 of hybrid, dense-only and keyword-only retrieval on a BEIR set.

    The index of the data set's corpus is built in settings.index_dir, or reused when it
    already holds the same documents.
    """
    from .evaluation.beir import load_beir, ndcg_at, recall_at

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    data = load_beir(folder, split)
    say(f"{folder.name}: {len(data.documents)} documents, {len(data.queries)} queries ({split})")
    report = build_index_from_documents(settings, data.documents, progress=say)
    say(f"index: {report.total_chunks} chunks ({report.embedded_chunks} embedded) "
        f"in {report.seconds:.1f} s")
    deep = settings.with_overrides(candidates=max(settings.candidates, 300))
    assistant = Assistant(deep)
    retriever = assistant.retriever
    totals = {mode: {"ndcg@10": 0.0, "recall@100": 0.0} for mode in ("hybrid", "dense", "keyword")}
    search_started = time.perf_counter()
    shown = settings.progress and len(data.queries) > 20
    for qid, text in tqdm(data.queries.items(), desc="queries", unit="q", disable=not shown, file=sys.stderr):
        query = retriever.analyse(text)
        for mode, sums in totals.items():
            ranking = list(dict.fromkeys(h.chunk.doc_id for h in retriever.search(query, 600, mode=mode)))
            sums["ndcg@10"] += ndcg_at(ranking, data.qrels[qid], 10)
            sums["recall@100"] += recall_at(ranking, data.qrels[qid], 100)
    n = max(1, len(data.queries))
    result: dict[str, Any] = {
        "ndcg@10": round(totals["hybrid"]["ndcg@10"] / n, 4),
        "recall@100": round(totals["hybrid"]["recall@100"] / n, 4),
    }
    for mode in ("dense", "keyword"):
        result[f"{mode}_ndcg@10"] = round(totals[mode]["ndcg@10"] / n, 4)
        result[f"{mode}_recall@100"] = round(totals[mode]["recall@100"] / n, 4)
    result.update({"queries": len(data.queries), "documents": len(data.documents),
                   "chunks": report.total_chunks, "split": split,
                   "index_seconds": round(report.seconds, 1),
                   "search_seconds": round(time.perf_counter() - search_started, 1),
                   "total_seconds": round(time.perf_counter() - started, 1)})
    return result
