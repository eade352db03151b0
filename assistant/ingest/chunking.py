"""Pure: Document -> Chunks that never cut a sentence and fit the model's window."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..types import Chunk, Document, Sentence
from .passages import numbered_paragraphs
from .structure import CONTACT_LINE
from .textnorm import GlueSplitter, sentence_spans

CHUNKING_VERSION = 6  # bump when the output of chunk_document changes for the same input

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts the model's word pieces (special tokens included) of each text."""


@dataclass(frozen=True)
class ChunkingParams:
    max_tokens: int = 200
    soft_tokens: int = 110  # stop merging short paragraphs into a chunk beyond this
    min_excerpt_words: int = 12  # a shorter excerpt grows with its neighbouring sentences


@dataclass
class _Unit:
    """A sentence (or a piece of an over-long one) waiting to be put into a chunk."""

    sentence: Sentence
    tokens: int
    block_index: int
    role: str
    heading: str


def chunk_id_for(doc: Document, start: int, end: int) -> str:
    """Stable: derived from the document's content and the chunk's offsets only."""
    digest = hashlib.sha256(f"{doc.content_hash}:{start}:{end}".encode()).hexdigest()[:12]
    return f"{doc.doc_id}:{digest}"


def embedding_prefix(doc: Document, heading: str) -> str:
    title = " ".join((doc.meta.title or doc.doc_id).split()[:16])
    heading = " ".join(heading.split()[:10])
    if heading and heading.lower() not in title.lower():
        return f"{title} — {heading}\n"
    return f"{title}\n"


def chunk_document(
    doc: Document,
    count_tokens: TokenCounter,
    splitter: GlueSplitter,
    params: ChunkingParams = ChunkingParams(),
) -> list[Chunk]:
    """Group a document's sentences into chunks of whole paragraphs where they fit."""
    units = _sentence_units(doc, count_tokens, splitter, params)
    chunks: list[Chunk] = []
    group: list[_Unit] = []

    def close() -> None:
        if group:
            chunks.extend(_make_chunks(doc, list(group), count_tokens, splitter, params))
            group.clear()

    for unit in units:
        if group:
            prev = group[-1]
            same_context = (prev.heading == unit.heading and prev.role == unit.role
                            and prev.sentence.page == unit.sentence.page)
            size = sum(u.tokens for u in group)
            new_block = unit.block_index != prev.block_index
            prefix_budget = params.max_tokens - 40
            lead_in_before = doc.text[prev.sentence.start:prev.sentence.end].rstrip().endswith(":")
            lead_in_here = new_block and doc.text[unit.sentence.start:unit.sentence.end].rstrip().endswith(":")
            if not same_context or size + unit.tokens > prefix_budget:
                close()
            elif new_block and not lead_in_before and (
                    size >= params.soft_tokens or (lead_in_here and size >= params.soft_tokens // 2)):
                # A line ending in ":" introduces what follows: keep the two together.
                close()
        group.append(unit)
    close()
    return chunks


def _sentence_units(doc: Document, count_tokens: TokenCounter, splitter: GlueSplitter,
                    params: ChunkingParams) -> list[_Unit]:
    text = doc.text
    pending: list[tuple[int, int, int, int | None, int, str, str]] = []
    for block in numbered_paragraphs(doc):
        for start, end in sentence_spans(text, block.start, block.end, doc.kind != "pdf"):
            if CONTACT_LINE.match(text[start:end]):
                continue
            pending.append((start, end, block.number, block.page, block.block_index, block.role, block.heading))
    counts = count_tokens([splitter.readable(text[p[0]:p[1]]) for p in pending]) if pending else []
    units: list[_Unit] = []
    limit = params.max_tokens - 40  # room for the title/heading prefix
    for (start, end, para, pg, index, role, head), tokens in zip(pending, counts):
        sentence = Sentence(start, end, para, pg)
        if tokens <= limit:
            units.append(_Unit(sentence, tokens, index, role, head))
        else:
            # A "sentence" longer than the model's window (tables, lists without
            # punctuation) is the one place we must cut: at word boundaries.
            for a, b, n in _split_long(text, start, end, count_tokens, splitter, limit):
                units.append(_Unit(Sentence(a, b, para, pg), n, index, role, head))
    return units


def _split_long(text: str, start: int, end: int, count_tokens: TokenCounter,
                splitter: GlueSplitter, limit: int) -> list[tuple[int, int, int]]:
    spans = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    counts = count_tokens([splitter.readable(text[a:b]) for a, b in spans])
    pieces: list[tuple[int, int, int]] = []
    piece_start, size = spans[0][0], 2
    last_end = spans[0][0]
    for (a, b), n in zip(spans, counts):
        word_tokens = max(1, n - 2)
        if size + word_tokens > limit and last_end > piece_start:
            pieces.append((piece_start, last_end, size))
            piece_start, size = a, 2
        size += word_tokens
        last_end = b
    pieces.append((piece_start, last_end, size))
    return pieces


def _make_chunks(doc: Document, units: list[_Unit], count_tokens: TokenCounter,
                 splitter: GlueSplitter, params: ChunkingParams) -> list[Chunk]:
    first, last = units[0].sentence, units[-1].sentence
    body = doc.text[first.start:last.end]
    embed_text = embedding_prefix(doc, units[0].heading) + splitter.readable(body)
    if len(units) > 1 and count_tokens([embed_text])[0] > params.max_tokens:
        middle = len(units) // 2  # the per-sentence estimate was low: halve and retry
        return (_make_chunks(doc, units[:middle], count_tokens, splitter, params)
                + _make_chunks(doc, units[middle:], count_tokens, splitter, params))
    sentences = tuple(u.sentence for u in units)
    windows = excerpt_windows(doc.text, sentences, params.min_excerpt_words)
    return [Chunk(
        chunk_id=chunk_id_for(doc, first.start, last.end),
        doc_id=doc.doc_id,
        start=first.start,
        end=last.end,
        text=body,
        embed_text=embed_text,
        heading=units[0].heading,
        paragraph=first.paragraph,
        page=first.page,
        role=units[0].role,
        sentences=sentences,
        excerpts=windows,
        excerpt_texts=tuple(excerpt_embed_text(doc.text, units[0].heading, sentences, w, splitter)
                            for w in windows),
    )]


_REFERRING_WORDS = {"he", "she", "it", "they", "this", "these", "those", "its", "their", "his",
                    "her", "such", "that"}


def excerpt_windows(text: str, sentences: Sequence[Sentence], min_words: int) -> tuple[tuple[int, int], ...]:
    """The candidate excerpts of a chunk: each sentence widened to a readable unit.

    A sentence that opens with a pronoun ("He is author at ...") takes its predecessor,
    which names what it refers to; a short one grows with the next (else previous)
    sentences. Returned as distinct (first, last) sentence positions, in order.
    """
    windows: dict[tuple[int, int], None] = {}

    def opens_with_reference(i: int) -> bool:
        head = text[sentences[i].start:sentences[i].end].split(maxsplit=1)
        return bool(head) and head[0].lower().strip("“\"'(") in _REFERRING_WORDS

    def words(a: int, b: int) -> int:
        return len(text[sentences[a].start:sentences[b].end].split())

    for index in range(len(sentences)):
        first = last = index
        while first > 0 and opens_with_reference(first) and index - first < 2:
            first -= 1
        while words(first, last) < min_words:
            if last + 1 < len(sentences):
                last += 1
            elif first > 0:
                first -= 1
            else:
                break
        windows[(first, last)] = None
    return tuple(windows)


def excerpt_embed_text(text: str, heading: str, sentences: Sequence[Sentence], window: tuple[int, int],
                       splitter: GlueSplitter) -> str:
    """What the model reads for an excerpt: its heading gives it context ("This initial
    forum" under "AI Partnership for Defense")."""
    first, last = window
    context = f"{heading}: " if heading else ""
    return splitter.readable(context + text[sentences[first].start:sentences[last].end])
