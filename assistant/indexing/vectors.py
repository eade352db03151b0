"""Dense search over memory-mapped unit vectors: exact below a size, an approximate FAISS index above.

Exact search is faiss.knn over the memory-mapped vector file (no copy is loaded). Above
`Settings.ann_above` passages a build also writes an inverted-file index (faiss IndexIVFFlat,
inner product) whose lists are memory-mapped when opened: a query reads `probe` of its
`lists`, so it costs milliseconds and touches a few megabytes at a million passages.
Its recall@10 against exact search is what benchmarks/bench_scale.py prints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

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


def write_ann(vectors: np.ndarray, spec: dict[str, Any], folder: Path, seed: int = 0) -> None:
    """Train and fill the approximate index `spec` describes; nothing for "flat"."""
    if spec["kind"] != "ivf":
        return
    count, dimension = vectors.shape
    lists = int(spec["lists"])
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(count, size=min(count, 40 * lists), replace=False))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, count, 100_000):
        index.add(np.ascontiguousarray(vectors[start:start + 100_000], dtype=np.float32))
    faiss.write_index(index, str(folder / ANN_FILE))


class VectorSearch:
    """Nearest passages by cosine (vectors are unit length), all of them or among some rows."""

    def __init__(self, folder: Path, vectors: np.ndarray, spec: dict[str, Any], exact: bool = False,
                 probe: int = 0) -> None:
        self.vectors = vectors
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
        if rows is not None:
            scores, found = faiss.knn(q, np.ascontiguousarray(self.vectors[rows]), k,
                                      metric=faiss.METRIC_INNER_PRODUCT)
            keep = found[0] >= 0
            return rows[found[0][keep]], scores[0][keep]
        if self._ann is not None:
            scores, found = self._ann.search(q, k)
        else:
            scores, found = faiss.knn(q, self.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def cosines(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosines of some passages with the query."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.vectors[rows] @ query.astype(np.float32), dtype=np.float32)
