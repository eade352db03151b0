"""OCR of scanned PDF pages (PDFium + Tesseract): text read where a scan holds it, pages
marked as read by OCR, citations that say so in the chat, in `ask --json` and in references,
and ASSISTANT_OCR=off."""

from __future__ import annotations

import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from assistant.errors import CorpusError
from assistant.ingest import ocr
from assistant.ingest.documents import discover, load_document
from assistant.pipeline import Assistant, build_index
from assistant.render import answer_to_json, render_answer
from assistant.web.views import where

from ..conftest import DATA, make_settings

pytestmark = pytest.mark.ocr

SCAN = DATA / "pdfs" / "contrib_pdf-with-jbig2.pdf"  # a drawing whose speech bubble says "It Doesn't Work?!?!?!"
TEXT_PDF = DATA / "pdfs" / "crazyones.pdf"


def scanned_copy(pdf: Path, out: Path) -> Path:
    """An image-only PDF of a text PDF's first page: what a scanner gives (no text layer)."""
    document = pdfium.PdfDocument(str(pdf))
    try:
        image = document[0].render(scale=200 / 72, grayscale=True).to_pil()
    finally:
        document.close()
    image.save(out, "PDF", resolution=200)
    return out


def load(corpus: Path, name: str, mode: str = "auto"):  # type: ignore[no-untyped-def]
    files, _ = discover(corpus)
    return load_document(next(f for f in files if f.relpath == name), mode)


def test_ocr_is_available_here() -> None:
    assert ocr.available(), f"OCR needs {ocr.missing()} (scripts/test.sh installs them)"


def test_a_scan_is_read_and_its_page_marked(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(SCAN.read_bytes())
    doc = load(tmp_path, "scan.pdf")
    assert "Doesn't" in doc.text
    assert [(p.number, p.ocr) for p in doc.pages] == [(1, True)]
    assert doc.read_by_ocr(1) and not doc.read_by_ocr(2)


def test_ocr_off_reports_the_scan_as_before(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(SCAN.read_bytes())
    with pytest.raises(CorpusError, match=r"^scan\.pdf: no extractable text .*OCR is off"):
        load(tmp_path, "scan.pdf", "off")


def test_pages_with_a_text_layer_are_not_ocrd(tmp_path: Path) -> None:
    (tmp_path / "text.pdf").write_bytes(TEXT_PDF.read_bytes())
    doc = load(tmp_path, "text.pdf")
    assert doc.pages and not any(p.ocr for p in doc.pages)


def test_a_scanned_page_is_cited_as_read_by_ocr(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scanned_copy(TEXT_PDF, corpus / "crazy-scan.pdf")
    settings = make_settings(corpus, tmp_path / "index")
    report = build_index(settings, embedder=embedder)
    assert list(report.added) == ["crazy-scan.pdf"]
    answer = Assistant(settings, embedder).ask("Who are the crazy ones, the misfits and the rebels?")
    assert not answer.abstained
    first = answer.citations[0]
    assert first.ocr and first.page == 1
    assert "misfits" in first.excerpt.lower()
    data = json.loads(json.dumps(answer_to_json(answer)))
    assert data["citations"][0]["ocr"] is True
    assert "text recognised by OCR" in data["citations"][0]["reference"]
    assert "p. 1, para. " in render_answer(answer) and "text recognised by OCR" in render_answer(answer)
    assert where(first).endswith("· text recognised by OCR")  # the chat's citation card


def test_page_words_are_tesseracts_tsv_words_with_boxes_on_the_rendered_page() -> None:
    words, (width, height) = ocr.page_words(SCAN, 1)
    assert [w.text for w in words] == ["It", "Doesn't"]  # the speech bubble; the rest of the scan is drawing
    assert (width, height) == (2550, 3301)  # US Letter at 300 dpi (PDFium rounds the height up)
    assert all(0 <= w.left < w.right <= width and 0 <= w.top < w.bottom <= height for w in words)


def test_tsv_rows_without_a_word_are_skipped() -> None:
    table = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
             "1\t1\t0\t0\t0\t0\t0\t0\t2550\t3300\t-1\t\n"
             "5\t1\t1\t1\t1\t1\t10\t20\t30\t40\t96.5\tTab\there\n")
    assert ocr.tsv_words(table) == [ocr.OcrWord("Tab\there", 10, 20, 40, 60)]


def test_an_unreadable_page_image_is_an_error_naming_the_page(tmp_path: Path) -> None:
    broken = tmp_path / "page.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(CorpusError, match=r"^OCR of page 3 failed \("):
        ocr._tesseract(3, broken)
