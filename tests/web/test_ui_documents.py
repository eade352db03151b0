"""Document details in the web chat: edit a document's metadata in a real browser, save and
rebuild, and the citations (and /ask) carry the new details under the same passage ids.

These tests change the corpus, so they run their own server on their own copy of it
(tests/conftest.py `serve_copy`), never the session's shared `web_server`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.web.details_section import apply_upload_details

from ..conftest import CHROMIUM, DATA, WebServer, make_settings, serve_copy
from .test_ui import Session, open_session

browser_test = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does it)")

SEED = "Which UK ministers signed the US-UK AI declaration?"
DECLARATION = "us-uk-ai-rd-declaration-2020.txt"
REBUILD_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web_library: Path) -> Iterator[WebServer]:
    # Its pages by URL come from a server on 127.0.0.1 (page_site): allowed here, as an intranet install would.
    with serve_copy(web_library, tmp_path_factory.mktemp("details-web"), "--open-editing",
                    "--allow-private-urls") as running:
        yield running


@pytest.fixture
def ui(browser: Any, server: WebServer) -> Iterator[Session]:
    """The Documents & index tab of a fresh page; nothing may leave the machine, no script errors."""
    with open_session(browser, server.url, height=1000) as session:
        session.page.get_by_role("tab", name="Documents & index").click()
        yield session


def pick(page: Any, name: str) -> None:
    """Choose a document in the editor's dropdown by (the start of) its label."""
    from playwright.sync_api import expect

    page.locator("#details-doc input").click()
    page.get_by_role("option", name=name).click()
    expect(page.locator("#details-save")).to_be_enabled()


def box(page: Any, name: str) -> Any:
    return page.locator(f"#details-{name} input, #details-{name} textarea").first


def save_and_wait(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#details-save").click()
    expect(page.locator("#details-status")).to_contain_text("the new index is answering questions",
                                                            timeout=REBUILD_TIMEOUT_MS)


def declaration_citation(server: WebServer) -> dict[str, Any]:
    from gradio_client import Client

    answer = Client(server.url, verbose=False).predict(SEED, api_name="/ask")
    found = [c for c in answer["citations"] if c["file"] == DECLARATION]
    assert found, answer
    return found[0]  # type: ignore[no-any-return]


@browser_test
def test_edit_author_and_date_then_citations_carry_them(ui: Session, server: WebServer) -> None:
    from playwright.sync_api import expect

    page = ui.page
    before = declaration_citation(server)
    assert before["date"] == "2020-09-25" and "September 25, 2020" in before["reference"]
    metadata = server.corpus / "metadata.json"
    pick(page, "Declaration of the United States")
    expect(box(page, "author")).to_have_value(before["author"])
    expect(box(page, "date")).to_have_value("2020-09-25")

    # A date in another form is refused on the page; nothing is written.
    written = metadata.read_bytes()
    box(page, "date").fill("25 September 2020")
    page.locator("#details-save").click()
    expect(page.locator("#details-status")).to_contain_text("Not saved: date '25 September 2020': write it as "
                                                            "YYYY, YYYY-MM or YYYY-MM-DD")
    assert metadata.read_bytes() == written

    box(page, "author").fill("  Office of Science and Technology Policy ")
    box(page, "date").fill("2020-10")
    save_and_wait(page)
    expect(page.locator("#build-log")).to_contain_text(f"Details of {DECLARATION} saved to metadata.json.")
    expect(page.locator("#index-status")).to_contain_text("Office of Science and Technology Policy")
    expect(page.locator("#index-status")).to_contain_text("up to date")
    expect(box(page, "author")).to_have_value("Office of Science and Technology Policy")  # as saved: stripped
    expect(page.locator("#details-hint")).to_contain_text("Passage ids do not change")
    page.locator("#details-doc").scroll_into_view_if_needed()
    ui.shot("11-document-details")

    entry = json.loads(metadata.read_text(encoding="utf-8"))[DECLARATION]
    assert entry["author"] == "Office of Science and Technology Policy" and entry["date"] == "2020-10"
    after = declaration_citation(server)
    assert after["passage_id"] == before["passage_id"] and after["excerpt"] == before["excerpt"]
    assert after["author"] == "Office of Science and Technology Policy" and after["date"] == "2020-10"
    assert "Office of Science and Technology Policy" in after["reference"] and "October 2020" in after["reference"]
    assert "Governments of the United States" not in after["reference"] and "2020-09-25" not in after["reference"]

    # The chat's citation card shows the new details too.
    page.get_by_role("tab", name="Chat").click()
    _answer, cards = ui.ask(SEED)
    metas = [card.locator(".ca-card-meta").inner_text() for card in cards
             if card.locator(".ca-card-name").inner_text().startswith("Declaration of the United States")]
    assert metas and all("Office of Science and Technology Policy" in m and "2020-10" in m for m in metas), metas


@browser_test
def test_markup_in_details_stays_text(ui: Session, server: WebServer) -> None:
    from playwright.sync_api import expect

    page = ui.page
    pick(page, "Zanzibar treaty briefing")
    expect(box(page, "title")).to_have_value("")  # no entry: the title comes from the heading …
    assert "Zanzibar treaty briefing <img src=x" in (box(page, "title").get_attribute("placeholder") or "")
    title = "<script>window.__pwned='details'</script><img src=x onerror=\"window.__pwned='img'\"> Zanzibar"
    box(page, "title").fill(title)
    save_and_wait(page)
    expect(page.locator("#index-status")).to_contain_text(title)
    expect(box(page, "title")).to_have_value(title)
    page.locator("#details-doc input").click()
    expect(page.get_by_role("option", name="<script>window.__pwned")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#details-doc").scroll_into_view_if_needed()
    ui.shot("12-document-details-markup")
    injected = "#index-status script, #index-status img, #details-doc script, #details-doc img, " \
               "#details-status script, #details-status img"
    assert page.locator(injected).count() == 0
    assert page.evaluate("window.__pwned") is None


@browser_test
def test_upload_with_details(ui: Session, server: WebServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = ui.page
    kestrel = DATA / "web" / "kestrel-accord.txt"
    page.locator("#upload input[type=file]").set_input_files([str(kestrel)])
    expect(page.locator("#upload a[href$='/kestrel-accord.txt']")).to_be_visible()
    page.locator("#upload-details").get_by_text("Details of the document").click()
    page.locator("#upload-title input").fill("The Kestrel Accord")
    page.locator("#upload-date input").fill("March 2031")
    page.locator("#add-documents").click()
    log = page.locator("#build-log")
    expect(log).to_contain_text("refused: the details: date 'March 2031'")  # checked before anything is written
    assert not (server.corpus / "kestrel-accord.txt").exists()

    page.locator("#upload-date input").fill("2031-03")
    page.locator("#upload-author input").fill("Nordic maritime council")
    page.locator("#add-documents").click()
    expect(log).to_contain_text("the new index is answering questions", timeout=REBUILD_TIMEOUT_MS)
    expect(log).to_contain_text("details of kestrel-accord.txt saved to metadata.json: title, author, date")
    expect(page.locator("#index-status")).to_contain_text("Nordic maritime council")
    expect(page.locator("#upload-title input")).to_have_value("")  # the form is cleared
    page.locator("#upload-details").scroll_into_view_if_needed()
    ui.shot("13-upload-with-details")
    entry = json.loads((server.corpus / "metadata.json").read_text(encoding="utf-8"))["kestrel-accord.txt"]
    assert entry == {"title": "The Kestrel Accord", "author": "Nordic maritime council", "date": "2031-03"}
    pick(page, "The Kestrel Accord")  # the editor lists the new document
    expect(box(page, "author")).to_have_value("Nordic maritime council")


def test_details_apply_only_to_a_single_upload(corpus_copy: Path) -> None:
    settings: Settings = make_settings(corpus_copy, corpus_copy.parent / "index")
    (corpus_copy / "a.txt").write_text("A.", encoding="utf-8")
    (corpus_copy / "b.txt").write_text("B.", encoding="utf-8")
    before = (corpus_copy / "metadata.json").read_bytes()
    note = apply_upload_details(settings, {"author": "X"}, 2, ["a.txt", "b.txt"])
    assert note.startswith("details not applied: 2 files were added at once") and "Document details" in note
    assert (corpus_copy / "metadata.json").read_bytes() == before
    assert apply_upload_details(settings, {}, 1, ["a.txt"]) == ""
    assert apply_upload_details(settings, {"author": "X"}, 1, []) == ""  # refused or already there
    assert apply_upload_details(settings, {"author": "X"}, 1, ["a.txt"]).startswith("details of a.txt saved")
    assert json.loads((corpus_copy / "metadata.json").read_text(encoding="utf-8"))["a.txt"] == {"author": "X"}


@pytest.fixture(scope="module")
def page_site() -> Iterator[str]:
    """tests/data/web/pages served on 127.0.0.1 (a stand-in for the web: nothing leaves the machine)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA / "web" / "pages"))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


@browser_test
def test_add_by_url(ui: Session, server: WebServer, page_site: str) -> None:
    from playwright.sync_api import expect

    page = ui.page
    url = f"{page_site}/ai-safety-network.html"
    page.locator("#add-url textarea").fill(f"{page_site}/no-such-page.html\n{url}")
    page.locator("#add-url-button").click()
    log = page.locator("#build-log")
    expect(log).to_contain_text("the new index is answering questions", timeout=REBUILD_TIMEOUT_MS)
    expect(log).to_contain_text(f"refused: {page_site}/no-such-page.html: the server answered 404 File not found")
    expect(log).to_contain_text(f"{url}: added as Partners-launch-the-Northwind-AI-Safety-Network.html")
    expect(page.locator("#index-status")).to_contain_text("Partners launch the Northwind AI Safety Network")
    expect(page.locator("#add-url textarea")).to_have_value("")
    page.locator("#add-url").scroll_into_view_if_needed()
    ui.shot("14-added-by-url")
    entry = json.loads((server.corpus / "metadata.json").read_text(encoding="utf-8"))[
        "Partners-launch-the-Northwind-AI-Safety-Network.html"]
    assert (entry["author"], entry["publisher"], entry["date"], entry["url"]) == (
        "Elena Marsh", "Ministry of Digital Affairs", "2024-04-17", url)

    # Its citations link to the page at the quote: a text fragment the browser scrolls to.
    page.get_by_role("tab", name="Chat").click()
    _answer, cards = ui.ask("Who will chair the Northwind AI Safety Network?")
    card = next(c for c in cards if "Northwind" in c.locator(".ca-card-name").inner_text())
    card.click()
    link = page.locator("#passage a.ca-source-link")
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    assert href.startswith(f"{url}#:~:text=") and link.get_attribute("rel") == "noopener noreferrer", href
    ui.shot("15-url-citation-link")
    opened = page.context.new_page()
    opened.set_viewport_size({"width": 600, "height": 200})
    opened.goto(url)
    assert opened.evaluate("window.scrollY") == 0
    opened.goto(href)
    opened.wait_for_function("window.scrollY > 0")  # scrolled to the quote
    opened.close()
