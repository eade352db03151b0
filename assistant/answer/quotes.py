"""Quotes as spans of their document: reading on into a nearby excerpt, joining those that touch.

A quote is one continuous run of its document, from the start of one sentence to the end of
another, so that what is shown can always be found in the source as it stands. These
functions widen and merge such runs; answering decides which excerpts become quotes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import NamedTuple

from ..types import Document, Hit, Sentence

Span = tuple[Sentence, Sentence]
"""The first and last sentence of a run of one document's text."""


class Quote(NamedTuple):
    """A quote: the passage it was found in (or, once widened, begins in), its first and last
    sentence, and its probability of answering."""

    hit: Hit
    first: Sentence
    last: Sentence
    score: float

    @property
    def span(self) -> Span:
        return self.first, self.last

    @property
    def doc_id(self) -> str:
        return self.hit.chunk.doc_id


def joined(quotes: Sequence[Quote], document: Callable[[str], Document], words: int) -> list[Quote]:
    """The quotes, those that overlap or follow each other in their document (nothing but space
    between them) quoted as one in the place of the better: one quote reads as the source does,
    where two would cut it in the middle. Quotes that only follow each other are joined while
    the whole stays within `words` words. A merged quote is checked again against the others."""
    out: list[Quote] = []
    for quote in quotes:
        text = document(quote.doc_id).text
        at = len(out)
        while (i := next((i for i, o in enumerate(out) if _joins(text, quote, o, words)), None)) is not None:
            other = out.pop(i)
            # The merged quote keeps the place, passage and score of the better (earlier) one.
            quote = spanning(other, quote) if i < at else spanning(quote, other)
            at = min(at, i)
        out.insert(at, quote)
    return out


def extended(quotes: Sequence[Quote], offers: Sequence[Quote], within: float,
             document: Callable[[str], Document], gap: int, words: int) -> list[Quote]:
    """Each quote widened by the best excerpt on offer (best first) that lies near it in its
    document (nothing between but space and at most `gap` sentences of their passages, quoted
    too), when that excerpt's probability is at least `within` x the best's and the quote, with
    any other it comes to meet, stays within `words` words: a quote reads on into the sentence
    that answers, and costs no extra citation. Once per quote; excerpts overlapping it (windows
    share sentences) widen it as well, however often."""
    out = list(quotes)
    widened: set[int] = set()
    for near in offers:
        if near.score < offers[0].score * within:
            break
        text = document(near.doc_id).text
        for i, quote in enumerate(out):
            if quote.doc_id != near.doc_id:
                continue
            if near.first.start >= quote.first.start and near.last.end <= quote.last.end:
                break  # already quoted
            overlapping = _overlap(near.span, quote.span)
            if (overlapping or i not in widened) and _near(text, near.hit.chunk.sentences + quote.hit.chunk.sentences,
                                                           near.span, quote.span, gap):
                wider = spanning(quote, near)
                met = [o for j, o in enumerate(out) if j != i and o.doc_id == quote.doc_id
                       and touching(text, wider.span, o.span)]
                if _words(text, functools.reduce(spanning, met, wider)) <= words:
                    if not overlapping:
                        widened.add(i)
                    out[i] = wider
                break
    return out


def spanning(quote: Quote, other: Quote) -> Quote:
    """The quote widened to take in `other` (near it in the same document). It keeps its
    score, and names the passage it now begins in."""
    begins = other.hit if other.first.start < quote.first.start else quote.hit
    return Quote(begins, min(other.first, quote.first, key=attrgetter("start")),
                 max(other.last, quote.last, key=attrgetter("end")), quote.score)


def touching(text: str, a: Span, b: Span) -> bool:
    """Two spans of one text overlap or have only space between them."""
    if _overlap(a, b):
        return True
    (_, a_last), (b_first, _) = sorted([a, b], key=lambda span: span[0].start)
    return not text[a_last.end:b_first.start].strip()


def _joins(text: str, quote: Quote, other: Quote, words: int) -> bool:
    """`other` is quoted with `quote`: it overlaps it, or follows or precedes it and the two
    stay within `words` words."""
    if other.doc_id != quote.doc_id or not touching(text, quote.span, other.span):
        return False
    return _overlap(quote.span, other.span) or _words(text, spanning(quote, other)) <= words


def _overlap(a: Span, b: Span) -> bool:
    return a[0].start < b[1].end and b[0].start < a[1].end


def _words(text: str, quote: Quote) -> int:
    return len(text[quote.first.start:quote.last.end].split())


def _near(text: str, sentences: Sequence[Sentence], a: Span, b: Span, gap: int) -> bool:
    """Two spans of one text that overlap or have nothing between them but space and at most
    `gap` of these sentences."""
    if touching(text, a, b):
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
