"""Text of scanned PDF pages: each page rendered by PDFium (pypdfium2), read by Tesseract.

Used only for pages that have no text layer. Tesseract is a program the setup scripts install
(Debian `tesseract-ocr`, `tesseract-ocr-eng`); without it OCR is not available and such pages
are reported as having no text (with `Settings.ocr` "on", an error).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .pdfium import LOCK as PDFIUM_LOCK

OCR_MODES = ("auto", "on", "off")
RESOLUTION = 300  # dpi: Tesseract reads 10-12 pt print best at 300 dpi
LANGUAGE = "eng"
PAGE_TIMEOUT_S = 120  # one page's recognition; a stuck Tesseract is an error, not a hang
# One thread per Tesseract: its OpenMP threads fight over a small machine's cores (several times
# slower on 2 cores; docs/experiments.md), and documents are parsed in parallel processes anyway.
TESSERACT_ENV = {"OMP_THREAD_LIMIT": "1"}


@functools.lru_cache(maxsize=1)
def missing() -> str:
    """What OCR lacks on this machine ("" when it can run)."""
    return "" if shutil.which("tesseract") else "tesseract"


def available() -> bool:
    return not missing()


def recognise_pages(path: Path, numbers: list[int], password: str = "") -> tuple[dict[int, str], list[str]]:
    """Text Tesseract reads on each listed page (1-based), "" where it reads none; and why
    each page that could not be rendered or read failed (one page does not stop the others)."""
    out: dict[int, str] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="assistant-ocr-") as folder:
        for number in numbers:
            try:
                out[number] = _recognise(path, number, password, Path(folder))
            except CorpusError as exc:
                failures.append(str(exc))
    return out, failures


def _recognise(path: Path, number: int, password: str, folder: Path) -> str:
    """One page rendered to a grey PNG at RESOLUTION dpi and read by Tesseract."""
    with _rendered(path, number, password, folder) as (image, _):
        return clean(_tesseract(number, image))


@dataclass(frozen=True)
class OcrWord:
    """A word Tesseract read, with its box in the pixels of the page rendered at RESOLUTION dpi."""

    text: str
    left: int
    top: int
    right: int
    bottom: int


def page_words(path: Path, number: int, password: str = "") -> tuple[list[OcrWord], tuple[int, int]]:
    """The words Tesseract reads on one page (1-based), rendered as for recognise_pages, with
    their boxes; and the rendered page's size in pixels (width, height)."""
    with tempfile.TemporaryDirectory(prefix="assistant-ocr-") as folder, \
            _rendered(path, number, password, Path(folder)) as (image, size):
        return tsv_words(_tesseract(number, image, "tsv")), size


def tsv_words(table: str) -> list[OcrWord]:
    """The words of Tesseract's TSV output (a header, then one row per block, line and word:
    level, page, block, paragraph, line, word, left, top, width, height, confidence, text)."""
    words = []
    for row in table.splitlines()[1:]:
        cells = row.split("\t", 11)
        if len(cells) == 12 and cells[11].strip():
            left, top, width, height = (int(cell) for cell in cells[6:10])
            words.append(OcrWord(cells[11], left, top, left + width, top + height))
    return words


@contextlib.contextmanager
def _rendered(path: Path, number: int, password: str, folder: Path) -> Iterator[tuple[Path, tuple[int, int]]]:
    """Page `number` rendered by PDFium to a grey PNG at RESOLUTION dpi, the resolution written in
    it for Tesseract (removed afterwards); and its size in pixels (width, height)."""
    import pypdfium2 as pdfium

    image_path = folder / f"page-{number}.png"
    try:
        with PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(str(path), password=password or None)
            try:
                if not 1 <= number <= len(pdf):
                    raise CorpusError(f"page {number} could not be rendered for OCR (the PDF has {len(pdf)} pages)")
                image = pdf[number - 1].render(scale=RESOLUTION / 72, grayscale=True).to_pil()
            finally:
                pdf.close()
        image.save(image_path, "PNG", dpi=(RESOLUTION, RESOLUTION))
    except (pdfium.PdfiumError, OSError) as exc:
        raise CorpusError(f"page {number} could not be rendered for OCR ({exc})") from exc
    try:
        yield image_path, image.size
    finally:
        image_path.unlink(missing_ok=True)


def _tesseract(number: int, image: Path, *configs: str) -> str:
    """What Tesseract prints reading page `number`'s image (its plain text, or the output a
    config such as "tsv" names); its failures as CorpusErrors naming the page."""
    command = ["tesseract", str(image), "stdout", "-l", LANGUAGE, *configs]
    try:
        done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=PAGE_TIMEOUT_S, check=False, env={**os.environ, **TESSERACT_ENV})
    except subprocess.TimeoutExpired as exc:
        raise CorpusError(f"OCR of page {number} took over {PAGE_TIMEOUT_S} s") from exc
    except OSError as exc:  # tesseract gone since missing() was asked
        raise CorpusError(f"OCR of page {number} failed ({exc})") from exc
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise CorpusError(f"OCR of page {number} failed ({reason})")
    return done.stdout


def clean(text: str) -> str:
    """Tesseract's output as page text: form feeds and trailing spaces gone, at most one blank line."""
    lines = [line.rstrip() for line in text.replace("\f", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
