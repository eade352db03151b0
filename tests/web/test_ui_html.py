"""The web chat's HTML: every piece of document or user text escaped; passages in context."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from assistant.briefing.layout import Briefing, BriefingItem, layout
from assistant.indexing.corpus_status import CorpusChanges
from assistant.types import (
    Answer,
    AnswerSpan,
    Citation,
    Document,
    DocumentMeta,
    FileFailure,
    IndexedDocument,
    IndexSummary,
)
from assistant.web.briefing_tab import SessionBriefing, render_item, safe_name
from assistant.web.views import (
    in_context,
    locate,
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


def test_a_marked_answer_is_highlighted_in_its_quote_and_shown_first_escaped() -> None:
    at = TEXT.index("zanzibar treaty")
    marked = replace(CITATION, answer=AnswerSpan("zanzibar treaty", at, at + len("zanzibar treaty")))
    html = render_answer(Answer("Which treaty?", "“x” [1]", False, (marked,)))
    assert_inert(html)
    assert '<mark class="ca-answer-mark">zanzibar treaty</mark> was agreed. &lt;script&gt;' in html
    assert html.index('<div class="ca-short-answer">zanzibar treaty <span class="ca-marker">[1]</span>') < \
        html.index('<p class="ca-quote">“The <mark')
    assert "ca-short-answer" not in render_answer(Answer("Which treaty?", "“x” [1]", False, (CITATION,)))
    at = TEXT.index("<script>")  # an answer of document markup stays text
    evil = replace(CITATION, answer=AnswerSpan(PAYLOADS[0], at, at + len(PAYLOADS[0])))
    assert_inert(render_answer(Answer("Which?", "“x” [1]", False, (evil,))))


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


def test_add_to_briefing_pills_on_answers_and_cited_cards_only() -> None:
    answer = Answer("q", "“x” [1]", False, (CITATION,))
    assert "Add answer to briefing" in render_answer(answer)
    assert "Add to briefing as not covered" in render_answer(Answer("q", "Not covered.", True, (), (CITATION,)))
    assert "ca-add" in render_card(CITATION, closest=False)
    assert "ca-add" not in render_card(CITATION, closest=True)  # a closest passage is never a quote


def test_briefing_items_escape_questions_quotes_and_references() -> None:
    briefing = Briefing("t", (BriefingItem("<b>q</b>?", (CITATION,), "<script>n()</script>"),
                              BriefingItem("<i>nothing</i>", (), "", abstained=True)))
    laid = layout(briefing, "chicago")
    notes = {number: (runs, pid) for number, runs, pid in laid.notes}
    html = "".join(render_item(i + 1, item, notes) for i, item in enumerate(laid.items))
    tags = set(re.findall(r"<\s*([a-zA-Z]+)", html))
    assert tags <= {"div", "span", "sup", "i", "code"}, tags
    assert not re.search(r"<[^>]*\son\w+\s*=", html) and "<script" not in html and "<img" not in html
    assert "&lt;b&gt;q&lt;/b&gt;?" in html and "Not covered by the documents." in html
    assert "<i>&lt;img src=x onerror=alert(5)&gt;Title</i>" in html  # the title, italic and escaped


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


def test_export_file_names_are_safe() -> None:
    assert safe_name("US–UK AI: café notes") == "US-UK-AI-cafe-notes"
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("<script>") == "script" and safe_name("…") == "briefing"


def test_collected_items_move_remove_and_keep_their_notes() -> None:
    a, b, c = (BriefingItem(q) for q in "abc")
    collected = SessionBriefing().add(a).add(b).add(c)
    assert collected.keys == (0, 1, 2) and collected.layout == 3
    moved = collected.move(2, -1).with_note(2, "  mine  ")
    assert [i.question for i in moved.briefing.items] == ["a", "c", "b"] and moved.keys == (0, 2, 1)
    assert moved.briefing.items[1].note == "mine" and moved.layout == 4  # a note does not re-render
    assert moved.move(0, -1) == moved and moved.remove(7) == moved  # nothing to do
    removed = moved.remove(0)
    assert [i.question for i in removed.briefing.items] == ["c", "b"] and removed.add(a).keys == (2, 1, 3)
