"""Quotes highlighted on their PDF pages, checked against the PDFs' own character boxes:
for every PDF among the shared real ones that indexes, 20 random quotes (sentences and runs of
sentences of its indexed text) are boxed on the right page with the boxes of exactly their
characters, within their column; a quote across a page break is boxed on both pages; a
scanned page gets its OCR words boxed."""

from __future__ import annotations

import io
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from assistant.errors import PageViewError
from assistant.ingest.documents import discover, load_document, pdf_page_text
from assistant.ingest.structure import segment
from assistant.ingest.textnorm import sentence_spans
from assistant.pageview.align import visible
from assistant.pageview.highlight import FOUND_AT_LEAST, highlight_quote, line_boxes, quote_chars
from assistant.pageview.pdfpage import PageChars, open_pdf, page_chars
from assistant.types import Document, PageSpan

from ..conftest import SHARED

SHARED_PDFS = SHARED / "testdata" / "pdfs"
QUOTES_PER_PDF = 20
PAGES_PER_PDF = 8  # drawn at random; their text is read as the index reads it (pypdf), the costly part
# PDFs whose text pypdf and PDFium read alike: every quote must be boxed there.
CLEAN = ("policy/NIST.AI.100-1.pdf", "pdfminer-samples/nonfree_naacl06-shinyama.pdf",
         "py-pdf-sample-files/026-latex-multicolumn_multicolumn.pdf", "pdfminer-samples/nonfree_dmca.pdf",
         "py-pdf-sample-files/004-pdflatex-4-pages_pdflatex-4-pages.pdf")

pytestmark = pytest.mark.skipif(not SHARED_PDFS.is_dir(), reason="../shared/testdata/pdfs not present")


@dataclass
class SharedPdf:
    """A shared PDF that indexes (its README says so), its pages' text read as the index reads
    it, page by page when first asked for."""

    rel: str
    reader: Any  # pypdf.PdfReader, decrypted
    texts: dict[int, str] = field(default_factory=dict)

    def page_text(self, number: int) -> str:
        if number not in self.texts:
            self.texts[number] = pdf_page_text(self.reader.pages[number - 1])
        return self.texts[number]


def indexed_pdfs() -> list[SharedPdf]:
    import pypdf

    rows = [line.split("|") for line in (SHARED_PDFS / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and line.split("|")[6].strip() == "index"]
    out = []
    for row in rows:
        reader = pypdf.PdfReader(str(SHARED_PDFS / row[1].strip()), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")  # the ones that index open with an empty password
        out.append(SharedPdf(row[1].strip(), reader))
    return out


def random_quotes(pdf: SharedPdf, rng: random.Random) -> list[tuple[int, int, int]]:
    """QUOTES_PER_PDF quotes of 1-3 sentences of one paragraph, as (page, start, end) in that
    page's text, from pages drawn at random (a short PDF's pages give several each)."""
    numbers = list(range(1, len(pdf.reader.pages) + 1))
    rng.shuffle(numbers)
    paragraphs: list[tuple[int, list[tuple[int, int]]]] = []
    for number in numbers[:PAGES_PER_PDF]:
        text = pdf.page_text(number)
        paragraphs += [(number, spans) for block in segment(text, (PageSpan(number, 0, len(text)),), pdf=True)
                       if (spans := [(a, b) for a, b in sentence_spans(text, block.start, block.end, True)
                                     if len(visible(text[a:b])) >= 3])]
    quotes = []
    for _ in range(QUOTES_PER_PDF if paragraphs else 0):
        number, spans = rng.choice(paragraphs)
        first = rng.randrange(len(spans))
        last = min(len(spans) - 1, first + rng.randrange(3))
        quotes.append((number, spans[first][0], spans[last][1]))
    return quotes


def load(rel: str) -> Document:
    files, _ = discover(SHARED_PDFS)
    return load_document(next(f for f in files if f.relpath == rel), ocr="off")


def char_centres(chars: PageChars) -> tuple[np.ndarray, np.ndarray]:
    """Each character's box centre (x, y) and height; NaN where it has no box."""
    boxes = np.array([(b.left, b.top, b.right, b.bottom) if b else (np.nan,) * 4 for b in chars.boxes]).reshape(-1, 4)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    return centres, boxes[:, 3] - boxes[:, 1]


def test_quotes_are_boxed_with_exactly_their_characters_on_their_page() -> None:
    rng = random.Random(29)
    checked, boxed_by_pdf, unopened = 0, {}, []
    for shared in indexed_pdfs():
        try:
            pdf = open_pdf(SHARED_PDFS / shared.rel)
        except PageViewError as exc:
            unopened.append(str(exc))
            continue
        boxed = 0
        quotes = random_quotes(shared, rng)
        pages: dict[int, PageChars] = {}
        for number, a, b in quotes:
            chars = pages[number] = pages.get(number) or page_chars(pdf, number)
            page_text = shared.page_text(number)
            picked, found = quote_chars(page_text, chars, a, b)
            if found < FOUND_AT_LEAST:
                continue
            boxed += 1
            mine = {j for j in picked if chars.boxes[j] is not None}
            drawn = line_boxes([box for j in sorted(mine) if (box := chars.boxes[j]) is not None])
            centres, heights = char_centres(chars)
            within = np.zeros(len(centres), dtype=bool)  # centre inside a drawn box (shrunk by half a pixel)
            covered = np.zeros(len(centres), dtype=bool)  # ... or inside one grown by half a pixel
            for d in drawn:
                x, y = centres[:, 0], centres[:, 1]
                within |= (d.left + 0.5 <= x) & (x <= d.right - 0.5) & (d.top + 0.5 <= y) & (y <= d.bottom - 0.5)
                covered |= (d.left - 0.5 <= x) & (x <= d.right + 0.5) & (d.top - 0.5 <= y) & (y <= d.bottom + 0.5)
            # Every character of the quote is inside a drawn box ...
            assert all(covered[j] for j in mine), (shared.rel, number, page_text[a:b][:80])
            # ... and no page character outside the quote's stretch of the page is; inside it, only
            # the few each side reads otherwise (a ligature's second letter, a math symbol). A
            # footnote mark, set small within a line the quote boxes, may stand elsewhere in the text
            # order: it is not counted.
            strays = [j for j in np.flatnonzero(within) if j not in mine and not chars.text[j].isspace()]
            small = 0.8 * statistics.median(heights[j] for j in mine)
            outside = [chars.text[j] for j in strays if not min(mine) < j < max(mine) and heights[j] > small]
            assert not outside, (shared.rel, number, "".join(outside)[:80], page_text[a:b][:80])
            assert len(strays) <= max(2, len(mine) // 20), (shared.rel, number, [chars.text[j] for j in strays])
            checked += 1
        pdf.close()
        boxed_by_pdf[shared.rel] = (boxed, len(quotes))
    # pypdf opens this R6 file without its password; PDFium asks for it, and the page view says so.
    assert unopened == ["encryption_r6-user-password.pdf: encrypted PDF and it needs a password (add "
                        "\"password\" to its entry in metadata.json)"]
    assert checked > 500
    for rel in CLEAN:
        assert boxed_by_pdf[rel] == (QUOTES_PER_PDF, QUOTES_PER_PDF), (rel, boxed_by_pdf[rel])
    with_text = [counts for counts in boxed_by_pdf.values() if counts[1]]
    assert sum(1 for boxed, _ in with_text if boxed) >= 0.8 * len(with_text), boxed_by_pdf


def test_a_quote_across_a_page_break_is_boxed_on_both_pages() -> None:
    rel = "policy/NIST.AI.100-1.pdf"
    doc = load(rel)
    first, second = doc.pages[5], doc.pages[6]
    start, end = first.end - 60, second.start + 60
    pages = highlight_quote(SHARED_PDFS / rel, doc.text, doc.pages, start, end)
    assert [p.page for p in pages] == [first.number, second.number]
    assert all(p.boxed and p.found >= FOUND_AT_LEAST for p in pages)
    # the end of the first page's text is boxed low on its page, the start of the second high on its
    assert pages[0].boxes[-1].bottom > 0.6 * pages[0].height and pages[1].boxes[0].top < 0.4 * pages[1].height
    for page in pages:
        assert Image.open(io.BytesIO(page.png)).size == (page.width, page.height)


def test_a_multi_column_quote_stays_in_its_column() -> None:
    rel = "pdfminer-samples/nonfree_naacl06-shinyama.pdf"
    doc = load(rel)
    page = doc.pages[2]
    text = doc.text[page.start:page.end]
    at = text.index("We try to increase the number of articles")
    end = text.index("obtain basic patterns later.", at) + len("obtain basic patterns later.")
    [shown] = highlight_quote(SHARED_PDFS / rel, doc.text, doc.pages, page.start + at, page.start + end)
    assert len(shown.boxes) >= 8  # one per line
    assert all(box.left > shown.width / 2 - 20 for box in shown.boxes)  # the right-hand column only


def test_a_pdf_that_pdfium_cannot_open_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(PageViewError, match=r"broken\.pdf: PDFium cannot open it"):
        open_pdf(broken)
    with pytest.raises(PageViewError, match="no longer in the corpus"):
        open_pdf(tmp_path / "gone.pdf")


def test_page_views_and_ocr_wait_for_pdfium_held_elsewhere() -> None:
    """PDFium is not thread-safe: a page view and OCR rendering (a rebuild in a server thread)
    both wait while another thread holds its lock, then run."""
    import threading

    from assistant.ingest import ocr
    from assistant.ingest.pdfium import LOCK

    rel = "policy/NIST.AI.100-1.pdf"
    doc = load(rel)
    page = doc.pages[5]
    results: list[object] = []
    calls = [lambda: highlight_quote(SHARED_PDFS / rel, doc.text, doc.pages, page.start, page.start + 80),
             lambda: ocr.recognise_pages(SHARED_PDFS / "pdfminer-samples" / "nonfree_175.pdf", [1])]
    for call in calls:
        thread = threading.Thread(target=lambda call=call: results.append(call()))
        with LOCK:
            thread.start()
            thread.join(timeout=3)
            assert thread.is_alive() and not results  # waiting for the lock, not using PDFium
        thread.join(timeout=120)
        assert not thread.is_alive() and len(results) == 1
        results.clear()
