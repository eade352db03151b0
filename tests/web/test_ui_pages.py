"""A PDF citation's page in a real browser: clicking the card opens the side panel with the
page image, the quote boxed on it and in view, the passage text still below it."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from assistant.pageview.highlight import EDGE
from assistant.pipeline import build_index

from ..conftest import CHROMIUM, DATA, WebServer, copy_library, make_settings, serving
from .test_ui import Session, open_session

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does it)")]


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory: pytest.TempPathFactory, web_library: Path, embedder) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    """The web library plus a one-page PDF (only it is embedded), served read-only."""
    root = tmp_path_factory.mktemp("pages-web")
    corpus, index = copy_library(web_library, root)
    shutil.copy(DATA / "pdfs" / "crazyones.pdf", corpus)
    build_index(make_settings(corpus, index), embedder=embedder)
    with serving(corpus, index, root) as url:
        yield WebServer(url, corpus, index, root / "serve.log")


@pytest.fixture
def ui(browser: Any, pdf_server: WebServer) -> Iterator[Session]:
    with open_session(browser, pdf_server.url) as session:
        yield session


def test_a_pdf_citation_opens_its_page_with_the_quote_boxed_in_view(ui: Session) -> None:
    from playwright.sync_api import expect

    page = ui.page
    _answer, cards = ui.ask("Who are the misfits, the rebels and the troublemakers?")
    names = [card.locator(".ca-card-name").inner_text() for card in cards]
    pdf_card = next(card for card, name in zip(cards, names) if "crazyones" in name.lower()
                    or "crazy" in card.inner_text().lower())
    pdf_card.click()
    image = page.locator("#page-image img")
    expect(image).to_be_visible()
    expect(image).to_be_in_viewport()
    expect(page.locator("#page-image")).to_contain_text("Page 1")
    expect(page.locator("#passage mark")).to_be_visible()  # the passage text is still there
    ui.shot("20-pdf-page-in-panel")
    shown = Image.open(io.BytesIO(image.screenshot())).convert("RGB")  # what the viewer sees
    pixels = np.asarray(shown).astype(int)
    edge = np.abs(pixels - np.array(EDGE[:3])).sum(axis=2) < 60  # the box's edge colour, scaled down
    assert edge.mean() > 0.0005, "no highlight visible on the page image"


def test_the_page_image_path_of_ask_json_serves_the_page(pdf_server: WebServer, embedder) -> None:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.request

    from assistant.pipeline import Assistant
    from assistant.render import answer_to_json

    settings = make_settings(pdf_server.corpus, pdf_server.index)
    answer = answer_to_json(Assistant(settings, embedder).ask("Who are the misfits and the rebels?"))
    cited = next(c for c in answer["citations"] if c["doc_id"] == "crazyones")
    assert cited["page_image"] == f"/page-image/crazyones/{cited['start']}-{cited['end']}.png"
    with urllib.request.urlopen(pdf_server.url.rstrip("/") + cited["page_image"], timeout=60) as response:
        assert response.headers["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(response.read())) as image:
            pixels = np.asarray(image.convert("RGB"))
    assert np.all(pixels == EDGE[:3], axis=2).mean() > 0.001  # the quote is boxed
    for path, status in ((f"/page-image/no-such-doc/{cited['start']}-{cited['end']}.png", 404),
                         ("/page-image/crazyones/50-10.png", 404)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(pdf_server.url.rstrip("/") + path, timeout=60)
        assert refused.value.code == status, path
        refused.value.close()
    pdf = pdf_server.corpus / "crazyones.pdf"
    original = pdf.read_bytes()
    pdf.write_bytes(original + b"\n% edited\n")  # changed since indexing
    try:
        with pytest.raises(urllib.error.HTTPError) as changed:
            urllib.request.urlopen(pdf_server.url.rstrip("/") + cited["page_image"], timeout=60)
    finally:
        pdf.write_bytes(original)
    assert changed.value.code == 409 and b"the source changed since indexing" in changed.value.read()
    changed.value.close()
