"""The web chat's HTML: every piece of document or user text escaped; passages in context."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from assistant.corpus_status import CorpusChanges
from assistant.types import Answer, Citation, Document, DocumentMeta, FileFailure, IndexedDocument, IndexSummary
from assistant.ui_html import (
    in_context,
    locate,
    paste_reference,
    render_answer,
    render_card,
    render_index,
    render_log,
    render_passage,
    render_question,
)

PAYLOADS = ['<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=2">',
            '<a href="javascript:alert(1)">x</a>', "<svg onload=alert(3)>", '"><b onmouseover=alert(4)>']
TEXT = ("First paragraph about nothing much.\n\nThe zanzibar treaty was agreed. " + " ".join(PAYLOADS)
        + " ![x](http://evil.example/x.png) [link](http://evil.example/)\n\nLast paragraph.")
START = TEXT.index("The zanzibar")
END = TEXT.index("\n\nLast")
EVIL_META = DocumentMeta(title="<img src=x onerror=alert(5)>Title", author="<script>a()</script>",
                         publisher="P & Co", date="2024-01-02")
DOC = Document("evil", "evil.md", EVIL_META, TEXT, "hash", ())
CITATION = Citation(n=1, chunk_id="evil:1", doc_id="evil", title=EVIL_META.title, author=EVIL_META.author,
                    publisher="P & Co", date="2024-01-02", source_type="", page=None, paragraph=2,
                    excerpt=TEXT[START:END], start=START, end=END, score=0.5, path="evil.md")


def assert_inert(html: str) -> None:
    """No element or attribute from the payloads survives; only the page's own markup."""
    tags = set(re.findall(r"<\s*([a-zA-Z]+)", html))
    assert tags <= {"div", "p", "span", "mark", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "b"}, tags
    assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no event handler attribute in any tag
    assert not re.search(r"<[^>]*javascript:", html)  # no javascript: URL in any tag
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<a " not in html


def test_answer_question_and_cards_escape_everything() -> None:
    answer = Answer("<script>q()</script>?", "“x” [1]", False, (CITATION,), (), searched="<b>s</b>")
    for html in (render_question(answer.question), render_answer(answer, ["<i>scope</i>"]),
                 render_card(CITATION, closest=False), render_card(CITATION, closest=True)):
        assert_inert(html)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in render_answer(answer)
    assert "![x](http://evil.example/x.png)" in render_answer(answer)  # shown as text, not rendered


def test_passage_panel_escapes_and_highlights_the_excerpt() -> None:
    passage = locate(CITATION, DOC)
    assert passage is not None and passage.excerpt == CITATION.excerpt
    html = render_passage(CITATION, passage, closest=False)
    assert_inert(html)
    assert html.count("<mark>") == 1 and "First paragraph" in html and "Last paragraph" in html
    assert "Citation [1] in context" in html
    assert "not an answer" in render_passage(CITATION, passage, closest=True)


def test_index_panel_escapes_titles_and_failures() -> None:
    summary = IndexSummary("v-1", "2024-01-02T03:04:05+00:00", 1.5,
                           (IndexedDocument("evil", "evil.md", "markdown", EVIL_META, 3),), 3,
                           (FileFailure("<img src=x onerror=alert(6)>.pdf", "broken <script>"),))
    html = render_index(summary, CorpusChanges(added=("<svg onload=alert(7)>.md",)))
    assert_inert(html)
    assert "has changed since this build" in html and "1 documents, 3 chunks" in html
    assert "up to date" in render_index(summary, CorpusChanges())
    assert_inert(render_log(["<script>x()</script>"]))


def test_paste_reference_is_plain_text() -> None:
    assert paste_reference(CITATION, "https://example.org/doc") == (
        f"{EVIL_META.title}, <script>a()</script>, P & Co, 2024-01-02, para. 2. https://example.org/doc\n"
        f"“{' '.join(CITATION.excerpt.split())}”")


def test_locate_finds_a_moved_excerpt_and_gives_up_on_a_removed_one() -> None:
    moved = replace(DOC, text="New opening paragraph.\n\n" + TEXT)
    passage = locate(CITATION, moved)
    assert passage is not None and passage.start == START + len("New opening paragraph.\n\n")
    assert locate(CITATION, replace(DOC, text="Entirely different text.")) is None
    assert locate(CITATION, None) is None
    assert "no longer in the index" in render_passage(CITATION, None, closest=False)


@pytest.mark.parametrize("start", [0, 500, 2950])
def test_in_context_cuts_at_line_breaks_and_keeps_the_excerpt(start: int) -> None:
    text = "\n".join(f"Line {i:03d} " + "word " * 8 for i in range(80))
    end = start + 30
    passage = in_context(text, start, end, before=120, after=120)
    assert passage.excerpt == text[start:end]
    assert passage.before + passage.excerpt + passage.after in text
    assert len(passage.before) <= 120 and len(passage.after) <= 120
    assert start - len(passage.before) == 0 or text[start - len(passage.before) - 1] == "\n"
