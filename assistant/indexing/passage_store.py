"""What answering reads from an opened index, whichever backend holds it.

Two backends implement it: the embedded on-disk index (store.IndexStore, the default) and a
Milvus collection (milvus/reader.MilvusStore). Rows are chunk numbers in build order: a
document's chunks are the rows [first_row, end_row) of its entry in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ..types import Chunk, Document


class TermStatistics(Protocol):
    """The index's vocabulary, as a question's analysis weighs its terms."""

    def knows(self, term: str) -> bool: ...

    def term_idf(self, term: str) -> float: ...


class PassageStore(Protocol):
    """An opened index version."""

    version: str  # names the build; a server reloads when the served one changes
    size: int  # chunks
    manifest: dict[str, Any]
    acronyms: dict[str, str]
    corpus_words: list[str]
    byline_rows: np.ndarray

    @property
    def keyword(self) -> TermStatistics: ...

    @property
    def documents(self) -> Mapping[str, Any]: ...  # doc_id -> StoredDocument

    @property
    def entries(self) -> Mapping[str, Any]: ...  # doc_id -> DocumentEntry (no text)

    def document(self, doc_id: str) -> Document: ...

    def rows_of(self, doc_ids: Iterable[str]) -> np.ndarray: ...

    def search(self, query_vector: np.ndarray, k: int,
               rows: np.ndarray | None = None) -> list[tuple[int, float]]: ...

    def cosines(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray: ...

    def keyword_ranking(self, terms: Sequence[str], n: int, rows: np.ndarray | None = None,
                        with_bylines: bool = False) -> list[tuple[int, float]]: ...

    def keyword_scores(self, terms: Sequence[str], rows: Sequence[int]) -> np.ndarray: ...

    def passages(self, rows: Sequence[int]) -> list[tuple[Chunk, tuple[str, ...]]]: ...

    def excerpt_vectors_of(self, chunks: Sequence[Chunk]) -> list[np.ndarray]: ...
