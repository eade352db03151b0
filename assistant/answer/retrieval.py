"""Question -> ranked Hits: dense (FAISS cosine) and BM25 keyword search, fused (z-scores or ranks)."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import Settings
from ..indexing.acronyms import expand, written_out
from ..indexing.embedding import Embedder
from ..indexing.passage_store import PassageStore
from ..ingest.textnorm import QUESTION_WORDS, GlueSplitter, adjectives_as_names, canonical_names, keyword_terms
from ..types import Hit
from .features import AnswerTypes, answer_types

SEARCH_MODES = ("hybrid", "dense", "keyword")
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
_COMPARISON = re.compile(r"\b(?:differ\w*|compar\w*|contrast\w*|versus|vs\.?|"
                         r"similarit\w*|in common|both)\b", re.I)
# Words that ask for a comparison say nothing about what is compared: not search terms.
_COMPARISON_TERMS = frozenset(keyword_terms(
    "differ differs differ differed difference differences different compare compared comparison "
    "comparisons contrast contrasts versus vs similar similarity similarities common both"))
_NAME = re.compile(r"(?<=\w)[\s,]+([A-Z][\w-]*[a-z][\w-]*)")  # "…the Bletchley Declaration": not the first word
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]*[A-Z0-9]\b")  # "COP28", "GDPR": capitals (and digits), anywhere
_AUTHORSHIP = re.compile(r"\b(?:author|authors|wrote|written|writer|byline|who (?:is|was) behind)\b", re.I)


@dataclass(frozen=True)
class Query:
    """A question analysed for search."""

    text: str
    vector: np.ndarray
    terms: tuple[str, ...]  # content terms: stemmed, no stopwords or question words
    nearest: tuple[tuple[int, float], ...]  # (row, cosine) of the nearest chunks in scope, best first
    about_authorship: bool
    comparison: bool = False  # "How do the US and EU approaches differ?": answer from each source
    unknown: float = 0.0  # idf-weighted share of the question's terms that no indexed passage holds
    spread: float = 0.0  # best cosine minus the fifth best among the passages searched: does one stand out?
    unknown_name: bool = False  # a name in the question (a capitalised word inside it, an acronym) no passage holds
    scope: np.ndarray | None = None  # the chunk rows of the documents asked about; None: all
    types: AnswerTypes = field(default_factory=AnswerTypes)  # the kind of answer asked for (features.answer_types)


class Retriever:
    """Hybrid search over one opened index."""

    def __init__(self, store: PassageStore, embedder: Embedder, splitter: GlueSplitter,
                 settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.splitter = splitter
        self.settings = settings
        # Acronyms the corpus defines: "TTC" in a question also finds "Trade and Technology Council".
        self.acronyms = store.acronyms
        self.bm25 = store.keyword  # knows() and term_idf() of a term

    def analyse(self, question: str, doc_ids: Collection[str] | None = None) -> Query:
        """The question's vector, search terms, nearest chunks and the evidence measures answering
        weighs (within `doc_ids` when the question is asked of some documents only)."""
        # "British" where the documents only write "United Kingdom" is read as "UK".
        question_read = adjectives_as_names(question, self.bm25.knows)
        expanded = expand(question_read, self.acronyms)
        vector = self.embedder.encode([self.splitter.readable(expanded)])[0]
        scope = None if doc_ids is None else self.store.rows_of(doc_ids)
        # Bylines are left out of dense ranking below: ask for enough to fill it without them.
        depth = self.settings.candidates + len(self.store.byline_rows)
        nearest = tuple(self.store.search(vector, max(depth, 5), scope))
        # An acronym no passage holds but the nearest write out is searched for as those words.
        unheard = self._unknown_acronyms(question, nearest)
        expanded = expand(expanded, {a: words for a, words in unheard.items() if words}, keep=False)
        comparison = bool(_COMPARISON.search(question))
        terms = tuple(t for t in keyword_terms(expanded, self.splitter)
                      if t not in QUESTION_WORDS and not (comparison and t in _COMPARISON_TERMS))
        weights = self._weights(terms)
        total = sum(weights.values())
        unknown = sum(w for t, w in weights.items() if not self.bm25.knows(t)) / total if total else 0.0
        # Read from the question as the index reads text: "United Kingdom" is the one term "uk".
        names = {t for name in _NAME.findall(canonical_names(question_read))
                 for t in keyword_terms(name, self.splitter)}
        unknown_name = any(not self.bm25.knows(t) for t in names) or None in unheard.values()
        return Query(question, vector, terms, nearest, bool(_AUTHORSHIP.search(question)), comparison, unknown,
                     _spread(nearest), unknown_name, scope, answer_types(question))

    def _unknown_acronyms(self, question: str, nearest: tuple[tuple[int, float], ...]) -> dict[str, str | None]:
        """Each acronym in the question that no passage holds ("COP28", "NATO"), with the words
        the passages nearest the question write it out in ("North Atlantic Treaty Organization"
        for NATO), None where they do not."""
        unknown = [a for a in dict.fromkeys(_ACRONYM.findall(question))
                   if (terms := keyword_terms(a, self.splitter)) and not any(self.bm25.knows(t) for t in terms)]
        if not unknown:
            return {}
        texts = [chunk.text for chunk, _ in self.store.passages([row for row, _ in nearest[:10]])]
        return {a: written_out(a, texts) for a in unknown}

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
        """The k best chunks, fused from dense and keyword rankings (within the documents
        the query was analysed for, or `doc_ids`).

        mode "dense" or "keyword" uses one ranking alone (for comparisons in `assistant eval`).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}")
        store = self.store
        if not store.size:
            return []
        scope = query.scope if doc_ids is None else store.rows_of(doc_ids)
        bylines = store.byline_rows if scope is None else np.intersect1d(store.byline_rows, scope)
        # Author blurbs answer "who wrote it?", nothing else.
        excluded = set() if query.about_authorship else set(bylines.tolist())
        n = self.settings.candidates
        nearest = query.nearest if doc_ids is None else tuple(store.search(query.vector, n + len(bylines), scope))
        dense = dict(nearest)
        dense_rank = [row for row, _ in nearest if row not in excluded][:n]
        keyword = dict(store.keyword_ranking(query.terms, n, scope, with_bylines=query.about_authorship))
        keyword_rank = list(keyword)
        rankings = {"hybrid": [dense_rank, keyword_rank], "dense": [dense_rank],
                    "keyword": [keyword_rank]}[mode]
        if query.about_authorship and len(bylines):
            # An authorship question is answered by bylines: rank them as a third list.
            by_cosine = store.cosines(query.vector, bylines)
            rankings.append([int(bylines[i]) for i in np.argsort(-by_cosine, kind="stable")[:n]])
            dense.update(zip(bylines.tolist(), by_cosine.tolist()))
        pooled = sorted({i for ranking in rankings for i in ranking} - set(dense))
        dense.update(zip(pooled, store.cosines(query.vector, np.array(pooled, dtype=np.int64)).tolist()))
        if self.settings.fusion == "rrf" or mode != "hybrid":
            fused = _reciprocal_rank_fusion(rankings)
        else:
            fused = _zscore_fusion(rankings, [dense, keyword, dense])
        ordered = sorted(fused, key=lambda i: (-fused[i], -dense[i]))[:k]
        unranked = [i for i in ordered if i not in keyword]
        if unranked:  # found by dense search alone: their keyword scores, for the answer's features
            keyword.update(zip(unranked, store.keyword_scores(query.terms, unranked).tolist()))
        top_keyword = max(keyword.values(), default=0.0)
        return [
            Hit(chunk=chunk, score=fused[i], dense=float(dense[i]),
                keyword=float(keyword[i] / top_keyword) if top_keyword > 0 else 0.0,
                rank=r + 1, coverage=self.coverage(query, set(terms)))
            for r, (i, (chunk, terms)) in enumerate(zip(ordered, store.passages(ordered)))
        ]


def _spread(nearest: tuple[tuple[int, float], ...]) -> float:
    if not nearest:
        return 0.0
    return float(nearest[0][1] - nearest[min(4, len(nearest) - 1)][1])


def _reciprocal_rank_fusion(rankings: list[list[int]]) -> dict[int, float]:
    """Sum of 1 / (60 + rank) over the rankings (Cormack et al. 2009): ranks only, scores ignored."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking):
            fused[index] = fused.get(index, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def _zscore_fusion(rankings: list[list[int]], scores: list[Any]) -> dict[int, float]:
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
        top = np.array([values[i] for i in ranking], dtype=np.float64)
        mean, spread = float(top.mean()), float(top.std()) or 1.0
        floor = (float(top.min()) - mean) / spread
        listed = set(ranking)
        for i in pooled:
            fused[i] += (float(values[i]) - mean) / spread if i in listed else floor
    return fused

