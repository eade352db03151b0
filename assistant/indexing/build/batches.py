"""Embedding in batches: documents' chunks wait in a queue until enough texts are waiting, then
what they still need is encoded in one call and every queued document is written, in order.

A text whose exact input the served version already embedded keeps its vector; only the others
are encoded. A document whose vectors are already known (reused) waits in the same queue, so
rows are written in the order the documents came.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...types import Chunk
from ..embedding import Embedder
from ..layered import LayeredStore
from ..store import IndexStore, VersionWriter, embed_key

QUEUE_TEXTS = 2048  # texts (chunks and their excerpts) embedded per batch of documents


@dataclass
class QueuedDocument:
    """A document's chunks and their terms waiting to be written (vectors None: still to be embedded)."""

    doc_id: str
    chunks: list[Chunk]
    terms: list[list[str]]
    vectors: np.ndarray | None = None
    excerpt_vectors: np.ndarray | None = None

    def texts(self, with_excerpts: bool) -> list[str]:
        """What embedding this document reads: its chunks, then (`with_excerpts`) their excerpt windows."""
        chunks = [c.embed_text for c in self.chunks]
        return chunks + [t for c in self.chunks for t in c.excerpt_texts] if with_excerpts else chunks


@dataclass
class EmbedCounts:
    """What a build encoded and what it reused, as its manifest records them."""

    embedded_texts: int = 0
    embedded_chunks: int = 0  # distinct chunk texts among the encoded ones
    reused_texts: int = 0


@dataclass
class EmbedQueue:
    """Queued documents, embedded in one batch once QUEUE_TEXTS texts wait, and written to `writer`."""

    embedder: Embedder
    writer: VersionWriter
    served: IndexStore | LayeredStore | None  # where vectors already made are looked up
    batch_size: int
    with_excerpts: bool
    counts: EmbedCounts = field(default_factory=EmbedCounts)
    _queue: list[QueuedDocument] = field(default_factory=list)
    _waiting: int = 0  # texts of queued documents still to embed

    def add(self, doc: QueuedDocument) -> None:
        """Queue a document; embed and write the queue once enough texts wait."""
        self._queue.append(doc)
        if doc.vectors is None:
            self._waiting += len(doc.texts(self.with_excerpts))
        if self._waiting >= QUEUE_TEXTS:
            self.flush()

    def flush(self) -> None:
        """Embed what the queued documents still need, in one batch, and write them in order."""
        todo = [q for q in self._queue if q.vectors is None]
        chunk_texts = [c.embed_text for q in todo for c in q.chunks]
        texts = chunk_texts + ([t for q in todo for c in q.chunks for t in c.excerpt_texts] if self.with_excerpts
                               else [])
        if texts:
            self._embed(todo, texts, len(chunk_texts))
        for q in self._queue:
            assert q.vectors is not None
            self.writer.add_chunks(q.doc_id, q.chunks, q.vectors, q.excerpt_vectors, q.terms)
        self._queue.clear()
        self._waiting = 0

    def _embed(self, todo: list[QueuedDocument], texts: list[str], chunk_count: int) -> None:
        """Give each document in `todo` its vectors: reused where the served version holds the exact
        text, encoded otherwise. `texts`: every chunk's text, then every excerpt's."""
        keys = [embed_key(t) for t in texts]
        known = self.served.stored_vectors(texts) if self.served is not None else {}
        fresh_texts = {k: t for k, t in zip(keys, texts) if k not in known}
        fresh = self.embedder.encode(list(fresh_texts.values()), batch_size=self.batch_size)
        known.update(zip(fresh_texts, fresh))
        self.counts.embedded_texts += len(fresh_texts)
        self.counts.reused_texts += len(texts) - len(fresh_texts)
        self.counts.embedded_chunks += sum(1 for k in dict.fromkeys(keys[:chunk_count]) if k in fresh_texts)
        vectors = (known[k] for k in keys[:chunk_count])
        excerpts = (known[k] for k in keys[chunk_count:])
        for q in todo:
            q.vectors = np.stack([next(vectors) for _ in q.chunks]) if q.chunks else \
                np.zeros((0, self.writer.dimension), np.float32)
            n = sum(len(c.excerpt_texts) for c in q.chunks) if self.with_excerpts else 0
            q.excerpt_vectors = np.stack([next(excerpts) for _ in range(n)]) if n else None
