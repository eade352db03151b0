"""A PDF page through PDFium (pypdfium2): its image and its characters with their boxes on it.

PDFium both renders the page and knows where each character's glyph stands, so the boxes drawn
on an image are the page's own character boxes, in the image's pixels (page rotation and crop
box included: both come from PDFium's one page-to-device transform). PDFium is not thread-safe:
callers hold `ingest.pdfium.LOCK` from opening a PDF to closing it (highlight.highlight_quote does).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PageViewError, SourceChangedError

SCALE = 2.0
"""Pixels per PDF point (144 dpi): small print stays legible, a page stays under 1 MB of PNG."""


@dataclass(frozen=True)
class Box:
    """A rectangle on a page image, in pixels; y grows downward."""

    left: float
    top: float
    right: float
    bottom: float

    def union(self, other: Box) -> Box:
        return Box(min(self.left, other.left), min(self.top, other.top),
                   max(self.right, other.right), max(self.bottom, other.bottom))

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class PageChars:
    """A page's characters in PDFium's order, each with its box on the image (None: a space or
    line break PDFium supplied between glyphs, which has no box)."""

    text: str
    boxes: tuple[Box | None, ...]


@dataclass(frozen=True)
class RenderedPage:
    """A page's image and its characters' boxes on that image."""

    number: int  # 1-based
    image: Any  # PIL.Image.Image, RGB
    chars: PageChars
    scale: float


def open_pdf(path: Path, password: str = "") -> Any:
    """The PDF as a pypdfium2 PdfDocument; a file that is not there or does not open is a
    PageViewError naming it."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path), password=password or None)
    except FileNotFoundError as exc:
        raise SourceChangedError(f"{path.name}: the file is no longer in the corpus; run `assistant index`") from exc
    except (pdfium.PdfiumError, OSError) as exc:
        if "password" in str(exc).lower():
            given = "the password in metadata.json does not open it" if password else "it needs a password"
            raise PageViewError(f"{path.name}: encrypted PDF and {given} (add \"password\" to its entry in "
                                "metadata.json)") from exc
        raise PageViewError(f"{path.name}: PDFium cannot open it ({exc})") from exc


def render_page(pdf: Any, number: int, scale: float = SCALE) -> RenderedPage:
    """Page `number` (1-based) of an open PDF, rendered at `scale` pixels per point, with its
    characters' boxes on the image."""
    import pypdfium2 as pdfium

    page = _page(pdf, number)
    try:
        image = page.render(scale=scale).to_pil().convert("RGB")
        chars = _page_chars(page, image.width, image.height)
    except pdfium.PdfiumError as exc:
        raise PageViewError(f"page {number} does not render ({exc})") from exc
    return RenderedPage(number, image, chars, scale)


def page_chars(pdf: Any, number: int, scale: float = SCALE) -> PageChars:
    """Page `number`'s characters with their boxes on its image at `scale`, without rendering it."""
    import pypdfium2 as pdfium

    page = _page(pdf, number)
    try:
        # pypdfium2 sizes a rendering so: PDFium's page size (rotation applied), rounded up.
        return _page_chars(page, math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale))
    except pdfium.PdfiumError as exc:
        raise PageViewError(f"page {number}: PDFium cannot read its text ({exc})") from exc


def _page(pdf: Any, number: int) -> Any:
    if not 1 <= number <= len(pdf):
        raise PageViewError(f"the PDF has {len(pdf)} page(s), not a page {number}")
    return pdf[number - 1]


def _page_chars(page: Any, width: int, height: int) -> PageChars:
    import pypdfium2.raw as raw

    to_image = _page_to_image(page, width, height)
    textpage = page.get_textpage()
    try:
        text: list[str] = []
        boxes: list[Box | None] = []
        for i in range(textpage.count_chars()):
            hyphen = raw.FPDFText_IsHyphen(textpage.raw, i) == 1  # PDFium reports a line-end hyphen as \x02
            text.append("-" if hyphen else chr(raw.FPDFText_GetUnicode(textpage.raw, i)))
            if raw.FPDFText_IsGenerated(textpage.raw, i) == 1:
                boxes.append(None)
                continue
            left, bottom, right, top = textpage.get_charbox(i)
            corners = [to_image(x, y) for x in (left, right) for y in (bottom, top)]
            xs, ys = [c[0] for c in corners], [c[1] for c in corners]
            box = Box(min(xs), min(ys), max(xs), max(ys))
            boxes.append(box if box.right > box.left and box.bottom > box.top else None)
    finally:
        textpage.close()
    return PageChars("".join(text), tuple(boxes))


def _page_to_image(page: Any, width: int, height: int) -> Any:
    """PDFium's page-to-device transform for an image of width x height, as a function of a
    point in page space: three points fix the affine map, which is then applied in Python."""
    import pypdfium2.raw as raw

    def device(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
        return float(dx.value), float(dy.value)

    # A 1000-point step keeps the integer rounding of PageToDevice below 0.001 pixel per point.
    ox, oy = device(0.0, 0.0)
    ax, ay = device(1000.0, 0.0)
    bx, by = device(0.0, 1000.0)
    xx, xy, yx, yy = (ax - ox) / 1000, (ay - oy) / 1000, (bx - ox) / 1000, (by - oy) / 1000

    def to_image(x: float, y: float) -> tuple[float, float]:
        return ox + x * xx + y * yx, oy + x * xy + y * yy

    return to_image
