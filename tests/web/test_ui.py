"""The web chat in a real browser: Debian's chromium, driven by Playwright, against `assistant serve`.

One server (tests/conftest.py `web_server`) and one browser serve every test here. Each
test fails if the page sent a request anywhere but the server, or raised a script error.
Screenshots go to tests/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ..conftest import CHROMIUM, DATA, REPO, WebServer

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does it)")]

SHOTS = REPO / "tests" / "screenshots"
ANSWERS = ".ca-answer, .ca-abstain, .ca-error"
SEED = "Which UK ministers signed the US-UK AI declaration?"
TITLE = "Cited-answer assistant"
ANSWER_TIMEOUT_MS = 60_000


@dataclass
class Session:
    """A page on the app, with what it tried to fetch from elsewhere and its script errors."""

    page: Any
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.wait_for_timeout(400)  # let the side panel finish sliding in
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def ask(self, question: str) -> tuple[Any, list[Any]]:
        """Ask in the chat; the new answer bubble and the citation cards under it."""
        page = self.page
        answers, cards = page.locator(ANSWERS).count(), page.locator(".ca-card").count()
        page.locator("#question textarea").fill(question)
        page.locator("#ask").click()
        page.wait_for_function(f"document.querySelectorAll('{ANSWERS}').length > {answers}",
                               timeout=ANSWER_TIMEOUT_MS)
        answer = page.locator(ANSWERS).last
        answer.scroll_into_view_if_needed()
        return answer, [page.locator(".ca-card").nth(i) for i in range(cards, page.locator(".ca-card").count())]


@contextlib.contextmanager
def open_session(browser: Any, url: str, height: int = 950, clipboard: bool = False) -> Iterator[Session]:
    """A fresh page on the app. Anything not for the app is recorded and refused (nothing
    may leave the machine); on leaving, no outside request and no script error may be left."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    page = context.new_page()
    session = Session(page)

    def guard(route: Any) -> None:
        if urlparse(route.request.url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            session.outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda error: session.errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("#chat")
    yield session
    context.close()
    assert session.outside == [], f"the page tried to reach outside hosts: {session.outside}"
    assert session.errors == [], f"script errors on the page: {session.errors}"


@pytest.fixture
def ui(browser: Any, web_server: WebServer) -> Iterator[Session]:
    with open_session(browser, web_server.url, clipboard=True) as session:
        yield session


def test_seed_question_answer_with_citation_and_passage_panel(ui: Session) -> None:
    from playwright.sync_api import expect

    page = ui.page
    expect(page.get_by_text("What is the Global Partnership on AI?")).to_be_visible()  # examples from the corpus
    ui.shot("01-first-load")
    answer, cards = ui.ask(SEED)
    expect(answer).to_contain_text("[1]")
    expect(answer).to_contain_text("Alok Sharma")  # the ministers, from the declaration's signature block
    assert cards, "no citation under the answer"
    expect(cards[0]).to_contain_text("[1]")
    titles = [card.locator(".ca-card-name").inner_text() for card in cards]
    assert any(title.startswith("Declaration of the United States") for title in titles), titles
    page.locator(".ca-question").last.scroll_into_view_if_needed()
    ui.shot("02-answer-with-citations")

    cards[[t.startswith("Declaration of the United States") for t in titles].index(True)].click()
    mark = page.locator("#passage mark")
    expect(mark).to_be_visible()
    expect(page.locator("#passage .ca-context")).to_contain_text(mark.inner_text()[:40])
    expect(page.locator("#passage .ca-panel-title")).to_contain_text("Declaration of the United States")
    reference = page.locator("#reference textarea").input_value()
    marked = " ".join(mark.inner_text().split())  # the reference quotes on one line
    assert reference.startswith(f"“{marked[:30]}") and "— Governments of the United States" in reference
    assert "Declaration of the United States" in reference and "[us-uk-ai-rd-declaration-2020#p" in reference
    page.locator("#copy-citation").click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.length > 0)")
    assert page.evaluate("navigator.clipboard.readText()") == reference
    ui.shot("03-passage-panel")


def test_follow_up_is_understood_in_context(ui: Session) -> None:
    from playwright.sync_api import expect

    ui.ask("What does the US-UK declaration on AI research and development say?")
    answer, cards = ui.ask("When was it signed?")
    searched = ui.page.locator(".ca-searched").last
    expect(searched).to_contain_text("When was it signed?")
    expect(searched).to_contain_text("declaration")
    expect(searched).to_contain_text("with the conversation so far")
    expect(answer).to_contain_text("2020")
    assert cards
    ui.page.locator(".ca-question").last.scroll_into_view_if_needed()
    ui.shot("04-follow-up")


def test_uncovered_question_says_so_and_shows_closest_passages_as_such(ui: Session) -> None:
    from playwright.sync_api import expect

    answer, cards = ui.ask("What is the capital of Australia?")
    expect(answer).to_have_class("ca-abstain")
    expect(answer).to_contain_text("The documents do not cover this question.")
    assert cards and all("ca-card-closest" in (card.get_attribute("class") or "") for card in cards)
    for card in cards:
        expect(card).to_contain_text("not an answer")
    expect(ui.page.locator(".ca-closest-label").last).to_contain_text("not as an answer")
    cards[0].focus()
    cards[0].press("Enter")  # a citation card opens by keyboard as by mouse
    expect(ui.page.locator("#passage .ca-panel-label")).to_contain_text("not an answer")
    ui.shot("05-not-covered")


def test_document_with_html_and_script_payload_renders_inert(ui: Session) -> None:
    from playwright.sync_api import expect

    page = ui.page
    answer, cards = ui.ask("What does the Zanzibar quantum treaty contain?")
    expect(answer).to_have_class("ca-answer")
    payload_cards = [card for card in cards if "Zanzibar treaty briefing" in card.locator(".ca-card-name").inner_text()]
    assert payload_cards, [card.inner_text() for card in cards]
    # The title holds an <img onerror>: it is shown as characters.
    expect(payload_cards[0]).to_contain_text('<img src=x onerror="window.__pwned')
    page.locator(".ca-question").last.scroll_into_view_if_needed()
    ui.shot("06-payload-answer")
    payload_cards[0].click()
    context = page.locator("#passage .ca-context")
    expect(context).to_contain_text("![tracker](http://evil.example/pixel.png)")
    expect(context).to_contain_text("<script>window.__pwned='script'")
    page.locator("#passage").hover()
    page.locator("#passage mark").hover()
    ui.shot("07-payload-passage")

    page.get_by_role("tab", name="Documents & index").click()
    expect(page.locator("#index-status")).to_contain_text("Zanzibar treaty briefing <img src=x")
    ui.shot("08-payload-index")

    injected = "#chat img, #chat iframe, #chat script, #chat a, #passage img, #passage iframe, " \
               "#passage svg, #passage script, #passage a, #index-status img, #index-status svg"
    assert page.locator(injected).count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.title() == TITLE


def test_upload_then_rebuild_then_find_the_document(ui: Session, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = ui.page
    fake_pdf = tmp_path / "notes.pdf"
    fake_pdf.write_text("Plain text posing as a PDF.", encoding="utf-8")
    page.get_by_role("tab", name="Documents & index").click()
    expect(page.locator("#index-status")).to_contain_text("up to date")
    page.locator("#upload input[type=file]").set_input_files([str(DATA / "web" / "kestrel-accord.txt"),
                                                              str(fake_pdf)])
    for name in ("kestrel-accord.txt", "notes.pdf"):  # uploaded: each listed with its link
        expect(page.locator(f"#upload a[href$='/{name}']")).to_be_visible()
    page.locator("#add-documents").click()
    log = page.locator("#build-log")
    expect(log).to_contain_text("the new index is answering questions", timeout=180_000)
    expect(log).to_contain_text("kestrel-accord.txt: added as kestrel-accord.txt")
    expect(log).to_contain_text("refused: notes.pdf: the content is plain text but the name says .pdf")
    expect(log).to_contain_text("added:   kestrel-accord.txt")
    status = page.locator("#index-status")
    expect(status).to_contain_text("kestrel-accord.txt")
    expect(status).to_contain_text("up to date")
    expect(page.locator("#upload tr")).to_have_count(0)  # the upload box is cleared
    ui.shot("09-uploaded-and-rebuilt")

    page.get_by_role("tab", name="Chat").click()
    answer, cards = ui.ask("Where was the Kestrel Accord on maritime drones signed?")
    expect(answer).to_contain_text("Reykjavik")
    assert any(card.locator(".ca-card-name").inner_text() == "The Kestrel Accord on maritime drones" for card in cards)
    page.locator(".ca-question").last.scroll_into_view_if_needed()
    ui.shot("10-new-document-answers")
