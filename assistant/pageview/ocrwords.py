"""A scanned page's characters as the OCR engine read them, with the boxes of their words.

The index's text of a scanned page is Tesseract's (ingest/ocr.py); read again from the same
rendering it gives the same words, now with their boxes. Each character takes its word's box,
so a quote is boxed word by word, scaled from the OCR rendering to the page image.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CorpusError, PageViewError
from ..ingest.ocr import missing, page_words
from .pdfpage import Box, PageChars


def scanned_page_chars(path: Path, number: int, password: str, image_size: tuple[int, int]) -> PageChars:
    """The words Tesseract reads on page `number`, as characters with their words' boxes on an
    image of `image_size` (width, height) of the same page."""
    if missing():
        raise PageViewError(f"{path.name}: page {number} is a scan and boxing its words needs {missing()}")
    try:
        words, (ocr_width, ocr_height) = page_words(path, number, password)
    except CorpusError as exc:
        raise PageViewError(f"{path.name}: {exc}") from exc
    sx, sy = image_size[0] / ocr_width, image_size[1] / ocr_height
    text: list[str] = []
    boxes: list[Box | None] = []
    for word in words:
        box = Box(word.left * sx, word.top * sy, word.right * sx, word.bottom * sy)
        text.append(word.text + " ")
        boxes += [box] * len(word.text) + [None]
    return PageChars("".join(text), tuple(boxes))
