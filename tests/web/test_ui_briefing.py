"""The Briefing in the web chat, in a real browser against `assistant serve` (the real model).

Collect a whole answer, one citation of another answer and an abstention; reorder,
remove, write a note; export Markdown and .docx through the browser's own download, then
check both files: every quote verbatim in its source file under the corpus, one note per
marker numbered 1..N, a source list, the analyst's note as typed, nothing of the removed
item. Fixtures: conftest's server and browser, tests/web/test_ui.py's guarded page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import docx

from assistant.briefing.layout import NOT_COVERED
from assistant.briefing.references import md_unescape

from ..conftest import WebServer
from . import test_ui
from .test_ui import SEED, Session

pytestmark = test_ui.pytestmark
ui = test_ui.ui  # a guarded page: nothing may leave the machine, no script errors

SINGLE = "What is the Global Partnership on AI?"
UNCOVERED = "What is the capital of Australia?"
REMOVED = "When was the US-UK declaration on AI research signed?"
NOTE = "Ask the FCDO desk <script>window.__pwned='note'</script> **not bold** [x](http://evil.example/)"
TITLE = "US–UK AI cooperation: notes"
FILE_STEM = "US-UK-AI-cooperation-notes"


def flat(text: str) -> str:
    return " ".join(text.split())


def add(ui: Session, pill: Any, count: int, key: str = "") -> None:
    """Click an "Add to briefing" pill (or press `key` on it); the toast and the tab's label
    say how many items."""
    from playwright.sync_api import expect

    if key:
        pill.press(key)
    else:
        pill.click()
    expect(ui.page.get_by_role("tab", name=f"Briefing ({count})")).to_be_visible()
    expect(ui.page.locator(".toast-body").last).to_contain_text(f"Added to briefing ({count} item")


def item_questions(page: Any) -> list[str]:
    return [re.sub(r"^\d+\.\s*", "", t) for t in page.locator(".ca-item-head").all_inner_texts()]


def expect_order(page: Any, questions: list[str]) -> None:
    page.wait_for_function(
        "q => JSON.stringify([...document.querySelectorAll('.ca-item-head')]"
        ".map(e => e.innerText.replace(/^\\d+\\.\\s*/, '')))  === JSON.stringify(q)", arg=questions, timeout=10_000)


def item(page: Any, question: str) -> Any:
    """The item's group (its HTML, note box and buttons) by its question."""
    return page.locator(".ca-item").filter(has=page.locator(".ca-item-head", has_text=question)).first


def source_text(corpus: Path, doc_id: str) -> str:
    (path,) = [p for p in corpus.glob(f"{doc_id}.*") if p.suffix in {".txt", ".md"}]
    return flat(path.read_text(encoding="utf-8"))


def download(page: Any, extension: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.locator(f"#exports a[download$='{extension}']").click()
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_collect_reorder_note_and_export_a_briefing(ui: Session, web_server: WebServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = ui.page
    ui.ask(SEED)
    add(ui, page.locator(".ca-add-row .ca-add").last, 1)
    ui.shot("11-briefing-added-from-chat")
    _answer, cards = ui.ask(SINGLE)
    card = cards[1] if len(cards) > 1 else cards[0]
    single_n = card.locator(".ca-marker").inner_text().strip("[]")
    add(ui, card.locator(".ca-add"), 2)
    abstained, cards = ui.ask(UNCOVERED)
    expect(abstained).to_have_class("ca-abstain")
    assert all(card.locator(".ca-add").count() == 0 for card in cards)  # closest passages: never quotes
    add(ui, page.locator(".ca-add-row .ca-add").last, 3)
    ui.ask(REMOVED)
    pill = page.locator(".ca-add-row .ca-add").last
    pill.focus()  # by keyboard this time: the pills are buttons
    add(ui, pill, 4, key="Enter")

    page.get_by_role("tab", name="Briefing (4)").click()
    expect_order(page, [SEED, SINGLE, UNCOVERED, REMOVED])
    single = item(page, SINGLE)
    expect(single.locator(".ca-item-quote")).to_have_count(1)
    expect(item(page, UNCOVERED)).to_contain_text(NOT_COVERED)
    chicago = page.locator(".ca-item-ref").first.inner_text()

    item(page, UNCOVERED).locator(".ca-item-up").click()
    expect_order(page, [SEED, UNCOVERED, SINGLE, REMOVED])
    item(page, SEED).locator(".ca-item-down").click()
    expect_order(page, [UNCOVERED, SEED, SINGLE, REMOVED])
    item(page, REMOVED).locator(".ca-item-remove").click()
    expect_order(page, [UNCOVERED, SEED, SINGLE])
    expect(page.get_by_role("tab", name="Briefing (3)")).to_be_visible()

    item(page, SEED).locator(".ca-item-note textarea").fill(NOTE)
    item(page, SEED).locator(".ca-item-note textarea").press("Tab")  # leaving the note box saves it
    expect(item(page, SEED).locator(".ca-note-saved")).to_have_text("Note saved.")
    page.locator("#briefing-style label", has_text="APA").click()
    page.wait_for_function("c => document.querySelector('.ca-item-ref').innerText !== c", arg=chicago)
    assert page.locator(".ca-item-ref").first.inner_text().startswith("1. (")  # APA: (Author, 2020, para. n)
    expect(item(page, SEED).locator(".ca-item-note textarea")).to_have_value(NOTE)
    page.locator("#briefing-title textarea, #briefing-title input").first.fill(TITLE)
    page.locator("#export").click()
    expect(page.locator("#export-report")).to_contain_text("Every quote was checked")
    expect(page.locator("#exports a[download$='.docx']")).to_be_visible()
    page.locator(".ca-item").first.scroll_into_view_if_needed()
    ui.shot("12-briefing-tab")
    page.locator("#exports").scroll_into_view_if_needed()
    ui.shot("13-briefing-exported")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#briefing-tab script, #briefing-tab img, #briefing-tab a[href^='http://evil']").count() == 0

    markdown = download(page, ".md", tmp_path)
    word = download(page, ".docx", tmp_path)
    assert (markdown.name, word.name) == (f"{FILE_STEM}.md", f"{FILE_STEM}.docx")

    # Markdown: quotes with footnotes 1..N, each note naming a passage whose source holds the quote.
    text = markdown.read_text(encoding="utf-8")
    quotes = re.findall(r"^> “(.*)”\[\^(\d+)\]$", text, flags=re.M)
    notes = dict(re.findall(r"^\[\^(\d+)\]: .* Passage `([^`#]+)#[^`]+`\.$", text, flags=re.M))
    assert len(quotes) >= 2 and [int(n) for _q, n in quotes] == list(range(1, len(quotes) + 1))
    assert sorted(notes, key=int) == [n for _q, n in quotes]
    for quote, number in quotes:
        assert flat(md_unescape(quote)) in source_text(web_server.corpus, notes[number]), (number, quote)
    sections = {s.split("\n", 1)[0]: s for s in text.split("\n## ")}
    assert list(sections)[1:4] == [UNCOVERED, SEED, SINGLE]
    assert NOT_COVERED in sections[UNCOVERED] and "> “" not in sections[UNCOVERED]
    assert sections[SINGLE].count("> “") == 1 and "\n## Notes" in text and "\n## Sources\n" in text
    assert NOTE in md_unescape(text) and REMOVED not in text
    assert text.startswith(f"# {TITLE}\n")
    assert single_n  # the card had a number; the single quote is the one numbered after SEED's

    # .docx: the same quotes verbatim, one endnote per marker numbered 1..N, a source list.
    document = docx.Document(str(word))
    paragraphs = document.paragraphs
    quoted = [p for p in paragraphs if p.style.name == "Quote"]
    assert ["".join(r.text for r in p.runs) for p in quoted] == [f"“{md_unescape(q)}”" for q, _n in quotes]
    assert [p.hyperlinks[0].text for p in quoted] == [str(i) for i in range(1, len(quoted) + 1)]
    heads = [p.text for p in paragraphs if p.style.name.startswith("Heading")]
    assert heads[:4] == [UNCOVERED, SEED, SINGLE, "Notes"] and heads[-1] == "Sources"
    start = next(i for i, p in enumerate(paragraphs) if p.text == "Notes") + 1
    end = next(i for i, p in enumerate(paragraphs) if p.text == "Sources")
    assert [p.text.split(". ", 1)[0] for p in paragraphs[start:end]] == [str(i) for i in range(1, len(quoted) + 1)]
    assert [p.style.name for p in paragraphs[end + 1:]] and all(
        p.style.name == "List Bullet" for p in paragraphs[end + 1:])
    assert any(p.text == f"Analyst's note: {NOTE}" for p in paragraphs)
    assert all(REMOVED not in p.text for p in paragraphs) and document.core_properties.title == TITLE
