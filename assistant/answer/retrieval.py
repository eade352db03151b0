"""Question -> ranked Hits: dense (FAISS cosine) and BM25 keyword search, fused (z-scores or ranks)."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from ..config import Settings
from ..indexing.embedding import Embedder
from ..indexing.keyword import Bm25
from ..indexing.store import IndexStore
from ..ingest.textnorm import QUESTION_WORDS, GlueSplitter, keyword_terms
from ..types import Chunk, Hit
from .acronyms import expand, find_acronyms

SEARCH_MODES = ("hybrid", "dense", "keyword")
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
_COMPARISON = re.compile(r"\b(?:differ\w*|compar\w*|contrast\w*|versus|vs\.?|"
                         r"similarit\w*|in common|both)\b", re.I)
# Words that ask for a comparison say nothing about what is compared: not search terms.
_COMPARISON_TERMS = frozenset(keyword_terms(
    "differ differs differ differed difference differences different compare compared comparison "
    "comparisons contrast contrasts versus vs similar similarity similarities common both"))
_NAME = re.compile(r"(?<=\w)[\s,]+([A-Z][\w-]*[a-z][\w-]*)")  # "…the Bletchley Declaration": not the first word
_AUTHORSHIP = re.compile(r"\b(?:author|authors|wrote|written|writer|byline|who (?:is|was) behind)\b", re.I)


@dataclass(frozen=True)
class Query:
    """A question analysed for search."""

    text: str
    vector: np.ndarray
    terms: tuple[str, ...]  # content terms: stemmed, no stopwords or question words
    cosines: np.ndarray  # cosine(question, chunk) for every chunk of the index, in store order
    about_authorship: bool
    comparison: bool = False  # "How do the US and EU approaches differ?": answer from each source
    unknown: float = 0.0  # idf-weighted share of the question's terms that no indexed passage holds
    spread: float = 0.0  # best cosine minus the fifth best among the passages searched: does one stand out?
    unknown_name: bool = False  # a name in the question (a capitalised word inside it) that no passage holds


def chunk_search_text(chunk: Chunk, title: str) -> str:
    """What keyword search reads for a chunk: its title, heading and text."""
    return f"{title}\n{chunk.heading}\n{chunk.text}"


class Retriever:
    """Hybrid search over one loaded index."""

    def __init__(self, store: IndexStore, embedder: Embedder, splitter: GlueSplitter,
                 settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.splitter = splitter
        self.settings = settings
        # Acronyms the corpus defines: "TTC" in a question also finds "Trade and Technology Council".
        self.acronyms = find_acronyms(d.document.text for d in store.documents.values())
        chunk_terms = [
            keyword_terms(expand(chunk_search_text(c, store.document(c.doc_id).meta.title), self.acronyms),
                          splitter)
            for c in store.chunks
        ]
        self.chunk_terms = [set(terms) for terms in chunk_terms]
        self._byline = np.array([c.role == "byline" for c in store.chunks], dtype=bool)
        self._doc_ids = np.array([c.doc_id for c in store.chunks], dtype=object)
        self.bm25 = Bm25(chunk_terms)

    def analyse(self, question: str, doc_ids: Collection[str] | None = None) -> Query:
        """The question's vector, search terms and the evidence measures answering weighs
        (within `doc_ids` when the question is asked of some documents only)."""
        expanded = expand(question, self.acronyms)
        vector = self.embedder.encode([self.splitter.readable(expanded)])[0]
        comparison = bool(_COMPARISON.search(question))
        terms = tuple(t for t in keyword_terms(expanded, self.splitter)
                      if t not in QUESTION_WORDS and not (comparison and t in _COMPARISON_TERMS))
        weights = self._weights(terms)
        total = sum(weights.values())
        unknown = sum(w for t, w in weights.items() if not self.bm25.knows(t)) / total if total else 0.0
        names = {t for name in _NAME.findall(question) for t in keyword_terms(name, self.splitter)}
        cosines = self.store.vectors @ vector  # unit vectors; search() ranks by these
        return Query(question, vector, terms, cosines, bool(_AUTHORSHIP.search(question)), comparison, unknown,
                     self._spread(cosines, doc_ids), any(not self.bm25.knows(t) for t in names))

    def _spread(self, cosines: np.ndarray, doc_ids: Collection[str] | None) -> float:
        in_scope = cosines if doc_ids is None else cosines[np.isin(self._doc_ids, list(doc_ids))]
        if not len(in_scope):
            return 0.0
        ordered = np.sort(in_scope)[::-1]
        return float(ordered[0] - ordered[min(4, len(ordered) - 1)])

    def coverage(self, query: Query, terms: Collection[str]) -> float:
        """idf-weighted share of the question's content terms found in `terms`."""
        weights = self._weights(query.terms)
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one retriever per loaded index; bounded
    def _weights(self, terms: tuple[str, ...]) -> dict[str, float]:
        return {t: self.bm25.term_idf(t) for t in set(terms)}

    def search(self, query: Query, k: int, doc_ids: Collection[str] | None = None,
               mode: str = "hybrid") -> list[Hit]:
        """The k best chunks, fused from dense and keyword rankings.

        mode "dense" or "keyword" uses one ranking alone (for comparisons in `assistant eval`).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}")
        chunks = self.store.chunks
        if not chunks:
            return []
        # Author blurbs answer "who wrote it?", nothing else.
        allowed = np.ones(len(chunks), dtype=bool) if query.about_authorship else ~self._byline
        if doc_ids is not None:
            allowed &= np.isin(self._doc_ids, list(doc_ids))
        dense_all = query.cosines
        keyword_all = self.bm25.scores(query.terms)
        n = self.settings.candidates
        dense_rank = _ranks(dense_all, allowed, n)
        keyword_rank = _ranks(keyword_all, allowed & (keyword_all > 0), n)
        rankings = {"hybrid": [dense_rank, keyword_rank], "dense": [dense_rank],
                    "keyword": [keyword_rank]}[mode]
        if query.about_authorship:
            # An authorship question is answered by bylines: rank them as a third list.
            bylines = np.array([c.role == "byline" for c in chunks]) & allowed
            rankings.append(_ranks(dense_all, bylines, n))
        if self.settings.fusion == "rrf" or mode != "hybrid":
            fused = _reciprocal_rank_fusion(rankings)
        else:
            fused = _zscore_fusion(rankings, [dense_all, keyword_all, dense_all])
        top_keyword = float(keyword_all.max()) if len(keyword_all) else 0.0
        ordered = sorted(fused, key=lambda i: (-fused[i], -dense_all[i]))[:k]
        return [
            Hit(chunk=chunks[i], score=fused[i], dense=float(dense_all[i]),
                keyword=float(keyword_all[i] / top_keyword) if top_keyword > 0 else 0.0,
                rank=r + 1, coverage=self.coverage(query, self.chunk_terms[i]))
            for r, i in enumerate(ordered)
        ]


def _reciprocal_rank_fusion(rankings: list[list[int]]) -> dict[int, float]:
    """Sum of 1 / (60 + rank) over the rankings (Cormack et al. 2009): ranks only, scores ignored."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking):
            fused[index] = fused.get(index, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def _zscore_fusion(rankings: list[list[int]], scores: list[np.ndarray]) -> dict[int, float]:
    """Sum over the rankings of each candidate's z-score among that ranking's candidates.

    A match that stands far above the rest of its list (a sure one) keeps a large lead even
    when the other list missed it; a candidate a list did not return counts as that list's
    worst. Rank fusion would give rank 1 + rank 28 less than rank 5 + rank 5.
    """
    pooled = {i for ranking in rankings for i in ranking}
    fused = dict.fromkeys(pooled, 0.0)
    for ranking, values in zip(rankings, scores):
        if not ranking:
            continue
        top = values[ranking].astype(np.float64)
        mean, spread = float(top.mean()), float(top.std()) or 1.0
        floor = (float(top.min()) - mean) / spread
        listed = set(ranking)
        for i in pooled:
            fused[i] += (float(values[i]) - mean) / spread if i in listed else floor
    return fused


def _ranks(scores: np.ndarray, allowed: np.ndarray, n: int) -> list[int]:
    candidates = np.flatnonzero(allowed)
    if not len(candidates):
        return []
    top = candidates[np.argsort(-scores[candidates], kind="stable")[:n]]
    return [int(i) for i in top]
