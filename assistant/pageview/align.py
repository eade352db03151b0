"""Which of a page's characters a span of the indexed page text is made of.

The index holds pypdf's text of each page (or Tesseract's, for a scan); PDFium has its own
characters for the same page, nearly in the same order but with other spaces, line breaks and
ligatures. Both are reduced to their visible characters (NFKC, case-folded, whitespace left
out) and matched with difflib; a span's characters are the matched ones inside it, plus the
page characters that lie between two matched ones where the indexed text has unmatched
characters too (a ligature one side keeps as one glyph, a symbol each side reads otherwise).
When both sides have as many visible characters and at most 1 in 20 differ, they are matched by
position.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from difflib import SequenceMatcher


def span_chars(indexed: str, page: str, start: int, end: int) -> list[int]:
    """Indices into `page` of the characters that indexed[start:end] is made of, in page order.

    Args:
        indexed: the page's text as the index holds it.
        page: the page's characters as PDFium (or the OCR engine) gives them.
        start, end: the span, as offsets into `indexed`.
    """
    to_page = _alignment(indexed, page)
    matched = [(i, to_page[i]) for i in range(max(start, 0), min(end, len(indexed))) if to_page[i] >= 0]
    picked = {j for _, j in matched}
    for (i1, j1), (i2, j2) in itertools.pairwise(matched):
        unmatched = sum(1 for i in range(i1 + 1, i2) if not indexed[i].isspace())
        between = [j for j in range(j1 + 1, j2) if not page[j].isspace()]
        if unmatched and len(between) <= 2 * unmatched + 1:
            picked.update(between)
    return sorted(picked)


def visible(text: str) -> str:
    """What alignment compares: NFKC, case-folded, without whitespace."""
    return _visible(text)[0]


@functools.lru_cache(maxsize=16)
def _alignment(indexed: str, page: str) -> tuple[int, ...]:
    """For each character of `indexed`, the index in `page` of the character it matched, or -1."""
    a, a_at = _visible(indexed)
    b, b_at = _visible(page)
    to_page = [-1] * len(indexed)
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= len(a) // 20:
        # The usual case for a born-digital page: the same glyphs in the same order, a few read
        # otherwise by one side (a symbol font's character): matched by position, no search.
        blocks = [(0, 0, len(a))]
    else:
        blocks = [(m.a, m.b, m.size) for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()]
    for a_start, b_start, size in blocks:
        for k in range(size):
            i = a_at[a_start + k]
            if to_page[i] < 0:
                to_page[i] = b_at[b_start + k]
    return tuple(to_page)


def _visible(text: str) -> tuple[str, list[int]]:
    """The visible characters of `text` (normalised) and, for each, the index it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if char.isspace():
            continue
        for part in unicodedata.normalize("NFKC", char).casefold():
            if not part.isspace():
                out.append(part)
                where.append(i)
    return "".join(out), where
