"""`assistant show ID --page PNG`: the passage's PDF page written with the passage boxed, made
once and then served from the cache; a PDF changed or gone since indexing, a document that is
not a PDF and an encrypted PDF opened with its configured password. Real index, real PDFs."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant.cli import main
from assistant.ingest.documents import discover, load_document
from assistant.ingest.ocr import recognise_pages
from assistant.pageview.highlight import EDGE, highlight_quote
from assistant.pipeline import PAGE_IMAGES_DIR, build_index, quote_pages
from assistant.types import PageSpan

from ..conftest import DATA, SHARED, make_settings

TEXT = "A note\n\nThe agreement sets out how the two governments share research on the safety of models.\n"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """A corpus of a one-page PDF, the same PDF encrypted (its password in metadata.json) and a
    text file, and its index."""
    root = tmp_path_factory.mktemp("pages")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(DATA / "pdfs" / "crazyones.pdf", corpus)
    shutil.copy(DATA / "pdfs" / "crazyones-encrypted-256.pdf", corpus / "locked.pdf")
    (corpus / "note.txt").write_text(TEXT, encoding="utf-8")
    (corpus / "metadata.json").write_text(json.dumps({"locked.pdf": {"password": "password"}}), encoding="utf-8")
    build_index(make_settings(corpus, root / "index"), embedder=embedder)
    return corpus, root / "index"


def show(library: tuple[Path, Path], *args: str) -> int:
    corpus, index = library
    return main(["show", *args, "--corpus", str(corpus), "--index", str(index), "-q"])


def boxed_share(png: Path | bytes) -> float:
    """Share of the image's pixels in the highlight's edge colour."""
    with Image.open(png if isinstance(png, Path) else io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB"))
    return float(np.all(pixels == EDGE[:3], axis=2).mean())


def test_show_page_writes_the_page_with_the_passage_boxed(library: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "page.png"
    assert show(library, "crazyones#page1-p1", "--page", str(out)) == 0
    assert "Wrote" in capsys.readouterr().err
    with Image.open(out) as image:
        assert image.size == (1224, 1584)  # US Letter at 144 dpi
    assert boxed_share(out) > 0.001
    corpus, index = library
    assert list((index / PAGE_IMAGES_DIR).glob("*.png"))  # kept for the next time
    settings = make_settings(corpus, index)
    doc = load_document(next(f for f in discover(corpus)[0] if f.relpath == "crazyones.pdf"))
    started = time.perf_counter()
    again = quote_pages(settings, "crazyones", doc.blocks[1].start, doc.blocks[1].end)
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert quote_pages(settings, "crazyones", doc.blocks[1].start, doc.blocks[1].end) == again
    assert time.perf_counter() - started < first  # the second comes from the cache


def test_show_json_gives_a_pdf_passages_page_image_path(library: tuple[Path, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert show(library, "crazyones#page1-p1", "note#p2", "--json") == 0
    pdf, text = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert pdf["page_image"] == f"/page-image/crazyones/{pdf['start']}-{pdf['end']}.png"
    assert text["page_image"] is None and text["source_link"] is None


def test_an_encrypted_pdf_opens_with_its_configured_password(library: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "locked.png"
    assert show(library, "locked#page1-p1", "--page", str(out)) == 0
    assert boxed_share(out) > 0.001


def test_a_changed_or_removed_pdf_and_a_text_file_are_refused_clearly(
        library: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus, index = library
    changed = tmp_path / "changed"
    shutil.copytree(corpus, changed / "corpus")
    shutil.copytree(index, changed / "index")
    copy = (changed / "corpus", changed / "index")
    assert show(copy, "note#p2", "--page", str(tmp_path / "note.png")) == 1
    assert "note.txt: not a PDF (text); only a PDF's pages are shown as images" in capsys.readouterr().err
    with (changed / "corpus" / "crazyones.pdf").open("ab") as pdf:
        pdf.write(b"\n% edited\n")
    assert show(copy, "crazyones#page1-p1", "--page", str(tmp_path / "x.png")) == 1
    assert "crazyones.pdf: the source changed since indexing; run `assistant index`" in capsys.readouterr().err
    (changed / "corpus" / "crazyones.pdf").unlink()
    assert show(copy, "crazyones#page1-p1", "--page", str(tmp_path / "x.png")) == 1
    assert "crazyones.pdf: no longer in the corpus; run `assistant index`" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert show(copy, "crazyones#page1-p1", "note#p2", "--page", str(tmp_path / "x.png")) == 1
    assert "give one ID" in capsys.readouterr().err


@pytest.mark.ocr
@pytest.mark.skipif(not (SHARED / "testdata" / "pdfs").is_dir(), reason="../shared/testdata/pdfs not present")
def test_a_scanned_page_shows_its_image_with_the_ocr_words_of_the_quote_boxed() -> None:
    scan = SHARED / "testdata" / "pdfs" / "pdfminer-samples" / "nonfree_175.pdf"
    text = recognise_pages(scan, [1])[0][1]  # the page's text as the index holds it
    quote = "WEIGHT INCREASE: 3.00 Lbs."
    start = text.index(quote)
    [page] = highlight_quote(scan, text, (PageSpan(1, 0, len(text), ocr=True),), start, start + len(quote))
    assert page.ocr and page.found == 1.0
    assert 1 <= len(page.boxes) <= 4  # the four words, on one line
    for box in page.boxes:
        assert 0.1 * page.width < box.left < box.right < 0.5 * page.width
        assert 0.2 * page.height < box.top < box.bottom < 0.3 * page.height
    assert boxed_share(page.png) > 0.0005


def test_the_chat_panel_shows_a_pdf_citations_page(library: tuple[Path, Path], embedder) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from assistant.pipeline import Assistant
    from assistant.web.app import WebChat
    from assistant.web.chat_tab import ChatState

    settings = make_settings(*library)
    web = WebChat(settings, Assistant(settings, embedder))
    _messages, state, _ = web.chat_tab.chat("Who are the misfits and the rebels?", [], ChatState())
    index, citation, _closest = next(card for card in state.cards if card[1].doc_id == "crazyones")
    panel, _reference, _sidebar, page = web.chat_tab.open_card(state, index)
    assert isinstance(page, gr.Image) and page.visible and page.label == f"Page {citation.page}"
    assert "<mark>" in panel
    (settings.corpus_dir / "crazyones.pdf").write_bytes(b"%PDF-1.4 replaced")  # changed since indexing
    try:
        panel, _reference, _sidebar, page = web.chat_tab.open_card(state, index)
    finally:
        shutil.copy(DATA / "pdfs" / "crazyones.pdf", settings.corpus_dir)
    assert not page.visible and "The page cannot be shown: crazyones.pdf: the source changed since indexing" in panel
    assert "<mark>" in panel  # the passage's text is still there


def test_brief_page_crops_put_each_pdf_quotes_page_under_it(library: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import docx

    corpus, index = library
    question = "Who are the misfits and the rebels?"
    args = ["brief", question, "--corpus", str(corpus), "--index", str(index), "-q"]
    assert main([*args, "-o", str(tmp_path / "plain.docx")]) == 0
    assert main([*args, "-o", str(tmp_path / "crops.docx"), "--page-crops"]) == 0
    plain, crops = docx.Document(str(tmp_path / "plain.docx")), docx.Document(str(tmp_path / "crops.docx"))
    assert len(plain.inline_shapes) == 0 and len(crops.inline_shapes) >= 1
    captions = [p.text for p in crops.paragraphs if p.text.startswith("Page ")]
    assert captions and captions[0].startswith("Page 1 of crazyones.pdf")
    picture = crops.part.related_parts[crops.inline_shapes[0]._inline.graphic.graphicData.pic.blipFill.blip.embed]
    assert boxed_share(picture.blob) > 0.005  # a crop around the quote: much of it is the box
    capsys.readouterr()
    assert main([*args, "--page-crops"]) == 1
    assert "--page-crops puts pictures in a Word briefing" in capsys.readouterr().err
