"""Hits -> an Answer made of verbatim excerpts with citations, or an honest "not covered"."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import Settings
from .retrieval import Query
from .textnorm import keyword_terms
from .types import Answer, Chunk, Citation, Document, Hit, Sentence

NOT_COVERED = "The documents do not cover this question."

SentenceEncoder = Callable[[Sequence[str]], np.ndarray]
DocumentLookup = Callable[[str], Document]
Coverage = Callable[[Query, set[str]], float]


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    index: int  # position of the sentence in hit.chunk.sentences
    score: float


def evidence_strength(hits: Sequence[Hit]) -> float:
    """How well the best passage matches: its cosine plus how many question terms it holds.

    The rule and its threshold are explained in the README (Abstention).
    """
    if not hits:
        return 0.0
    return max(0.6 * h.dense + 0.4 * h.coverage for h in hits[:3])


def compose(query: Query, hits: Sequence[Hit], settings: Settings, document: DocumentLookup,
            encode_sentences: SentenceEncoder, coverage: Coverage, splitter_readable: Callable[[str], str],
            searched: str = "") -> Answer:
    """Pick the sentences that best answer the question and cite each one."""
    strength = evidence_strength(hits)
    if strength < settings.abstain_below:
        closest = [_citation(n, h, h.chunk.sentences[0], h.chunk.sentences[-1], document(h.chunk.doc_id), h.dense)
                   for n, h in enumerate(hits[:3], start=1)]
        return Answer(query.text, NOT_COVERED, True, (), tuple(_verified(closest, document)), searched)

    pool = list(hits[: settings.rerank_chunks])
    texts: list[str] = []
    owners: list[tuple[Hit, int]] = []
    for hit in pool:
        doc = document(hit.chunk.doc_id)
        for i, sentence in enumerate(hit.chunk.sentences):
            # The heading gives a sentence its context ("This initial forum" under
            # "AI Partnership for Defense").
            context = f"{hit.chunk.heading}: " if hit.chunk.heading else ""
            texts.append(splitter_readable(context + doc.text[sentence.start:sentence.end]))
            owners.append((hit, i))
    vectors = encode_sentences(texts)
    sims = vectors @ query.vector if len(texts) else np.zeros(0)
    top_dense = max(h.dense for h in pool)
    candidates = []
    for (hit, i), sim, text in zip(owners, sims, texts):
        term_cover = coverage(query, set(keyword_terms(text)))
        # Sentence meaning, the passage's standing, and the question's words in it.
        score = 0.45 * float(sim) + 0.35 * (hit.dense - top_dense + 1) * hit.coverage ** 0.5 \
            + 0.20 * term_cover
        candidates.append(_Candidate(hit, i, score))
    candidates.sort(key=lambda c: -c.score)

    chosen: list[tuple[Hit, int, int, float]] = []
    per_chunk: dict[str, int] = {}
    for cand in candidates:
        if len(chosen) >= settings.max_citations:
            break
        if cand.score < candidates[0].score * 0.6:
            break  # far weaker than the best: not part of the answer
        chunk = cand.hit.chunk
        if per_chunk.get(chunk.chunk_id, 0) >= 2:
            continue
        first, last = _widen(chunk, cand.index, document(chunk.doc_id), settings.min_excerpt_words)
        if any(c[0].chunk.chunk_id == chunk.chunk_id and not (last < c[1] or first > c[2]) for c in chosen):
            continue  # overlaps an excerpt already chosen
        chosen.append((cand.hit, first, last, cand.score))
        per_chunk[chunk.chunk_id] = per_chunk.get(chunk.chunk_id, 0) + 1

    citations = [
        _citation(n, hit, hit.chunk.sentences[first], hit.chunk.sentences[last],
                  document(hit.chunk.doc_id), score)
        for n, (hit, first, last, score) in enumerate(chosen, start=1)
    ]
    citations = _verified(citations, document)
    if not citations:
        return Answer(query.text, NOT_COVERED, True, (), (), searched)
    text = " ".join(f"“{_one_line(c.excerpt)}” [{c.n}]" for c in citations)
    return Answer(query.text, text, False, tuple(citations), (), searched)


def _widen(chunk: Chunk, index: int, doc: Document, min_words: int) -> tuple[int, int]:
    """Grow a too-short excerpt with the next (else previous) sentences of its paragraph."""
    first = last = index
    sentences = chunk.sentences

    def words(a: int, b: int) -> int:
        return len(doc.text[sentences[a].start:sentences[b].end].split())

    while words(first, last) < min_words:
        if last + 1 < len(sentences):
            last += 1
        elif first > 0:
            first -= 1
        else:
            break
    return first, last


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _citation(n: int, hit: Hit, first: Sentence, last: Sentence, doc: Document, score: float) -> Citation:
    meta = doc.meta
    return Citation(
        n=n, chunk_id=hit.chunk.chunk_id, doc_id=doc.doc_id, title=meta.title, author=meta.author,
        publisher=meta.publisher, date=meta.date, source_type=meta.source_type, page=first.page,
        paragraph=first.paragraph, excerpt=doc.text[first.start:last.end], start=first.start,
        end=last.end, score=round(float(score), 4), path=doc.path,
    )


def excerpt_is_verbatim(citation: Citation, doc: Document) -> bool:
    """The invariant: the excerpt is the source text at its offsets (whitespace aside)."""
    if not (0 <= citation.start < citation.end <= len(doc.text)):
        return False
    if citation.doc_id != doc.doc_id:
        return False
    return _one_line(doc.text[citation.start:citation.end]) == _one_line(citation.excerpt)


def _verified(citations: list[Citation], document: DocumentLookup) -> list[Citation]:
    """Drop any citation whose excerpt is not in its source; renumber the rest."""
    kept = [c for c in citations if excerpt_is_verbatim(c, document(c.doc_id))]
    return [_renumber(c, n) for n, c in enumerate(kept, start=1)]


def _renumber(citation: Citation, n: int) -> Citation:
    from dataclasses import replace

    return replace(citation, n=n)
