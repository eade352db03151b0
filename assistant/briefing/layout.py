"""Answers and citations -> a briefing: quotes in the body, numbered notes, a source list.

A Briefing is plain data (the web chat keeps one per browser session; `assistant brief`
makes one from questions). `layout()` numbers the notes and orders the sources once, and
both writers (Markdown here, .docx in docx_export.py) render that same layout, so the
two exports always agree.

Guarantee: `verified()` drops any quote that is not, character for character (whitespace
aside), in the version of the source its passage id names; a layout has exactly one note
per quote marker and one source entry per cited document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from ..answer.answering import excerpt_is_verbatim
from ..types import Answer, Citation, Document, DocumentMeta, one_line
from .references import (
    DEFAULT_STYLE,
    Run,
    answer_parts,
    check_style,
    markdown,
    md_escape,
    note_runs,
    source_of,
    source_runs,
)

NOT_COVERED = "Not covered by the documents."


@dataclass(frozen=True)
class BriefingItem:
    """One entry: a question with its quoted excerpts, or with none when not covered; and
    the analyst's own note, which is always shown as theirs, never as a quote."""

    question: str = ""
    citations: tuple[Citation, ...] = ()
    note: str = ""
    abstained: bool = False


@dataclass(frozen=True)
class Briefing:
    title: str = "Briefing"
    items: tuple[BriefingItem, ...] = ()


@dataclass(frozen=True)
class Quote:
    """A quote in the body with the number of its note."""

    citation: Citation
    note_number: int


@dataclass(frozen=True)
class LaidOutItem:
    question: str
    quotes: tuple[Quote, ...]
    note: str
    abstained: bool


@dataclass(frozen=True)
class Layout:
    """What an export shows, in order: items, notes (numbered from 1), sources."""

    title: str
    prepared: str
    items: tuple[LaidOutItem, ...]
    notes: tuple[tuple[int, list[Run], str], ...]  # (number, reference, passage id)
    sources: tuple[list[Run], ...]


def item_from_answer(answer: Answer, numbers: Sequence[int] | None = None, note: str = "") -> BriefingItem:
    """An answer as a briefing item: all its citations, or only those numbered `numbers`."""
    cited = tuple(c for c in answer.citations if numbers is None or c.n in numbers)
    return BriefingItem(answer.question, cited, note, answer.abstained)


def briefing_from_answers(answers: Sequence[Answer], title: str = "Briefing") -> Briefing:
    return Briefing(title, tuple(item_from_answer(a) for a in answers))


def verified(briefing: Briefing, source: Callable[[Citation], Document | None]) -> tuple[Briefing, list[str]]:
    """The briefing without quotes that are not verbatim in their source (and why each went).

    `source` gives the document version a citation was made from (None when unknown).
    """
    problems: list[str] = []
    items = []
    for item in briefing.items:
        kept = []
        for citation in item.citations:
            doc = source(citation)
            if not one_line(citation.excerpt):
                problems.append(f"an empty quote from {citation.doc_id} was left out")
            elif doc is None:
                problems.append(f"{citation.passage_id or citation.doc_id}: its source is no longer known; "
                                "the quote was left out")
            elif not excerpt_is_verbatim(citation, doc):
                problems.append(f"{citation.passage_id or citation.doc_id}: the quote is not in its source; "
                                "it was left out")
            else:
                kept.append(citation)
        if item.citations and not kept and not item.note:
            continue  # nothing of it is left to show
        items.append(dataclasses.replace(item, citations=tuple(kept)))
    return dataclasses.replace(briefing, items=tuple(items)), problems


def stale_notices(briefing: Briefing, is_current: Callable[[Citation], bool]) -> list[str]:
    """Quotes whose document has changed since they were taken: kept (they are verbatim in
    the version their passage id names), but the reader should know."""
    return [f"“{one_line(c.excerpt)[:60]}…” ({c.passage_id}): its document has changed since this was "
            f"quoted; the quote and its reference are from the earlier version (`assistant show "
            f"{c.passage_id}` says where the text is now)"
            for item in briefing.items for c in item.citations if not is_current(c)]


def layout(briefing: Briefing, style: str = DEFAULT_STYLE, prepared: date | None = None) -> Layout:
    """Number the notes in reading order and list each cited document once."""
    check_style(style)
    notes: list[tuple[int, list[Run], str]] = []
    sources: dict[str, DocumentMeta] = {}  # by document id, as references print them
    items = []
    for item in briefing.items:
        quotes = []
        for citation in item.citations:
            number = len(notes) + 1
            short = citation.doc_id in sources  # later notes on a source are shortened
            notes.append((number, note_runs(citation, style, short), citation.passage_id))
            quotes.append(Quote(citation, number))
            sources.setdefault(citation.doc_id, source_of(citation))
        items.append(LaidOutItem(one_line(item.question), tuple(quotes), item.note.strip(),
                                 item.abstained or (not item.citations and bool(item.question))))
    entries = sorted((source_runs(s, style) for s in sources.values()),
                     key=lambda runs: "".join(r.text for r in runs).lstrip("“\"").lower())
    day = prepared or date.today()
    return Layout(briefing.title.strip() or "Briefing", f"{day.day} {day:%B %Y}", tuple(items),
                  tuple(notes), tuple(entries))


def to_markdown(briefing: Briefing, style: str = DEFAULT_STYLE, prepared: date | None = None) -> str:
    """Markdown with footnotes (`[^1]`): quotes as block quotes, notes, then sources."""
    laid = layout(briefing, style, prepared)
    lines = [f"# {md_escape(laid.title)}", "", introduction(laid), ""]
    for item in laid.items:
        lines += [f"## {md_escape(item.question) or 'Note'}", ""]
        if item.abstained and not item.quotes:
            lines += [NOT_COVERED, ""]
        for quote in item.quotes:
            before, marked, after = answer_parts(quote.citation)
            bold = f"**{md_escape(marked)}**" if marked else ""
            lines += [f"> “{md_escape(before)}{bold}{md_escape(after)}”[^{quote.note_number}]", ""]
        if item.note:
            note = "  \n".join(md_escape(line) for line in item.note.splitlines())
            lines += [f"*Analyst's note:* {note}", ""]
    if laid.notes:
        lines += ["## Notes", ""]
        for number, runs, pid in laid.notes:
            lines.append(f"[^{number}]: {markdown(runs)}" + (f" Passage `{pid}`." if pid else ""))
        lines.append("")
    if laid.sources:
        lines += ["## Sources", ""]
        lines += [f"- {markdown(runs)}" for runs in laid.sources]
        lines.append("")
    return "\n".join(lines)


def introduction(laid: Layout) -> str:
    """The line under the title: when it was prepared and what the reader can rely on."""
    if not laid.notes:
        return f"Prepared {laid.prepared}. It quotes no documents."
    return (f"Prepared {laid.prepared}. Every quotation is verbatim from its source; each note gives "
            "the reference and a passage id that `assistant show` resolves.")
