"""Parsing and chunking in worker processes, results taken in order with a bounded number in flight.

The process that embeds (torch, one model) stays the only one holding the model; workers
get the tokenizer alone, pickled once when they start, so that a chunk counts the same
word pieces wherever it was made. Workers are spawned (not forked from a process with
torch threads running) and only when there is enough work to repay their start. A caller
may hand the build other workers instead (RemoteTasks: a Ray cluster's tasks).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Generic, TypeVar

from ...config import Settings
from ...errors import CorpusError
from ...ingest.chunking import ChunkingParams, TokenCounter, chunk_document
from ...ingest.documents import SourceFile, load_document
from ...ingest.textnorm import GlueSplitter
from ...types import Chunk, Document
from ..embedding import Embedder
from ..keyword import chunk_keyword_terms

T = TypeVar("T")
R = TypeVar("R")
AUTO_MIN_DOCUMENTS = 64  # below this many documents to parse or chunk, "auto" uses no workers


def worker_count(setting: int, documents: int) -> int:
    """Processes for `documents` documents: the setting when given (0: none), else one per spare core."""
    if setting >= 0:
        return setting
    spare = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) - 1
    return min(spare, 8) if documents >= AUTO_MIN_DOCUMENTS else 0


def pool(workers: int, initializer: Callable[..., None] | None = None, args: tuple[Any, ...] = (),
         start_timeout: float = 120.0) -> Executor | None:
    """A pool of `workers` spawned processes, or None (work inline) when there are none or they
    cannot start: a script without an `if __name__ == "__main__":` guard is re-run by each
    spawned process, which then dies; that is found here, before any work is given to them."""
    if workers <= 0:
        return None
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                   initializer=initializer, initargs=args)
    probe = executor.submit(os.getpid)
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        done, _ = wait([probe], timeout=0.05)
        if done and probe.exception() is None:
            return executor
        processes = list(getattr(executor, "_processes", {}).values())  # no public way to see a dead worker
        if done or any(p.exitcode is not None for p in processes):
            break
    for process in list(getattr(executor, "_processes", {}).values()):
        process.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
    return None


StartPool = Callable[[int, Callable[..., None] | None, tuple[Any, ...]], Executor]
"""(workers, initializer, its arguments) -> an executor whose worker processes ran the initializer."""


@dataclass(frozen=True)
class RemoteTasks:
    """Workers a caller lends a build in place of local processes (a Ray cluster's tasks)."""

    count: int  # jobs run at once
    start: StartPool  # makes the executor that runs them (RayExecutor, say)


@dataclass(frozen=True)
class Workers:
    """How many processes parse and chunk, the token counter they get, and where they run
    (`remote`, else processes spawned here)."""

    count: int
    count_tokens: TokenCounter | None
    remote: RemoteTasks | None = None

    def pool(self, initializer: Callable[..., None] | None = None, args: tuple[Any, ...] = ()) -> Executor | None:
        """The executor jobs go to; None: they run inline."""
        if self.remote is not None:
            return self.remote.start(self.count, initializer, args)
        return pool(self.count, initializer, args)


def workers_for(settings: Settings, embedder: Embedder, documents: int, remote: RemoteTasks | None = None) -> Workers:
    """Workers only where the embedder can hand them its tokenizer (so chunks count alike); every
    document goes to the `remote` workers when there are some."""
    make_counter = getattr(embedder, "token_counter", None)
    if make_counter is None:
        return Workers(0, None)
    if remote is not None:
        return Workers(remote.count, make_counter(), remote)
    count = worker_count(settings.workers, documents)
    return Workers(count, make_counter() if count else None)


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


@dataclass(frozen=True)
class _Ready(Generic[R]):
    value: R


def in_order(items: Iterable[T], job: Callable[[Any], R], executor: Executor | None,
             argument: Callable[[T], Any] | None = None, ready: Callable[[T], R | None] | None = None,
             inline: Callable[[Any], R] | None = None, window: int = 0) -> Iterator[tuple[T, R]]:
    """(item, job(argument(item))) for each item, in the items' order; jobs run in `executor`
    (inline without one) with at most `window` waiting, so memory stays bounded however many
    items there are. `ready(item)`, when it gives a value, is used instead of a job.

    Should the pool break (a worker killed, or a script that spawns them without an
    `if __name__ == "__main__":` guard), the remaining jobs run here, as `inline` (default: job).
    """
    window = window or 4 * max(1, getattr(executor, "_max_workers", 1))
    here = inline or job
    pending: deque[tuple[T, Any, Future[R] | _Ready[R]]] = deque()
    broken = False

    def take() -> tuple[T, R]:
        nonlocal broken
        item, given, result = pending.popleft()
        if isinstance(result, _Ready):
            return item, result.value
        try:
            return item, result.result()
        except BrokenProcessPool:
            broken = True
            return item, here(given)

    for item in items:
        value = ready(item) if ready else None
        if value is not None:
            pending.append((item, None, _Ready(value)))
        else:
            given = argument(item) if argument else item
            if executor is None or broken:
                pending.append((item, given, _Ready(here(given))))
            else:
                pending.append((item, given, executor.submit(job, given)))
        while len(pending) > window:
            yield take()
    while pending:
        yield take()


def parse(source: SourceFile, ocr: str = "auto") -> Document | str:
    """The document, or why it could not be read (exceptions stay in the worker)."""
    try:
        return load_document(source, ocr)
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


def start_chunker(path: str) -> None:
    """A worker's initializer: the chunker is read from a file, so that starting a worker sends
    only its path (a large pickle would block the start of a worker that dies on the way)."""
    with open(path, "rb") as handle:
        _WORKER_CHUNKER[:] = [pickle.load(handle)]


def chunker_file(chunker: Chunker, folder: Path) -> str:
    """Where start_chunker reads `chunker` from (in the build's own folder)."""
    path = folder / "chunker.pickle"
    path.write_bytes(pickle.dumps(chunker, protocol=pickle.HIGHEST_PROTOCOL))
    return str(path)


def chunk_in_worker(doc: Document) -> tuple[list[Chunk], list[list[str]]]:
    return _WORKER_CHUNKER[0](doc)
