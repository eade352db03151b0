"""Dense search over memory-mapped unit vectors: exact below a size, an approximate FAISS index above.

Exact search is faiss.knn over the memory-mapped vector file (no copy is loaded). Above
`Settings.ann_above` passages a build also writes an inverted-file index with 8-bit codes
(faiss IndexIVFScalarQuantizer, inner product) whose lists are memory-mapped when opened: a
query reads `probe` of its `lists`, then re-ranks what it found by exact cosines from the
vector file, so it costs milliseconds and touches a few megabytes at a million passages.
Its recall@10 against exact search is what benchmarks/bench_scale.py prints.
"""

from __future__ import annotations

import contextlib
import math
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import IndexError_

ANN_FILE = "vectors.faiss"


def choose(count: int, kind: str = "auto", ann_above: int = 50_000, lists: int = 0,
           probe: int = 0) -> dict[str, Any]:
    """The vector index for `count` passages, as the manifest records it."""
    if kind == "flat" or (kind == "auto" and count <= ann_above) or count < 2:
        return {"kind": "flat"}
    lists = lists or max(1, min(count // 39, round(4 * math.sqrt(count))))  # faiss wants >= 39 per list
    return {"kind": "ivf", "lists": lists, "probe": probe or default_probe(lists)}


def default_probe(lists: int) -> int:
    """Lists searched per query: enough for recall@10 >= 0.95 on real embeddings (bench_scale.py)."""
    return min(lists, max(16, lists // 40))


def write_ann(path: Path, count: int, dimension: int, spec: dict[str, Any], folder: Path, seed: int = 0,
              trained: Path | None = None) -> None:
    """Train and fill the approximate index `spec` describes from the vector file at `path`;
    nothing for "flat". The vectors are read in blocks, never mapped whole, and stored as 8-bit
    codes (a quarter of their size; search re-ranks by exact cosines). The centroids of `trained`
    (a version folder) are reused when its index has as many lists: an incremental build then
    assigns vectors without running k-means again."""
    if spec["kind"] != "ivf":
        return
    lists = int(spec["lists"])
    quantizer = faiss.IndexFlatIP(dimension)
    centroids = _centroids(trained, lists, dimension) if trained is not None else None
    if centroids is not None:
        quantizer.add(centroids)  # faiss then trains only the 8-bit codes' ranges
    index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, lists, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    wanted = np.sort(rng.choice(count, size=min(count, 40 * lists), replace=False))
    sample = [block[wanted[(wanted >= start) & (wanted < start + len(block))] - start]
              for start, block in _vector_blocks(path, count, dimension)]
    index.train(np.ascontiguousarray(np.concatenate(sample)))
    for _, block in _vector_blocks(path, count, dimension):
        index.add(block)
    faiss.write_index(index, str(folder / ANN_FILE))


def _vector_blocks(path: Path, count: int, dimension: int, size: int = 50_000) -> Iterator[tuple[int, np.ndarray]]:
    with open(path, "rb") as handle:
        for start in range(0, count, size):
            block = np.fromfile(handle, dtype=np.float32, count=min(size, count - start) * dimension)
            yield start, block.reshape(-1, dimension)


def _centroids(folder: Path, lists: int, dimension: int) -> np.ndarray | None:
    path = folder / ANN_FILE
    if not path.exists():
        return None
    old: Any = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    if getattr(old, "nlist", 0) != lists or old.d != dimension:
        return None
    return faiss.downcast_index(old.quantizer).reconstruct_n(0, lists)


class RowFile:
    """Rows of a float32 vector file read with pread, for a question's few scattered rows.

    Reading them through the memory map would map whole page-cache folios into the process:
    at a million passages, 100 questions left 1.4 GB of the vector file in the serving
    process's RSS for a few hundred rows each. Read this way they cost one system call per
    run of consecutive rows and stay out of the process's memory.
    """

    def __init__(self, path: Path, rows: int, dimension: int) -> None:
        self.path, self.rows, self.dimension = path, rows, dimension
        self._row_bytes = 4 * dimension
        self._fd = os.open(path, os.O_RDONLY) if rows else None
        # Closed with close(), or when this object is collected (an index replaced by a rebuild).
        self._closer = weakref.finalize(self, os.close, self._fd) if self._fd is not None else None

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows asked for, in the order asked (repeats allowed)."""
        wanted = np.asarray(rows, dtype=np.int64)
        if not len(wanted):
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique = np.unique(wanted)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        parts = [self.range(int(run[0]), int(run[-1]) + 1) for run in np.split(unique, breaks)]
        found = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return found[np.searchsorted(unique, wanted)]

    def range(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop), read at once."""
        if stop <= start or self._fd is None:
            return np.zeros((0, self.dimension), dtype=np.float32)
        size = (stop - start) * self._row_bytes
        data = os.pread(self._fd, size, start * self._row_bytes)
        if len(data) != size:
            raise IndexError_(f"{self.path}: rows {start}-{stop} are past its end; rebuild the index")
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self.dimension)

    def close(self) -> None:
        """Close the file now (only when nothing can read these rows any more)."""
        if self._closer is not None:
            self._closer()
            self._fd = None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread, in this thread, for a one-question search.

    A question is one row: threads gain nothing, and once a parallel search ends its idle
    threads spin and take the cores torch needs to encode the next question (on 2 cores,
    warm ask p95 at 13.5k passages 43 ms with FAISS's default threads, 19 ms with one).
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class VectorSearch:
    """Nearest passages by cosine (vectors are unit length), all of them or among some rows."""

    def __init__(self, folder: Path, vectors: np.ndarray, spec: dict[str, Any], exact: bool = False,
                 probe: int = 0, rows: RowFile | None = None) -> None:
        self.vectors = vectors
        self.rows = rows  # scattered rows are read from here when given, not through the map
        self.spec = spec
        self._ann: Any = None
        if spec.get("kind") == "ivf" and not exact:
            self._ann = faiss.read_index(str(folder / ANN_FILE), faiss.IO_FLAG_MMAP)
            self._ann.nprobe = int(probe or spec.get("probe") or default_probe(int(spec["lists"])))

    @property
    def approximate(self) -> bool:
        return self._ann is not None

    def search(self, query: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the k nearest passages, best first; among `rows` when given (exact)."""
        count = len(self.vectors) if rows is None else len(rows)
        k = min(k, count)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with one_thread():
            return self._search(q, k, count, rows)

    def _search(self, q: np.ndarray, k: int, count: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if rows is not None:
            scores, found = faiss.knn(q, np.ascontiguousarray(self._take(rows)), k,
                                      metric=faiss.METRIC_INNER_PRODUCT)
            keep = found[0] >= 0
            return rows[found[0][keep]], scores[0][keep]
        if self._ann is not None:  # approximate codes: take more, keep the k nearest by exact cosine
            _, found = self._ann.search(q, min(count, 2 * k + 10))
            rows = found[0][found[0] >= 0].astype(np.int64)
            exact = self.cosines(q[0], rows)
            best = np.argsort(-exact, kind="stable")[:k]
            return rows[best], exact[best]
        scores, found = faiss.knn(q, self.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def cosines(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosines of some passages with the query."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._take(rows) @ query.astype(np.float32), dtype=np.float32)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        return self.rows.take(rows) if self.rows is not None else np.asarray(self.vectors[rows])
