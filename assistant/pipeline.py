"""The one place that wires the parts: build_index() and Assistant.ask()."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .answer.answering import compose, search_depth
from .answer.blend import EVEN_BLEND, blend_at
from .answer.reader import reader_at
from .answer.retrieval import Retriever
from .briefing.layout import Briefing, briefing_from_answers, verified
from .config import Settings
from .errors import PageViewError, PassageIdError, SourceChangedError
from .indexing.archive import PassageView, resolve
from .indexing.build import (
    CorpusFolder,
    DocumentStream,
    Progress,
    RemoteTasks,
    build,
    get_embedder,
    identity_for,
    make_splitter,
)
from .indexing.corpus_status import CorpusChanges, IndexedFile, compare
from .indexing.embedding import Embedder
from .indexing.opening import archive_for, finished_at, open_store, served_version
from .indexing.passage_store import PassageStore
from .ingest.documents import discover, file_sha256
from .ingest.passages import document_version, parse_passage_id
from .ingest.textnorm import has_letter_or_digit, without_lone_surrogates
from .pageview.cache import PageImageCache
from .pageview.highlight import PageHighlight, highlight_quote
from .pageview.pdfpage import SCALE
from .types import Answer, BuildReport, Citation, Document, FileFailure, IndexedDocument, IndexSummary

__all__ = ["MAX_QUESTION_CHARS", "Assistant", "build_index", "build_index_from_documents", "evaluate_beir",
           "get_embedder", "identity_for", "make_splitter", "show_passage"]

MAX_QUESTION_CHARS = 2000
"""Longest question answered, in characters (the web chat's box holds as many): a longer one
is refused before any of it is read, so a huge request costs nothing."""
NO_QUESTION = "Ask a question about the documents."
"""The answer to a question with nothing to search for (empty, punctuation, stop words only)."""
_SHOWN_CHARS = 200  # how much of a refused, over-long question its answer repeats


def build_index(settings: Settings, full: bool = False, embedder: Embedder | None = None,
                progress: Progress | None = None) -> BuildReport:
    """Incremental build of the corpus folder: re-parse and re-embed only what changed (`full`:
    everything), then swap atomically (and publish to settings.store); in a Ray cluster when
    settings.ray names one.

    Raises CorpusError when no document at all could be indexed.
    """
    with _ray_if_asked(settings, embedder or get_embedder(settings)) as (used, remote):
        return build(settings, CorpusFolder(), used, progress, full=full, remote=remote)


def build_index_from_documents(settings: Settings, documents: Iterable[Document],
                               embedder: Embedder | None = None, progress: Progress | None = None,
                               with_excerpts: bool = False) -> BuildReport:
    """Index documents that are not files in a corpus folder (a BEIR data set, say), read once.

    Same incremental reuse and atomic swap as build_index; a document is unchanged when
    its content hash and metadata are. Excerpt windows are embedded only `with_excerpts`
    (retrieval alone does not need them; answers quote better with them).
    """
    with _ray_if_asked(settings, embedder or get_embedder(settings)) as (used, remote):
        return build(settings, DocumentStream(documents, with_excerpts), used, progress, remote=remote)


@contextlib.contextmanager
def _ray_if_asked(settings: Settings, embedder: Embedder) -> Iterator[tuple[Embedder, RemoteTasks | None]]:
    """The embedder a build uses and where it parses and chunks: the local model and processes,
    or (settings.ray) the model spread over a Ray cluster's actors and its tasks, for the length
    of the build."""
    if not settings.ray:
        yield embedder, None
        return
    from .distributed.ray_cluster import RayEmbedder, RayExecutor, ray_session

    with ray_session(settings.ray) as cpus:
        spread_out = RayEmbedder(embedder, settings, workers=cpus)
        try:
            yield spread_out, RemoteTasks(cpus, RayExecutor)
        finally:
            spread_out.close()


def show_passage(settings: Settings, passage_id: str, store: PassageStore | None = None) -> PassageView:
    """The passage an id names, against the served index (no model needed)."""
    store = store or open_store(settings)
    doc_id = parse_passage_id(passage_id).doc_id
    current = {doc_id: store.document(doc_id)} if doc_id in store.documents else {}
    return resolve(archive_for(settings, store), current, passage_id)


PAGE_IMAGES_DIR = "page-images"
"""Folder in the index folder where quotes' page images are kept (pageview/cache.py)."""


def quote_pages(settings: Settings, doc_id: str, start: int, end: int,
                store: PassageStore | None = None) -> list[PageHighlight]:
    """The PDF pages that the quote at doc_id's [start, end) stands on, each rendered with the
    quote highlighted: made when first asked for, then read from <index>/page-images/.

    A PDF changed or gone since indexing is refused (its pages no longer hold what was quoted),
    as is a document that is not a PDF.
    """
    store = store or open_store(settings)
    entry = store.entries.get(doc_id)
    if entry is None:
        raise PageViewError(f"{doc_id}: no such document in the served index")
    if entry.kind != "pdf":
        raise PageViewError(f"{entry.path}: not a PDF ({entry.kind}); only a PDF's pages are shown as images")
    path = settings.corpus_dir / entry.path
    if not path.is_file():
        raise SourceChangedError(f"{entry.path}: no longer in the corpus; run `assistant index`")
    if file_sha256(path) != entry.file_sha256:
        raise SourceChangedError.of(entry.path)

    def make() -> list[PageHighlight]:
        doc = store.document(doc_id)
        pages = highlight_quote(path, doc.text, doc.pages, start, end, entry.meta_entry.get("password", ""))
        if not pages:
            raise PageViewError(f"{entry.path}: no page holds characters {start}-{end} of its text")
        return pages

    cache = PageImageCache(settings.index_dir / PAGE_IMAGES_DIR)
    return cache.get_or_make(cache.key(entry.file_sha256, start, end, SCALE), make)


class Assistant:
    """Answers questions from one loaded index; reloads when a rebuild swaps a new one in."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder(settings)
        self.reader = reader_at(settings.reader_dir, settings.reader_precision) if settings.reader == "on" else None
        self.blend = blend_at(settings.reader_dir) if settings.reader == "on" else EVEN_BLEND
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        settings = self.settings
        store = open_store(settings, identity_for(settings, self.embedder))
        splitter = make_splitter(self.embedder, known=store.corpus_words)
        self.store = store
        self.splitter = splitter
        self.retriever = Retriever(store, self.embedder, splitter, self.settings)

    def reload_if_changed(self) -> bool:
        """Pick up a newly swapped-in index; True when one was loaded."""
        version = served_version(self.settings, self.store)
        if version is None or version == self.store.version:
            return False
        with self._lock:
            if version != self.store.version:
                self._load()
                return True
        return False

    def ask(self, question: str, doc_ids: Collection[str] | None = None) -> Answer:
        """An answer of verbatim cited excerpts, or "not covered" with the closest passages.

        Refused with an abstaining answer that says why (so every caller gets the usual
        answer object): a question over MAX_QUESTION_CHARS, and one with nothing to search
        for (no letter or digit, or no keyword term: "???", "🙂", "What is it?"), which
        would otherwise be answered with whatever passages lie nearest to nothing; a bare
        comparison ("How do they differ?") is still answered from each document. Lone
        surrogates become U+FFFD, so the answer always encodes as UTF-8 JSON.
        """
        too_long = _too_long(question)
        if too_long is not None:
            return too_long
        return self._answer(_clean(question), doc_ids)

    def _answer(self, question: str, doc_ids: Collection[str] | None) -> Answer:
        """ask() for a question already checked for length and cleaned."""
        if not has_letter_or_digit(question):
            return Answer(question, NO_QUESTION, True, ())
        retriever = self.retriever  # one consistent index for the whole question
        store = retriever.store
        query = retriever.analyse(question, doc_ids)
        if not query.terms and not query.comparison:
            # Keyword search has nothing to match and abstention nothing to weigh: refuse
            # rather than quote the passages nearest an empty question.
            return Answer(question, NO_QUESTION, True, ())
        hits = retriever.search(query, search_depth(query, self.settings), doc_ids)
        return compose(query, hits, self.settings, store.document, store.excerpt_vectors_of,
                       retriever.coverage, searched=question, reader=self.reader, blend=self.blend)

    # -- For the web chat (assistant/web/) -------------------------------------------------

    def ask_in_context(self, question: str, searched: str,
                       doc_ids: Collection[str] | None = None) -> Answer:
        """Like ask(), but retrieval reads `searched` (a follow-up resolved with the
        conversation, see answer/conversation.py) while the answer keeps the question as asked.

        The limits hold for the question as asked: its length, and a letter or digit in it
        ("???" is refused even where the conversation would give it a topic; "Why?" is a
        follow-up). `searched` adds at most a few words of the conversation to it.
        """
        too_long = _too_long(question)
        if too_long is not None:
            return too_long
        asked = _clean(question)
        if not has_letter_or_digit(asked):
            return Answer(asked, NO_QUESTION, True, ())
        answer = self._answer(_clean(searched), doc_ids)
        return dataclasses.replace(answer, question=asked)

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

    def quote_pages(self, citation: Citation) -> list[PageHighlight]:
        """The PDF pages a citation's excerpt stands on, the excerpt highlighted (quote_pages)."""
        if not self.is_current(citation):
            raise SourceChangedError.of(citation.path)
        return self.quote_pages_at(citation.doc_id, citation.start, citation.end)

    def quote_pages_at(self, doc_id: str, start: int, end: int) -> list[PageHighlight]:
        """The PDF pages characters start-end of a served document stand on, highlighted."""
        return quote_pages(self.settings, doc_id, start, end, self.store)

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
        documents = tuple(IndexedDocument(e.doc_id, e.path, e.kind, e.meta, e.end_row - e.first_row)
                          for e in sorted(store.entries.values(), key=lambda e: e.path))
        failed = tuple(FileFailure(f["path"], f["reason"]) for f in manifest.get("failed", []))
        return IndexSummary(store.version, str(manifest.get("built_at", "")),
                            float(manifest.get("build_seconds", 0.0)), documents, sum(d.chunks for d in documents),
                            failed)

    def corpus_changes(self) -> CorpusChanges:
        """Files added, changed or removed in the corpus folder since the served build."""
        store = self.store
        files, _skipped = discover(self.settings.corpus_dir)
        indexed = {e.path: IndexedFile(e.file_sha256, e.meta_entry) for e in store.entries.values()}
        failed = {f["path"] for f in store.manifest.get("failed", [])}
        built_at = finished_at(self.settings, store)
        modified = {f.relpath: f.path.stat().st_mtime for f in files if f.relpath in failed}
        return compare(files, indexed, failed, built_at, modified)


def _clean(question: str) -> str:
    """The question as searched and shown: lone surrogates replaced, whitespace collapsed."""
    return " ".join(without_lone_surrogates(question).split())


def _too_long(question: str) -> Answer | None:
    """The refusal of a question over MAX_QUESTION_CHARS, else None. Only its length and
    its first few hundred characters are read, so a megabyte is refused in microseconds."""
    if len(question) <= MAX_QUESTION_CHARS:
        return None
    shown = _clean(question[:_SHOWN_CHARS]) + " …"
    return Answer(shown, f"The question is {len(question):,} characters long; ask in at most "
                         f"{MAX_QUESTION_CHARS:,}.", True, ())


def evaluate_beir(settings: Settings, folder: Path, split: str = "test",
                  progress: Progress | None = None) -> dict[str, Any]:
    """nDCG@10 and recall@100 of hybrid, dense-only and keyword-only retrieval on a BEIR set.

    The index of the data set's corpus is built in settings.index_dir, or reused when it
    already holds the same documents.
    """
    from .evaluation.beir import load_beir, ndcg_at, recall_at

    progress = progress or (lambda _message: None)
    started = time.perf_counter()
    data = load_beir(folder, split)
    progress(f"{folder.name}: {len(data.documents)} documents, {len(data.queries)} queries ({split})")
    report = build_index_from_documents(settings, data.documents, progress=progress)
    progress(f"index: {report.total_chunks} chunks ({report.embedded_chunks} embedded) "
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
