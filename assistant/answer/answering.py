"""Hits -> an Answer made of verbatim excerpts with citations, or an honest "not covered"."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config import Settings
from ..ingest.passages import passage_id
from ..ingest.textnorm import keyword_terms
from ..types import Answer, AnswerSpan, Chunk, Citation, Document, Hit, Sentence, one_line
from .blend import EVEN_BLEND, Blend, excerpt_evidence, question_evidence
from .features import FEATURES, excerpt_features, holds_party_line, signature_windows
from .quotes import Quote, extended, joined
from .reader import Reader
from .rescorer import Rescorer, default_rescorer, sigmoid
from .retrieval import Query

NOT_COVERED = "The documents do not cover this question."


ExcerptVectors = Callable[[Sequence[Chunk]], list[np.ndarray]]
"""The unit vectors of each chunk's excerpt windows, one row per window (asked once per question)."""
DocumentLookup = Callable[[str], Document]
Coverage = Callable[[Query, set[str]], float]


def evidence_strength(hits: Sequence[Hit]) -> float:
    """How well the best passage matches: its cosine plus how many question terms it holds.

    The rule and its threshold are explained in docs/answers.md (Abstention).
    """
    if not hits:
        return 0.0
    return max(0.6 * h.dense + 0.4 * h.coverage for h in hits[:3])


def answerability(query: Query, hits: Sequence[Hit], best: float) -> tuple[float, ...]:
    """The question-level evidence, in the order of features.ANSWERABILITY."""
    return (evidence_strength(hits), best, max((h.dense for h in hits[:3]), default=0.0), query.unknown,
            query.spread, 1.0 if query.unknown_name else 0.0)


def compose(query: Query, hits: Sequence[Hit], settings: Settings, document: DocumentLookup,
            excerpt_vectors: ExcerptVectors, coverage: Coverage, searched: str = "",
            rescorer: Rescorer | None = None, reader: Reader | None = None, blend: Blend = EVEN_BLEND) -> Answer:
    """Pick the sentences that best answer the question and cite each one; with a `reader`,
    the rescorer's best excerpts are re-ranked by it (weighed by `blend`) and the answer is
    marked in them."""
    rescorer = rescorer or default_rescorer()
    found = candidates(query, answer_pool(query, hits, settings), document, excerpt_vectors, coverage)
    scored = sorted(((rescorer.score(c.features), c) for c in found), key=lambda item: -item[0])
    # Measure the evidence before composing anything (docs/answers.md, Abstention).
    answerable = rescorer.answerable(answerability(query, hits, scored[0][0])) if scored else 0.0
    refused = not scored or answerable < settings.abstain_below
    marks: list[tuple[float, str, AnswerSpan]] = []
    cite_within, extend_within = settings.cite_within, settings.extend_within
    if reader is not None and not refused and reads(c.features for _, c in scored):
        scored, marks, answerable = read(query.text, scored, reader, blend, answerable, settings, document)
        refused = answerable < settings.reader_abstain_below
        cite_within, extend_within = cite_within * blend.within, extend_within * blend.within
    if refused:
        closest = [_citation(n, h, h.chunk.sentences[0], h.chunk.sentences[-1], document(h.chunk.doc_id), h.dense)
                   for n, h in enumerate(hits[:3], start=1)]
        return Answer(query.text, NOT_COVERED, True, (), tuple(_verified(closest, document)), searched)

    chosen = [_quote(hit, first, last, score) for hit, first, last, score
              in _choose(scored, settings.max_citations, cite_within, query.comparison)]
    if extend_within < cite_within:
        offers = [_quote(c.hit, c.first, c.last, score) for score, c in scored]
        chosen = extended(chosen, offers, extend_within, document, settings.extend_gap, settings.quote_words)
    chosen = joined(chosen, document, settings.quote_words)
    if query.comparison:
        # Group by source, sources in order of their best excerpt.
        order = list(dict.fromkeys(hit.chunk.doc_id for hit, _, _, _ in chosen))
        chosen.sort(key=lambda c: order.index(c[0].chunk.doc_id))
    citations = [_citation(n, hit, first, last, document(hit.chunk.doc_id), score)
                 for n, (hit, first, last, score) in enumerate(chosen, start=1)]
    citations = [_marked(c, marks) for c in _verified(citations, document)]
    if not citations:
        return Answer(query.text, NOT_COVERED, True, (), (), searched)
    if query.comparison:
        groups: dict[str, list[Citation]] = {}
        for c in citations:
            groups.setdefault(c.doc_id, []).append(c)
        text = "\n\n".join(f"{group[0].title}: " + " ".join(f"“{one_line(c.excerpt)}” [{c.n}]" for c in group)
                           for group in groups.values())
    else:
        text = " ".join(f"“{one_line(c.excerpt)}” [{c.n}]" for c in citations)
    return Answer(query.text, text, False, tuple(citations), (), searched)


_SIGNATURE_OR_BYLINE = (FEATURES.index("signatory"), FEATURES.index("byline"))


def reads(features: Iterable[Sequence[float]]) -> bool:
    """Whether the reader is asked at all, given the candidates' features: not when a signature
    block or a byline among them may answer (features signatory and byline, on only for questions
    about who signed or wrote a text), for that is not prose like the reader's training sets'
    (docs/answers.md, The reader); the rescorer alone, with those features, answers them."""
    return not any(row[i] for row in features for i in _SIGNATURE_OR_BYLINE)


def read(question: str, scored: Sequence[tuple[float, Candidate]], reader: Reader, blend: Blend,
         answerable: float, settings: Settings, document: DocumentLookup
         ) -> tuple[list[tuple[float, Candidate]], list[tuple[float, str, AnswerSpan]], float]:
    """Every excerpt with its probability of answering: the rescorer's best
    `settings.reader_excerpts` re-weighed by the blend of the rescorer's probability and the
    reader's reading, the others (left for widening quotes) keeping the rescorer's; the answer
    spans the reader marked (probability, doc_id, span in document offsets); and the blend's
    probability that the documents answer (`answerable`: the rescorer's)."""
    top, rest = scored[: settings.reader_excerpts], scored[settings.reader_excerpts:]
    readings = reader.read(question, [c.text for _, c in top])
    logits = [blend.logit(excerpt_evidence(before, reading)) for (before, _), reading in zip(top, readings)]
    rescored, marks = [], []
    for (_, candidate), reading, logit in zip(top, readings, logits):
        probability = sigmoid(logit)
        rescored.append((probability, candidate))
        if reading.start >= 0 and reading.span_score > settings.reader_mark_above:
            doc = document(candidate.hit.chunk.doc_id)
            start = candidate.hit.chunk.sentences[candidate.first].start + reading.start
            end = candidate.hit.chunk.sentences[candidate.first].start + reading.end
            marks.append((probability, doc.doc_id, AnswerSpan(doc.text[start:end], start, end)))
    rescored = sorted([*rescored, *rest], key=lambda item: -item[0])
    return rescored, marks, blend.answerable(question_evidence(answerable, readings, logits))


def _marked(citation: Citation, marks: Sequence[tuple[float, str, AnswerSpan]]) -> Citation:
    """The citation with the answer span the reader was surest of inside its excerpt, if any."""
    inside = [(p, span) for p, doc_id, span in marks
              if doc_id == citation.doc_id and citation.start <= span.start < span.end <= citation.end]
    if not inside:
        return citation
    return replace(citation, answer=max(inside, key=lambda item: item[0])[1])


@dataclass(frozen=True)
class Candidate:
    """One excerpt window of a retrieved passage (sentences first..last) and its features."""

    hit: Hit
    first: int
    last: int
    text: str  # the excerpt as quoted: the document's text from sentence first to sentence last
    features: tuple[float, ...]  # in the order of features.FEATURES


def candidates(query: Query, pool: Sequence[Hit], document: DocumentLookup, excerpt_vectors: ExcerptVectors,
               coverage: Coverage) -> list[Candidate]:
    """Every excerpt window of the pooled passages (see chunking.excerpt_windows), with its features."""
    types = query.types
    owners: list[tuple[Hit, int, int, str, list[str], bool]] = []
    rows: list[np.ndarray] = []
    for hit, windows in zip(pool, excerpt_vectors([hit.chunk for hit in pool])):
        doc = document(hit.chunk.doc_id)
        sentences = hit.chunk.sentences
        # The title counts: "the US-UK declaration" is named by the document, not each sentence.
        # (Terms never span lines, so the title's and heading's are the same for every excerpt.)
        context = keyword_terms(f"{doc.meta.title}\n{hit.chunk.heading}")
        signed = (signature_windows([doc.text[s.start:s.end] for s in sentences], list(hit.chunk.excerpts))
                  if types.signing else [False] * len(hit.chunk.excerpts))
        for (first, last), vector, signature in zip(hit.chunk.excerpts, windows, signed):
            body = doc.text[sentences[first].start:sentences[last].end]
            owners.append((hit, first, last, body, context, signature))
            rows.append(vector)
    if not rows:
        return []
    sims = np.stack(rows) @ query.vector
    best_sim = float(sims.max())
    # The passage's standing among the pooled ones, 1 for the best and 0 for the last, whatever the fusion's scale.
    low, high = min(h.score for h in pool), max(h.score for h in pool)
    top_keyword = max(h.keyword for h in pool)
    question_terms = set(query.terms)
    out = []
    for (hit, first, last, body, context, signature), sim in zip(owners, sims):
        body_terms = keyword_terms(body)
        excerpt_terms = context + body_terms
        standing = (hit.score - low) / (high - low) if high > low else 1.0
        out.append(Candidate(hit, first, last, body, excerpt_features(
            sim=float(sim), best_sim=best_sim, passage=standing, passage_rank=hit.rank,
            dense=hit.dense, keyword=hit.keyword / top_keyword if top_keyword > 0 else 0.0,
            terms=coverage(query, set(excerpt_terms)),
            phrase=_bigram_cover(query.terms, excerpt_terms), excerpt_terms=set(body_terms),
            question_terms=question_terms, text=body, first=first == 0, types=types,
            byline=query.about_authorship and hit.chunk.role == "byline", signatory=signature)))
    return out


def search_depth(query: Query, settings: Settings) -> int:
    """How many passages to retrieve: a comparison looks wider, so that each side's documents are
    in the pool, and so does a question about who signed, for the signature blocks."""
    if query.types.signing:
        return max(settings.rerank_chunks, settings.candidates)
    return max(settings.rerank_chunks, 5) * (3 if query.comparison else 1)


def answer_pool(query: Query, hits: Sequence[Hit], settings: Settings) -> list[Hit]:
    """The retrieved passages whose excerpts are weighed (for comparisons, several sources; for
    a question about who signed, also the two best further passages holding a signature block:
    a list of names shares few words with any question)."""
    if query.comparison:
        return _diverse(hits, settings.rerank_chunks)
    pool = list(hits[: settings.rerank_chunks])
    if query.types.signing:
        pool += [hit for hit in hits[settings.rerank_chunks:] if holds_party_line(hit.chunk.text)][:2]
    return pool


def _diverse(hits: Sequence[Hit], size: int) -> list[Hit]:
    """The best hits, at most two per document, so that several sources are compared."""
    per_doc: dict[str, int] = {}
    pool = []
    for hit in hits:
        if per_doc.get(hit.chunk.doc_id, 0) < 2:
            pool.append(hit)
            per_doc[hit.chunk.doc_id] = per_doc.get(hit.chunk.doc_id, 0) + 1
    return pool[: size + 2]


def _choose(scored: list[tuple[float, Candidate]], limit: int, within: float,
            comparison: bool) -> list[tuple[Hit, int, int, float]]:
    """The best non-overlapping excerpts, none far less likely to answer than the best (its
    probability below `within` x the best's); for comparisons, the best two of each source."""
    chosen: list[tuple[Hit, int, int, float]] = []
    per_chunk: dict[str, int] = {}
    per_doc: dict[str, int] = {}
    if comparison:
        limit += 2  # room for each side
    for score, candidate in scored:
        hit, first, last = candidate.hit, candidate.first, candidate.last
        if len(chosen) >= limit:
            break
        if score < scored[0][0] * (within * 0.8 if comparison else within):
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


def _quote(hit: Hit, first: int, last: int, score: float) -> Quote:
    """Sentences first..last of the hit's passage as a quote."""
    return Quote(hit, hit.chunk.sentences[first], hit.chunk.sentences[last], score)


def _bigram_cover(query_terms: Sequence[str], excerpt_terms: Sequence[str]) -> float:
    """Share of the question's adjacent term pairs ("statement ai" from "Statement on AI")
    that also stand side by side in the excerpt: phrases, not just words."""
    wanted = {pair for pair in itertools.pairwise(query_terms) if pair[0] != pair[1]}
    if not wanted:
        return 0.0
    return len(wanted & set(itertools.pairwise(excerpt_terms))) / len(wanted)


def _citation(n: int, hit: Hit, first: Sentence, last: Sentence, doc: Document, score: float) -> Citation:
    return Citation(
        n=n, chunk_id=hit.chunk.chunk_id, doc_id=doc.doc_id, meta=doc.meta, page=first.page,
        paragraph=first.paragraph, excerpt=doc.text[first.start:last.end], start=first.start,
        end=last.end, score=round(float(score), 4), path=doc.path,
        passage_id=passage_id(doc, first.page, first.paragraph), ocr=doc.read_by_ocr(first.page),
    )


def excerpt_is_verbatim(citation: Citation, doc: Document) -> bool:
    """The invariant: the excerpt is the source text at its offsets (whitespace aside)."""
    if not (0 <= citation.start < citation.end <= len(doc.text)):
        return False
    if citation.doc_id != doc.doc_id:
        return False
    span = citation.answer
    if span is not None and not (citation.start <= span.start < span.end <= citation.end
                                 and doc.text[span.start:span.end] == span.text):
        return False
    return one_line(doc.text[citation.start:citation.end]) == one_line(citation.excerpt)


def _verified(citations: list[Citation], document: DocumentLookup) -> list[Citation]:
    """Drop any citation whose excerpt is not in its source; renumber the rest."""
    kept = [c for c in citations if excerpt_is_verbatim(c, document(c.doc_id))]
    return [_renumber(c, n) for n, c in enumerate(kept, start=1)]


def _renumber(citation: Citation, n: int) -> Citation:
    return replace(citation, n=n)
