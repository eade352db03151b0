"""Hits -> an Answer made of verbatim excerpts with citations, or an honest "not covered"."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter

import numpy as np

from ..config import Settings
from ..ingest.passages import passage_id
from ..ingest.textnorm import keyword_terms
from ..types import Answer, Chunk, Citation, Document, Hit, Sentence
from .features import excerpt_features, holds_party_line, signature_windows
from .rescorer import Rescorer, default_rescorer
from .retrieval import Query

NOT_COVERED = "The documents do not cover this question."


ExcerptVectors = Callable[[Sequence[Chunk]], list[np.ndarray]]
"""The unit vectors of each chunk's excerpt windows, one row per window (asked once per question)."""
DocumentLookup = Callable[[str], Document]
Coverage = Callable[[Query, set[str]], float]


def evidence_strength(hits: Sequence[Hit]) -> float:
    """How well the best passage matches: its cosine plus how many question terms it holds.

    The rule and its threshold are explained in the README (Abstention).
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
            rescorer: Rescorer | None = None) -> Answer:
    """Pick the sentences that best answer the question and cite each one."""
    rescorer = rescorer or default_rescorer()
    found = candidates(query, answer_pool(query, hits, settings), document, excerpt_vectors, coverage)
    scored = sorted(((rescorer.score(c.features), c) for c in found), key=lambda item: -item[0])
    # Measure the evidence before composing anything (README, Abstention).
    if not scored or rescorer.answerable(answerability(query, hits, scored[0][0])) < settings.abstain_below:
        closest = [_citation(n, h, h.chunk.sentences[0], h.chunk.sentences[-1], document(h.chunk.doc_id), h.dense)
                   for n, h in enumerate(hits[:3], start=1)]
        return Answer(query.text, NOT_COVERED, True, (), tuple(_verified(closest, document)), searched)

    chosen = [(hit, hit.chunk.sentences[first], hit.chunk.sentences[last], score) for hit, first, last, score
              in _choose(scored, settings.max_citations, settings.cite_within, query.comparison)]
    if settings.extend_within < settings.cite_within:
        chosen = _extended(chosen, scored, settings.extend_within, document, settings.extend_gap,
                           settings.quote_words)
    chosen = _joined(chosen, document, settings.quote_words)
    if query.comparison:
        # Group by source, sources in order of their best excerpt.
        order = list(dict.fromkeys(hit.chunk.doc_id for hit, _, _, _ in chosen))
        chosen.sort(key=lambda c: order.index(c[0].chunk.doc_id))
    citations = [_citation(n, hit, first, last, document(hit.chunk.doc_id), score)
                 for n, (hit, first, last, score) in enumerate(chosen, start=1)]
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


Quote = tuple[Hit, Sentence, Sentence, float]
"""A quote: the passage it was found in, its first and last sentence, and its probability."""


def _joined(quotes: list[Quote], document: DocumentLookup, words: int) -> list[Quote]:
    """The quotes, those that overlap or follow each other in their document (nothing but space
    between them) quoted as one in the place of the better: one quote reads as the source does,
    where two would cut it in the middle. Quotes that only follow each other are joined while
    the whole stays within `words` words. A merged quote is checked again against the others."""
    out: list[Quote] = []
    for quote in quotes:
        text = document(quote[0].chunk.doc_id).text

        def joins(other: Quote, quote: Quote = quote, text: str = text) -> bool:
            if other[0].chunk.doc_id != quote[0].chunk.doc_id or not _touching(text, quote[1:3], other[1:3]):
                return False
            return _overlapping(quote, other) or _words(text, _spanning(quote, *other[:3])) <= words

        at = len(out)
        while (i := next((i for i, o in enumerate(out) if joins(o)), None)) is not None:
            other = out.pop(i)
            # The merged quote keeps the place, passage and score of the better (earlier) one.
            quote = _spanning(other, *quote[:3]) if i < at else _spanning(quote, *other[:3])
            at = min(at, i)
        out.insert(at, quote)
    return out


def _overlapping(a: Quote, b: Quote) -> bool:
    return a[1].start < b[2].end and b[1].start < a[2].end


def _words(text: str, quote: Quote) -> int:
    return len(text[quote[1].start:quote[2].end].split())


def _touching(text: str, a: tuple[Sentence, Sentence], b: tuple[Sentence, Sentence]) -> bool:
    """Two spans (first, last sentence) of one text overlap or have only space between them."""
    (a_first, a_last), (b_first, b_last) = a, b
    if a_first.start < b_last.end and b_first.start < a_last.end:
        return True
    return ((a_last.end <= b_first.start and not text[a_last.end:b_first.start].strip()) or
            (b_last.end <= a_first.start and not text[b_last.end:a_first.start].strip()))


def _spanning(quote: Quote, hit: Hit, first: Sentence, last: Sentence) -> Quote:
    """The quote widened to take in sentences first..last of `hit`'s passage (near it). It keeps
    its score, and names the passage it now begins in."""
    q_hit, q_first, q_last, score = quote
    begins = hit if first.start < q_first.start else q_hit
    return begins, min(first, q_first, key=attrgetter("start")), max(last, q_last, key=attrgetter("end")), score


def _extended(quotes: list[Quote], scored: list[tuple[float, Candidate]], within: float,
              document: DocumentLookup, gap: int, words: int) -> list[Quote]:
    """Each quote widened by the best excerpt that lies near it in its document (nothing between
    but space and at most `gap` sentences of their passages, quoted too), when that excerpt's
    probability is at least `within` x the best's and the quote, with any other it comes to
    meet, stays within `words` words: a quote reads on into the sentence that answers, and
    costs no extra citation. Once per quote; excerpts overlapping it (windows share sentences)
    widen it as well, however often."""
    out = list(quotes)
    widened: set[int] = set()
    for score, candidate in scored:
        if score < scored[0][0] * within:
            break
        hit_c = candidate.hit
        sentences = hit_c.chunk.sentences
        near: Quote = (hit_c, sentences[candidate.first], sentences[candidate.last], score)
        text = document(hit_c.chunk.doc_id).text
        for i, (hit, q_first, q_last, _) in enumerate(out):
            if hit.chunk.doc_id != hit_c.chunk.doc_id:
                continue
            if near[1].start >= q_first.start and near[2].end <= q_last.end:
                break  # already quoted
            overlapping = _overlapping(near, out[i])
            if (overlapping or i not in widened) and _near(text, sentences + hit.chunk.sentences,
                                                           near[1:3], (q_first, q_last), gap):
                wider = _spanning(out[i], *near[:3])
                met = [o for j, o in enumerate(out) if j != i and o[0].chunk.doc_id == hit.chunk.doc_id
                       and _touching(text, wider[1:3], o[1:3])]
                whole = functools.reduce(lambda q, o: _spanning(q, *o[:3]), met, wider)
                if _words(text, whole) <= words:
                    if not overlapping:
                        widened.add(i)
                    out[i] = wider
                break
    return out


def _near(text: str, sentences: Sequence[Sentence], a: tuple[Sentence, Sentence],
          b: tuple[Sentence, Sentence], gap: int) -> bool:
    """Two spans of one text that overlap or have nothing between them but space and at most
    `gap` of these sentences."""
    if _touching(text, a, b):
        return True
    (_, a_last), (b_first, _) = sorted([a, b], key=lambda span: span[0].start)
    between = {s for s in sentences if s.start >= a_last.end and s.end <= b_first.start}
    if len(between) > gap:
        return False
    at, rest = a_last.end, []
    for s in sorted(between, key=attrgetter("start")):
        rest.append(text[at:s.start])
        at = s.end
    rest.append(text[at:b_first.start])
    return not "".join(rest).strip()


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
        passage_id=passage_id(doc, first.page, first.paragraph), ocr=doc.read_by_ocr(first.page),
        retrieved=meta.retrieved,
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
    return replace(citation, n=n)
