"""Hits -> an Answer made of verbatim excerpts with citations, or an honest "not covered"."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np

from ..config import Settings
from ..ingest.passages import passage_id
from ..ingest.textnorm import keyword_terms
from ..types import Answer, Chunk, Citation, Document, Hit, Sentence
from .retrieval import NAMES_PEOPLE, Query

NOT_COVERED = "The documents do not cover this question."
# Sentence score weights (measured with `assistant eval`; see README, Retrieval).
W_SENTENCE, W_PASSAGE, W_TERMS, W_PHRASE = 0.45, 0.35, 0.20, 0.10


ExcerptVectors = Callable[[Chunk], np.ndarray]
"""The unit vectors of a chunk's excerpt windows, one row per window."""
DocumentLookup = Callable[[str], Document]
Coverage = Callable[[Query, set[str]], float]


def evidence_strength(hits: Sequence[Hit]) -> float:
    """How well the best passage matches: its cosine plus how many question terms it holds.

    The rule and its threshold are explained in the README (Abstention).
    """
    if not hits:
        return 0.0
    return max(0.6 * h.dense + 0.4 * h.coverage for h in hits[:3])


def compose(query: Query, hits: Sequence[Hit], settings: Settings, document: DocumentLookup,
            excerpt_vectors: ExcerptVectors, coverage: Coverage, searched: str = "") -> Answer:
    """Pick the sentences that best answer the question and cite each one."""
    strength = evidence_strength(hits)
    if strength < settings.abstain_below:
        closest = [_citation(n, h, h.chunk.sentences[0], h.chunk.sentences[-1], document(h.chunk.doc_id), h.dense)
                   for n, h in enumerate(hits[:3], start=1)]
        return Answer(query.text, NOT_COVERED, True, (), tuple(_verified(closest, document)), searched)

    pool = _diverse(hits, settings.rerank_chunks) if query.comparison else list(hits[: settings.rerank_chunks])
    # Candidate excerpts: the chunk's excerpt windows (see chunking.excerpt_windows), each
    # embedded at build time, scored whole.
    owners: list[tuple[Hit, int, int]] = []
    texts: list[str] = []
    rows: list[np.ndarray] = []
    for hit in pool:
        doc = document(hit.chunk.doc_id)
        vectors = excerpt_vectors(hit.chunk)
        sentences = hit.chunk.sentences
        for (first, last), vector in zip(hit.chunk.excerpts, vectors):
            owners.append((hit, first, last))
            # The title counts: "the US-UK declaration" is named by the document, not each sentence.
            texts.append(f"{doc.meta.title}\n{hit.chunk.heading}\n{doc.text[sentences[first].start:sentences[last].end]}")
            rows.append(vector)
    sims = np.stack(rows) @ query.vector if rows else np.zeros(0)
    top_fused = max(h.score for h in pool)
    scored: list[tuple[float, Hit, int, int]] = []
    for (hit, first, last), sim, text in zip(owners, sims, texts):
        excerpt_terms = keyword_terms(text)
        term_cover = coverage(query, set(excerpt_terms))
        phrase_cover = _bigram_cover(query.terms, excerpt_terms)
        # Excerpt meaning, the passage's standing in retrieval, the question's words in it.
        score = (W_SENTENCE * float(sim) + W_PASSAGE * (hit.score / top_fused) + W_TERMS * term_cover
                 + W_PHRASE * phrase_cover)
        if query.about_people and NAMES_PEOPLE.search(text):
            score += W_PHRASE  # "which ministers?" is answered by text that names people
        if query.about_authorship and hit.chunk.role == "byline":
            score += W_PASSAGE  # "who wrote it?" is answered by the byline, whatever its wording
        scored.append((score, hit, first, last))
    scored.sort(key=lambda item: -item[0])

    chosen = _choose(scored, settings.max_citations, query.comparison)
    if query.comparison:
        # Group by source, sources in order of their best excerpt.
        order = list(dict.fromkeys(hit.chunk.doc_id for hit, _, _, _ in chosen))
        chosen.sort(key=lambda c: order.index(c[0].chunk.doc_id))
    citations = [
        _citation(n, hit, hit.chunk.sentences[first], hit.chunk.sentences[last],
                  document(hit.chunk.doc_id), score)
        for n, (hit, first, last, score) in enumerate(chosen, start=1)
    ]
    citations = _verified(citations, document)
    if not citations:
        return Answer(query.text, NOT_COVERED, True, (), (), searched)
    if query.comparison:
        groups: dict[str, list[Citation]] = {}
        for c in citations:
            groups.setdefault(c.doc_id, []).append(c)
        text = "\n\n".join(f"{group[0].title}: " + " ".join(f"“{_one_line(c.excerpt)}” [{c.n}]" for c in group)
                           for group in groups.values())
    else:
        text = " ".join(f"“{_one_line(c.excerpt)}” [{c.n}]" for c in citations)
    return Answer(query.text, text, False, tuple(citations), (), searched)


def _diverse(hits: Sequence[Hit], size: int) -> list[Hit]:
    """The best hits, at most two per document, so that several sources are compared."""
    per_doc: dict[str, int] = {}
    pool = []
    for hit in hits:
        if per_doc.get(hit.chunk.doc_id, 0) < 2:
            pool.append(hit)
            per_doc[hit.chunk.doc_id] = per_doc.get(hit.chunk.doc_id, 0) + 1
    return pool[: size + 2]


def _choose(scored: list[tuple[float, Hit, int, int]], limit: int,
            comparison: bool) -> list[tuple[Hit, int, int, float]]:
    """The best non-overlapping excerpts; for comparisons, the best two of each source."""
    chosen: list[tuple[Hit, int, int, float]] = []
    per_chunk: dict[str, int] = {}
    per_doc: dict[str, int] = {}
    if comparison:
        limit += 2  # room for each side
    for score, hit, first, last in scored:
        if len(chosen) >= limit:
            break
        if score < scored[0][0] * (0.5 if comparison else 0.6):
            break  # far weaker than the best: not part of the answer
        chunk_id, doc_id = hit.chunk.chunk_id, hit.chunk.doc_id
        if per_chunk.get(chunk_id, 0) >= 2 or (comparison and per_doc.get(doc_id, 0) >= 2):
            continue
        if any(c[0].chunk.chunk_id == chunk_id and not (last < c[1] or first > c[2]) for c in chosen):
            continue  # overlaps an excerpt already chosen
        chosen.append((hit, first, last, score))
        per_chunk[chunk_id] = per_chunk.get(chunk_id, 0) + 1
        per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
    return chosen


def _bigram_cover(query_terms: Sequence[str], excerpt_terms: Sequence[str]) -> float:
    """Share of the question's adjacent term pairs ("statement ai" from "Statement on AI")
    that also stand side by side in the excerpt: phrases, not just words."""
    wanted = {pair for pair in itertools.pairwise(query_terms) if pair[0] != pair[1]}
    if not wanted:
        return 0.0
    return len(wanted & set(itertools.pairwise(excerpt_terms))) / len(wanted)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _citation(n: int, hit: Hit, first: Sentence, last: Sentence, doc: Document, score: float) -> Citation:
    meta = doc.meta
    return Citation(
        n=n, chunk_id=hit.chunk.chunk_id, doc_id=doc.doc_id, title=meta.title, author=meta.author,
        publisher=meta.publisher, date=meta.date, source_type=meta.source_type, page=first.page,
        paragraph=first.paragraph, excerpt=doc.text[first.start:last.end], start=first.start,
        end=last.end, score=round(float(score), 4), path=doc.path, url=meta.url,
        passage_id=passage_id(doc, first.page, first.paragraph),
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
