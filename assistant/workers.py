"""Parsing and chunking in worker processes, results taken in order with a bounded number in flight.

The process that embeds (torch, one model) stays the only one holding the model; workers
get the tokenizer alone, pickled once when they start, so that a chunk counts the same
word pieces wherever it was made. Workers are spawned (not forked from a process with
torch threads running) and only when there is enough work to repay their start.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Generic, TypeVar

from .answer.retrieval import chunk_keyword_terms
from .errors import CorpusError
from .ingest.chunking import ChunkingParams, TokenCounter, chunk_document
from .ingest.documents import SourceFile, load_document
from .ingest.textnorm import GlueSplitter
from .types import Chunk, Document

T = TypeVar("T")
R = TypeVar("R")
AUTO_MIN_DOCUMENTS = 64  # below this many documents to parse or chunk, "auto" uses no workers


def worker_count(setting: int, documents: int) -> int:
    """Processes for `documents` documents: the setting when given (0: none), else one per spare core."""
    if setting >= 0:
        return setting
    spare = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) - 1
    return min(spare, 8) if documents >= AUTO_MIN_DOCUMENTS else 0


def pool(workers: int, initializer: Callable[..., None] | None = None, args: tuple[Any, ...] = ()) -> Executor | None:
    if workers <= 0:
        return None
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=initializer, initargs=args)


@dataclass(frozen=True)
class _Ready(Generic[R]):
    value: R


def in_order(items: Iterable[T], job: Callable[[Any], R], executor: Executor | None,
             argument: Callable[[T], Any] | None = None, ready: Callable[[T], R | None] | None = None,
             window: int = 0) -> Iterator[tuple[T, R]]:
    """(item, job(argument(item))) for each item, in the items' order; jobs run in `executor`
    (inline without one) with at most `window` waiting, so memory stays bounded however many
    items there are. `ready(item)`, when it gives a value, is used instead of a job."""
    window = window or 4 * max(1, getattr(executor, "_max_workers", 1))
    pending: deque[tuple[T, Future[R] | _Ready[R]]] = deque()
    for item in items:
        value = ready(item) if ready else None
        if value is not None:
            pending.append((item, _Ready(value)))
        else:
            given = argument(item) if argument else item
            pending.append((item, _Ready(job(given)) if executor is None else executor.submit(job, given)))
        while len(pending) > window:
            yield _take(pending.popleft())
    while pending:
        yield _take(pending.popleft())


def _take(entry: tuple[T, Future[R] | _Ready[R]]) -> tuple[T, R]:
    item, result = entry
    return item, result.value if isinstance(result, _Ready) else result.result()


def parse(source: SourceFile) -> Document | str:
    """The document, or why it could not be read (exceptions stay in the worker)."""
    try:
        return load_document(source)
    except CorpusError as exc:
        return str(exc).split(": ", 1)[-1]


@dataclass(frozen=True)
class Chunker:
    """Document -> its chunks and each one's keyword terms: what pass 2 of a build runs per document."""

    count_tokens: TokenCounter
    splitter: GlueSplitter
    acronyms: dict[str, str]
    params: ChunkingParams

    def __call__(self, doc: Document) -> tuple[list[Chunk], list[list[str]]]:
        chunks = chunk_document(doc, self.count_tokens, self.splitter, self.params)
        return chunks, [chunk_keyword_terms(c, doc.meta.title, self.acronyms, self.splitter) for c in chunks]


_WORKER_CHUNKER: list[Chunker] = []  # a worker process's chunker, set once when it starts


def start_chunker(chunker: Chunker) -> None:
    _WORKER_CHUNKER[:] = [chunker]


def chunk_in_worker(doc: Document) -> tuple[list[Chunk], list[list[str]]]:
    return _WORKER_CHUNKER[0](doc)
