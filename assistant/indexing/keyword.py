"""BM25 keyword search over pre-tokenised texts (Okapi BM25, Lucene's idf)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np


class Bm25:
    """An in-memory inverted index; building it for thousands of chunks takes milliseconds."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size else 1.0
        norm = k1 * (1 - b + b * lengths / max(average, 1e-9))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, terms in enumerate(documents):
            for term, tf in Counter(terms).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        for term, (ids, tfs) in postings.items():
            id_array = np.array(ids, dtype=np.int64)
            tf_array = np.array(tfs, dtype=np.float32)
            # Precompute each posting's BM25 weight: tf (k1 + 1) / (tf + norm).
            weight = tf_array * (k1 + 1) / (tf_array + norm[id_array])
            self._postings[term] = (id_array, weight)
            df = len(ids)
            self.idf[term] = math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """A BM25 score for every document (zeros where no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(query_terms):
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, weight = posting
            out[ids] += self.idf[term] * weight
        return out

    def term_idf(self, term: str) -> float:
        """idf of a term; unseen terms get the idf of a term seen once less (rarest)."""
        if term in self.idf:
            return self.idf[term]
        return math.log(1 + (self.size + 0.5) / 0.5)

    def knows(self, term: str) -> bool:
        return term in self._postings
