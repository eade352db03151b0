"""Text of scanned PDF pages: each page rendered by poppler's pdftoppm, read by Tesseract
(through pytesseract).

Used only for pages that have no text layer. Both are programs the setup scripts install
(Debian `poppler-utils`, `tesseract-ocr`, `tesseract-ocr-eng`); without them OCR is not
available and such pages are reported as having no text (with `Settings.ocr` "on", an error).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorpusError

OCR_MODES = ("auto", "on", "off")
RESOLUTION = 300  # dpi: Tesseract reads 10-12 pt print best at 300 dpi
LANGUAGE = "eng"
PAGE_TIMEOUT_S = 120  # one page's rendering or recognition; a stuck one is an error, not a hang


@functools.lru_cache(maxsize=1)
def missing() -> str:
    """What OCR lacks on this machine ("" when it can run)."""
    lacking = [name for name in ("pdftoppm", "tesseract") if shutil.which(name) is None]
    try:
        import pytesseract  # noqa: F401 - only whether it is installed
    except ImportError:
        lacking.append("the pytesseract package")
    return ", ".join(lacking)


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
    import pytesseract

    with _rendered(path, number, password, folder) as image:
        text = _tesseract(number, lambda: pytesseract.image_to_string(image, lang=LANGUAGE, timeout=PAGE_TIMEOUT_S))
    return clean(text)


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
    import pytesseract

    with tempfile.TemporaryDirectory(prefix="assistant-ocr-") as folder, \
            _rendered(path, number, password, Path(folder)) as image:
        data = _tesseract(number, lambda: pytesseract.image_to_data(
            image, lang=LANGUAGE, timeout=PAGE_TIMEOUT_S, output_type=pytesseract.Output.DICT))
        size = image.size
    words = [OcrWord(text, left, top, left + width, top + height)
             for text, left, top, width, height in zip(data["text"], data["left"], data["top"], data["width"],
                                                       data["height"])
             if text.strip()]
    return words, size


@contextlib.contextmanager
def _rendered(path: Path, number: int, password: str, folder: Path) -> Iterator[Any]:
    """Page `number` rendered by pdftoppm to a grey PNG at RESOLUTION dpi, open (PIL)."""
    from PIL import Image

    stem = folder / f"page-{number}"
    command = ["pdftoppm", "-r", str(RESOLUTION), "-gray", "-png", "-singlefile",
               "-f", str(number), "-l", str(number), *(["-upw", password] if password else []),
               str(path), str(stem)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PAGE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CorpusError(f"page {number} took over {PAGE_TIMEOUT_S} s to render for OCR") from exc
    image_path = stem.with_suffix(".png")
    if done.returncode != 0 or not image_path.exists():
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise CorpusError(f"page {number} could not be rendered for OCR ({reason})")
    try:
        with Image.open(image_path) as image:
            yield image
    finally:
        image_path.unlink(missing_ok=True)


def _tesseract(number: int, call: Callable[[], Any]) -> Any:
    """Tesseract's answer to `call`, its failures as CorpusErrors naming the page."""
    import pytesseract

    try:
        return call()
    except RuntimeError as exc:  # pytesseract's timeout
        raise CorpusError(f"OCR of page {number} took over {PAGE_TIMEOUT_S} s") from exc
    except pytesseract.TesseractError as exc:
        raise CorpusError(f"OCR of page {number} failed ({exc})") from exc


def clean(text: str) -> str:
    """Tesseract's output as page text: form feeds and trailing spaces gone, at most one blank line."""
    lines = [line.rstrip() for line in text.replace("\f", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
