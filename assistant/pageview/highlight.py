"""The pages a quote stands on, each rendered with the quote's characters boxed line by line.

A quote is a span of a PDF document's indexed text (Citation.start/end); each page it touches
is rendered (pdfpage.py), its characters found on the page (align.py: PDFium's characters, or
the OCR engine's words on a scanned page) and their boxes drawn, one box per run of characters
on a line. When too few of the quote's characters are found on the page (pypdf and PDFium read
a broken font differently), nothing is drawn and the page says so: no highlight is better than
a wrong one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ingest.pdfium import LOCK as PDFIUM_LOCK
from ..types import PageSpan
from .align import span_chars, visible
from .pdfpage import SCALE, Box, PageChars, RenderedPage, open_pdf, render_page

FOUND_AT_LEAST = 0.9
"""Share of a quote's visible characters that must be found on the page for it to be boxed."""
FILL = (255, 214, 0, 90)  # translucent yellow over the words
EDGE = (214, 120, 0, 255)
PAD = 2  # pixels around each line's box


@dataclass(frozen=True)
class PageHighlight:
    """One page of a quote: its image (PNG) with the quote's lines boxed."""

    page: int  # 1-based page number in the PDF
    png: bytes
    width: int
    height: int
    boxes: tuple[Box, ...]  # one per line run of the quote's characters, in the image's pixels
    found: float  # share of the quote's visible characters found on the page (boxed when >= FOUND_AT_LEAST)
    ocr: bool = False  # the page is a scan: its boxes are the OCR engine's words

    @property
    def boxed(self) -> bool:
        return bool(self.boxes)


def highlight_quote(path: Path, text: str, pages: Sequence[PageSpan], start: int, end: int, password: str = "",
                    scale: float = SCALE) -> list[PageHighlight]:
    """Each page that text[start:end] (a PDF document's indexed text) touches, rendered with the
    quote boxed.

    Args:
        path: the PDF.
        text, pages: the document's indexed text and its pages' spans in it.
        start, end: the quote, as offsets into `text`.
        password: the PDF's password (metadata.json), if it has one.
    """
    touched = [p for p in pages if p.start < end and start < p.end]
    with PDFIUM_LOCK:
        pdf = open_pdf(path, password)
        try:
            return [_page(pdf, path, p, text[p.start:p.end], max(start, p.start) - p.start,
                          min(end, p.end) - p.start, password, scale) for p in touched]
        finally:
            pdf.close()


def _page(pdf: object, path: Path, span: PageSpan, page_text: str, start: int, end: int, password: str,
          scale: float) -> PageHighlight:
    rendered = render_page(pdf, span.number, scale)
    chars = rendered.chars
    if span.ocr:
        from .ocrwords import scanned_page_chars

        chars = scanned_page_chars(path, span.number, password, rendered.image.size)
    picked, found = quote_chars(page_text, chars, start, end)
    boxes = line_boxes([b for j in picked if (b := chars.boxes[j]) is not None]) if found >= FOUND_AT_LEAST else []
    return _drawn(rendered, tuple(boxes), min(found, 1.0), span.ocr)


def quote_chars(page_text: str, chars: PageChars, start: int, end: int) -> tuple[list[int], float]:
    """The page characters page_text[start:end] is made of (align.span_chars), and the share of
    its visible characters they account for (boxed when at least FOUND_AT_LEAST)."""
    picked = span_chars(page_text, chars.text, start, end)
    wanted = len(visible(page_text[start:end]))
    return picked, len(visible("".join(chars.text[j] for j in picked))) / wanted if wanted else 0.0


def line_boxes(boxes: Sequence[Box]) -> list[Box]:
    """Character boxes (in page order) merged into one box per run on a line: a character
    joins the run before it when it overlaps the run's height at all (a comma, a superscript
    does) and stands beside the character before it (in either direction, for right-to-left
    text); a line break or a column's gap starts a new run."""
    runs: list[Box] = []
    previous: Box | None = None
    for box in boxes:
        if previous is not None and runs and _same_run(runs[-1], previous, box):
            runs[-1] = runs[-1].union(box)
        else:
            runs.append(box)
        previous = box
    return runs


def _same_run(run: Box, previous: Box, box: Box) -> bool:
    if min(run.bottom, box.bottom) <= max(run.top, box.top):
        return False
    reach = 1.2 * max(previous.height, box.height)  # a word space, even a justified one; not a column gap
    return box.left - previous.right < reach and previous.left - box.right < reach


def _drawn(rendered: RenderedPage, boxes: tuple[Box, ...], found: float, ocr: bool) -> PageHighlight:
    from PIL import Image, ImageDraw

    image = rendered.image.convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for box in boxes:
        draw.rectangle((box.left - PAD, box.top - PAD, box.right + PAD, box.bottom + PAD), fill=FILL,
                       outline=EDGE, width=2)
    out = io.BytesIO()
    # compress_level 1: half the encoding time of the default (6), and no larger for rendered text
    Image.alpha_composite(image, layer).convert("RGB").save(out, format="PNG", compress_level=1)
    return PageHighlight(rendered.number, out.getvalue(), image.width, image.height, boxes, found, ocr)


def stacked_png(pages: Sequence[PageHighlight]) -> bytes:
    """The pages one above the other in one PNG (a quote across a page break)."""
    from PIL import Image

    if len(pages) == 1:
        return pages[0].png
    images = [Image.open(io.BytesIO(p.png)) for p in pages]
    gap = 12
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images) + gap * (len(images) - 1)),
                      (128, 128, 128))
    top = 0
    for image in images:
        sheet.paste(image, (0, top))
        top += image.height + gap
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()


def quote_crop(pages: Sequence[PageHighlight], margin: int = 48) -> tuple[int, bytes] | None:
    """A small PNG of the first page where the quote is boxed, cut to the boxes with `margin`
    pixels around them (the whole width of the boxes' column): (page number, PNG); None when
    no page has boxes."""
    from PIL import Image

    page = next((p for p in pages if p.boxed), None)
    if page is None:
        return None
    left = max(0, int(min(b.left for b in page.boxes)) - margin)
    top = max(0, int(min(b.top for b in page.boxes)) - margin)
    right = min(page.width, int(max(b.right for b in page.boxes)) + margin)
    bottom = min(page.height, int(max(b.bottom for b in page.boxes)) + margin)
    out = io.BytesIO()
    with Image.open(io.BytesIO(page.png)) as image:
        image.crop((left, top, right, bottom)).save(out, format="PNG", compress_level=1)
    return page.page, out.getvalue()


__all__ = ["PageChars", "PageHighlight", "highlight_quote", "line_boxes", "quote_chars", "quote_crop", "stacked_png"]
