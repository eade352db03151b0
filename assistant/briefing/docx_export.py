"""A briefing's layout as a Word document (.docx), with python-docx.

Quotes are "Quote" paragraphs ending in a superscript note number that links to its
endnote; the "Notes" section lists the references (numbered, each a bookmark the marker
jumps to); "Sources" lists each cited document once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date, datetime, timezone

import docx
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Pt
from docx.text.paragraph import Paragraph

from .layout import NOT_COVERED, Briefing, Layout, introduction, layout
from .references import DEFAULT_STYLE, Run, answer_parts

PageCrops = Mapping[tuple[str, int, int], tuple[int, bytes]]
"""(doc_id, start, end) of a quote -> (page number, PNG of the page around the quote, boxed)."""
CROP_WIDTH = Inches(5.0)


def to_docx(briefing: Briefing, style: str = DEFAULT_STYLE, prepared: date | None = None,
            page_crops: PageCrops | None = None) -> bytes:
    """The briefing as a .docx; `page_crops`: under each PDF quote found there, a picture of
    its page around the quote (`assistant brief --page-crops`)."""
    laid = layout(briefing, style, prepared)
    document = docx.Document()
    document.core_properties.title = laid.title
    document.core_properties.comments = "Made by the cited-answer assistant; every quotation is verbatim."
    # Not python-docx's template's: its author and 2013 date would be read back as this file's.
    document.core_properties.author = ""
    day = prepared or date.today()
    document.core_properties.created = document.core_properties.modified = \
        datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    document.add_heading(laid.title, level=0)
    document.add_paragraph(introduction(laid).replace("`", ""))  # no code spans in Word
    for item in laid.items:
        document.add_heading(item.question or "Note", level=2)
        if item.abstained and not item.quotes:
            document.add_paragraph(NOT_COVERED)
        for quote in item.quotes:
            paragraph = document.add_paragraph(style="Quote")
            before, marked, after = answer_parts(quote.citation)
            paragraph.add_run(f"“{before}")
            if marked:
                paragraph.add_run(marked).bold = True  # the answer the reader marked
            paragraph.add_run(f"{after}”")
            _note_marker(paragraph, quote.note_number)
            crop = (page_crops or {}).get((quote.citation.doc_id, quote.citation.start, quote.citation.end))
            if crop is not None:
                document.add_picture(io.BytesIO(crop[1]), width=CROP_WIDTH)
                caption = document.add_paragraph(f"Page {crop[0]} of {quote.citation.path}, the quotation boxed.")
                caption.runs[0].italic = True
        if item.note:
            paragraph = document.add_paragraph()
            paragraph.add_run("Analyst's note: ").bold = True
            paragraph.add_run(item.note)
    _notes(document, laid)
    if laid.sources:
        document.add_heading("Sources", level=1)
        for runs in laid.sources:
            _add_runs(document.add_paragraph(style="List Bullet"), runs)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _notes(document: docx.document.Document, laid: Layout) -> None:
    if not laid.notes:
        return
    document.add_heading("Notes", level=1)
    for number, runs, pid in laid.notes:
        paragraph = document.add_paragraph()
        _bookmark(paragraph, f"note{number}", number)
        paragraph.add_run(f"{number}. ")
        _add_runs(paragraph, runs)
        if pid:
            paragraph.add_run(" Passage ")
            code = paragraph.add_run(pid)
            code.font.name = "Courier New"
            code.font.size = Pt(9)
            paragraph.add_run(".")


def _add_runs(paragraph: Paragraph, runs: list[Run]) -> None:
    for run in runs:
        paragraph.add_run(run.text).italic = run.italic or None


def _note_marker(paragraph: Paragraph, number: int) -> None:
    """A superscript number linking to the note's bookmark (an internal hyperlink)."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("w:anchor"), f"note{number}")
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")
    align = OxmlElement("w:vertAlign")
    align.set(qn("w:val"), "superscript")
    props.append(align)
    run.append(props)
    text = OxmlElement("w:t")
    text.text = str(number)
    run.append(text)
    link.append(run)
    paragraph._p.append(link)


def _bookmark(paragraph: Paragraph, name: str, number: int) -> None:
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(number))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(number))
    paragraph._p.append(start)
    paragraph._p.append(end)
