"""The build driver: documents -> a new index version, streamed, then swapped in atomically.

Two passes, so that memory does not grow with the corpus:
1. every document is read (or, unchanged since the served version, taken from it) and its text
   written into the new version (sources.py);
2. each document is read back, chunked, and its chunks queued; a full queue is embedded in one
   batch and written (batches.py). Unchanged documents keep their chunks, vectors and terms.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ...config import Settings
from ...ingest.chunking import CHUNKING_VERSION, ChunkingParams
from ...types import BuildReport, FileFailure
from .. import store as index_store
from .. import vectors as vector_index
from ..embedding import Embedder
from ..opening import publish_if_asked
from ..store import DocumentEntry, IndexIdentity, VersionWriter
from .batches import EmbedQueue, QueuedDocument
from .model import identity_for, make_splitter
from .reuse import PlannedDocument, ServedVersion, VersionPlan, open_served, reused_rows
from .sources import CorpusTables, DocumentSource
from .workers import (
    Chunker,
    RemoteTasks,
    chunk_in_worker,
    chunker_file,
    closing_pool,
    in_order,
    start_chunker,
    workers_for,
)

Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    pass


@dataclass(frozen=True)
class _Committed:
    """A version pass 2 wrote and made the served one."""

    folder: Path
    embedded_chunks: int
    total_chunks: int  # the chunks it serves, an overlay's base's included


class _AcronymsChanged(Exception):
    """An overlay cannot be written: the corpus defines new acronyms, so every passage's terms change."""


def build(settings: Settings, source: DocumentSource, embedder: Embedder, progress: Progress | None = None,
          full: bool = False, remote: RemoteTasks | None = None) -> BuildReport:
    """Write a new index version from `source`, re-parsing and re-embedding only what changed
    (`full`: everything), swap it in atomically and publish it to settings.store.

    Args:
        embedder: the model (or one that spreads its work over a cluster).
        remote: workers to parse and chunk in, instead of processes spawned here.

    Raises CorpusError when a corpus folder holds nothing that could be indexed.
    """
    started = time.perf_counter()
    progress = progress or _silent
    identity = identity_for(settings, embedder)
    with index_store.build_lock(settings.index_dir):
        served = open_served(settings, identity, full, progress)
        try:
            report = _write_version(settings, source, embedder, remote, identity, served, started, progress,
                                    overlays=True)
        except _AcronymsChanged:
            progress("the corpus defines new acronyms: every passage's keyword terms are made again")
            report = _write_version(settings, source, embedder, remote, identity, served, started, progress,
                                    overlays=False)
        publish_if_asked(settings, progress, full)
    return report


def _write_version(settings: Settings, source: DocumentSource, embedder: Embedder, remote: RemoteTasks | None,
                   identity: IndexIdentity, served: ServedVersion | None, started: float, progress: Progress,
                   overlays: bool) -> BuildReport:
    """Read the source and write a version: whole, or an overlay over the served one."""
    plan = source.plan(settings, served, overlays)
    with VersionWriter(settings.index_dir, identity.dimension) as writer:
        tables = CorpusTables.of_served(served)
        found = source.read(settings, embedder, remote, writer, served, plan, tables)
        if source.read_again and plan.base is not None and served is not None \
                and tables.acronyms != served.store.acronyms:
            raise _AcronymsChanged()
        written = _write_passages(settings, embedder, remote, identity, writer, served, plan, found.planned, tables,
                                  found.failures, started, progress, source.with_excerpts)
    return BuildReport(
        added=tuple(found.added), changed=tuple(found.changed), removed=tuple(found.removed),
        unchanged=tuple(found.unchanged), failed=tuple(found.failures), embedded_chunks=written.embedded_chunks,
        reused_chunks=written.total_chunks - written.embedded_chunks, total_chunks=written.total_chunks,
        seconds=time.perf_counter() - started, index_dir=str(written.folder),
    )


def _write_passages(settings: Settings, embedder: Embedder, remote: RemoteTasks | None, identity: IndexIdentity,
                    writer: VersionWriter, served: ServedVersion | None, plan: VersionPlan,
                    planned: list[PlannedDocument], tables: CorpusTables, failures: list[FileFailure],
                    started: float, progress: Progress, with_excerpts: bool) -> _Committed:
    """Pass 2: chunk, embed (reusing what was embedded before) and write, document by document;
    then commit the version."""
    splitter = make_splitter(embedder, known=tables.words)
    params = ChunkingParams(max_tokens=settings.max_chunk_tokens)
    old = served.store if served else None
    # Kept chunks keep their terms unless the corpus now defines acronyms it did not.
    retokenise = old is None or tables.acronyms != old.acronyms
    queue = EmbedQueue(embedder, writer, old, settings.batch_size, with_excerpts)
    shown = settings.progress and len(planned) > 20
    passages_started = time.perf_counter()
    workers = workers_for(settings, embedder, sum(1 for p in planned if p.kept is None), remote)
    chunker = Chunker(workers.count_tokens or embedder.count_tokens, splitter, tables.acronyms, params)
    state = chunker_file(chunker, writer.folder) if workers.count else ""
    with closing_pool(workers.pool(start_chunker, (state,))) as executor:
        job = chunker if executor is None else chunk_in_worker
        bar = tqdm(in_order(planned, job, executor, argument=lambda p: writer.document(p.doc_id), inline=chunker,
                            ready=lambda p: reused_rows(p, plan.copy_from, retokenise, tables.acronyms, splitter)),
                   total=len(planned), desc="indexing", unit="doc", disable=not shown, file=sys.stderr)
        for item, result in bar:
            if isinstance(result, DocumentEntry) and plan.copy_from is not None:
                queue.flush()  # rows stay in order
                writer.copy_chunks(plan.copy_from, result)
            elif isinstance(result, QueuedDocument):
                queue.add(result)
            else:
                chunks, terms = result
                queue.add(QueuedDocument(item.doc_id, chunks, terms))
            if shown and bar.n % 50 == 0:
                rate = writer.rows / max(1e-9, time.perf_counter() - passages_started)
                bar.set_postfix_str(f"{rate:,.0f} passages/s", refresh=False)
        queue.flush()
    if state:
        Path(state).unlink()
    counts = queue.counts
    progress(f"embedded {counts.embedded_texts} texts ({counts.embedded_chunks} chunks and their excerpts); "
             f"{counts.reused_texts} reused")
    manifest: dict[str, Any] = {
        "identity": identity.__dict__,
        "chunking": {"version": CHUNKING_VERSION, "max_tokens": settings.max_chunk_tokens,
                     "soft_tokens": params.soft_tokens},
        "model": {"name": settings.model, "dimension": identity.dimension,
                  "max_tokens": embedder.max_tokens, "precision": getattr(embedder, "precision", "")},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 3),
        "counts": {"documents": len(planned), "failed": len(failures), **dataclasses.asdict(counts)},
        "failed": index_store.failures_to_json(failures),
    }
    spec = vector_index.choose(writer.rows, settings.vector_index, settings.ann_above, settings.ivf_lists,
                               settings.ivf_probe)
    if spec["kind"] != "flat":
        progress(f"writing an approximate vector index ({spec['kind']}, {spec['lists']} lists) "
                 f"for {writer.rows} passages")
    overlay = plan.overlay(stale_terms=retokenise and old is not None)
    if overlay is not None:
        progress(f"writing {writer.rows} passages over the {overlay.live_rows} the served version keeps "
                 f"({len(overlay.hidden)} of its documents replaced or removed)")
    version = writer.commit(manifest, {"acronyms": tables.acronyms, "corpus_words": sorted(tables.words)}, spec,
                            overlay)
    return _Committed(version, counts.embedded_chunks, writer.rows + (overlay.live_rows if overlay else 0))
