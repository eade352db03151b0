"""Pure: formatted references for citations, in two common styles, as plain text or Markdown.

    chicago   Chicago Manual of Style (17th ed.), notes and bibliography:
              note   Author, *Title* (Publisher, September 25, 2020), para. 19.
              source Author. *Title*. Publisher, September 25, 2020.
              (an undated web page: "…, accessed November 29, 2026, URL." from its retrieval day)
    apa       APA (7th ed.):
              note   (Author, 2020, para. 19)          the in-text citation
              source Author. (2020, September 25). *Title* [Declaration]. Publisher.

Unknown metadata is left out with its punctuation: no "None", no "n.d.", nothing invented.
References are built as Runs (text, italic) so that Markdown and .docx both set the
title in italics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from ..errors import BriefingError
from ..types import Citation, DocumentMeta, one_line

STYLES = ("chicago", "apa")
DEFAULT_STYLE = "chicago"
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


@dataclass(frozen=True)
class Run:
    """A piece of a reference; titles are italic."""

    text: str
    italic: bool = False


def source_of(citation: Citation) -> DocumentMeta:
    """The citation's metadata as a reference prints it: each field on one line, placeholders
    such as "none" or "unknown" left out, and the document id for a missing title."""
    source = DocumentMeta(**{name: _clean(value) for name, value in asdict(citation.meta).items()})
    return source if source.title else replace(source, title=citation.doc_id)


def _accessed(source: DocumentMeta) -> str:
    """Chicago's access date, for an undated online source: "accessed November 29, 2026"."""
    if source.date or not source.url or not source.retrieved:
        return ""
    day = _long_date(source.retrieved)
    return f"accessed {day}" if day else ""


def check_style(style: str) -> str:
    if style not in STYLES:
        raise BriefingError(f"unknown reference style {style!r}; choose one of {', '.join(STYLES)}")
    return style


def note_runs(citation: Citation, style: str = DEFAULT_STYLE, short: bool = False) -> list[Run]:
    """The note for one citation: the source and the place in it (page, paragraph).

    `short`: a later note on a source already cited (Chicago's shortened note: author,
    short title, place).
    """
    check_style(style)
    source = source_of(citation)
    place = locator(citation)
    if style == "apa":
        who = source.author or source.publisher
        rest = ", ".join(p for p in (_year(source.date), place) if p)
        rest = f", {rest})" if rest else ")"
        if who:
            return [Run(f"({who}{rest}")]
        return [Run("("), Run(source.title, italic=True), Run(rest)]  # no author: the title leads
    runs: list[Run] = []
    if source.author:
        runs.append(Run(f"{source.author}, "))
    if short:
        runs += [Run(short_title(source.title), italic=True), Run(f", {place}." if place else ".")]
        return _merge(runs)
    runs.append(Run(source.title, italic=True))
    published = ", ".join(p for p in (source.publisher, _long_date(source.date)) if p)
    if published:
        runs.append(Run(f" ({published})"))
    tail = ", ".join(p for p in (place, _accessed(source), source.url) if p)
    runs.append(Run(f", {tail}." if tail else "."))
    return _merge(runs)


def source_runs(source: DocumentMeta, style: str = DEFAULT_STYLE) -> list[Run]:
    """The entry for the list of sources at the end of a briefing."""
    check_style(style)
    runs: list[Run] = []
    if style == "apa":
        publisher = source.publisher if source.publisher != source.author else ""
        date = _long_date(source.date, apa=True)
        kind = f" [{source.source_type[:1].upper()}{source.source_type[1:]}]" if source.source_type else ""
        if source.author or publisher:
            runs.append(Run(_sentence(source.author or publisher)))
            publisher = "" if not source.author else publisher
            if date:
                runs.append(Run(f" ({date})."))
            runs += [Run(" "), Run(source.title, italic=True), Run(f"{kind}.")]
        else:
            runs += [Run(source.title, italic=True), Run(f"{kind}.")]
            if date:
                runs.append(Run(f" ({date})."))
        if publisher:
            runs.append(Run(f" {_sentence(publisher)}"))
        if source.url:
            runs.append(Run(f" {source.url}"))
        return _merge(runs)
    if source.author:
        runs.append(Run(_sentence(source.author) + " "))
    runs += [Run(source.title, italic=True), Run(".")]
    published = ", ".join(p for p in (source.publisher, _long_date(source.date)) if p)
    if published:
        runs.append(Run(f" {_sentence(published)}"))
    if accessed := _accessed(source):
        runs.append(Run(f" {_sentence(accessed[0].upper() + accessed[1:])}"))
    if source.url:
        runs.append(Run(f" {_sentence(source.url)}"))
    return _merge(runs)


_SHORT_TITLE_STOP = {"a", "an", "and", "the", "of", "on", "for", "in", "to", "with", "by", "at", "from", "—", "-", ":"}


def short_title(title: str, words: int = 5) -> str:
    """Chicago's short title: the first few words, not ending on "of the"."""
    kept = title.split()[:words]
    while len(kept) > 1 and kept[-1].lower().strip(",:;") in _SHORT_TITLE_STOP:
        kept.pop()
    return " ".join(kept).rstrip(",:;")


OCR_NOTE = "text recognised by OCR"


def locator_parts(citation: Citation) -> list[str]:
    """"p. 4", "para. 2", and "text recognised by OCR" for a page read by OCR (a recognition
    error is quoted as read); the parts that are known, in that order."""
    parts = []
    if citation.page is not None:
        parts.append(f"p. {citation.page}")
    if citation.paragraph is not None:
        parts.append(f"para. {citation.paragraph}")
    if citation.ocr:
        parts.append(OCR_NOTE)
    return parts


def locator(citation: Citation) -> str:
    """"p. 4, para. 2" or "para. 19"; empty when neither is known."""
    return ", ".join(locator_parts(citation))


def plain(runs: Sequence[Run]) -> str:
    return "".join(r.text for r in runs)


def markdown(runs: Sequence[Run]) -> str:
    return "".join(f"*{md_escape(r.text)}*" if r.italic and r.text else md_escape(r.text) for r in runs)


def reference(citation: Citation, style: str = DEFAULT_STYLE, markup: str = "plain") -> str:
    """The note followed by the passage id, ready to paste after a quote."""
    runs = note_runs(citation, style)
    if markup == "markdown":
        # The id as code: nothing in it is taken for markup, and it copies as it is.
        return markdown(runs) + (f" [`{citation.passage_id}`]" if citation.passage_id else "")
    return plain(runs) + (f" [{citation.passage_id}]" if citation.passage_id else "")


def answer_parts(citation: Citation) -> tuple[str, str, str]:
    """The excerpt on one line as (before, answer, after): the words the reader marked as the
    answer, and the text either side ("" and the whole excerpt before it when none is marked)."""
    span = citation.answer
    if span is None:
        return one_line(citation.excerpt), "", ""
    a, b = span.start - citation.start, span.end - citation.start
    before, marked, after = (re.sub(r"\s+", " ", part) for part in
                             (citation.excerpt[:a], citation.excerpt[a:b], citation.excerpt[b:]))
    return before.lstrip(), marked, after.rstrip()


def quoted(citation: Citation, style: str = DEFAULT_STYLE, markup: str = "plain") -> str:
    """“The excerpt” — its reference: one citation, ready to paste into a briefing."""
    excerpt = one_line(citation.excerpt)
    if markup == "markdown":
        excerpt = md_escape(excerpt)
    return f"“{excerpt}” — {reference(citation, style, markup)}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def md_escape(text: str) -> str:
    """Markdown shows the text as it is: every character that could be markup is escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_unescape(text: str) -> str:
    """The text md_escape was given, from Markdown it wrote: escapes undone, and the bold markers
    around a marked answer (`**`, which md_escape never leaves in text) dropped."""
    return re.sub(r"\\([\\`*_{}\[\]<>#|~])|\*\*", lambda m: m.group(1) or "", text)


def _clean(value: str) -> str:
    value = one_line(value or "")
    return "" if value.lower() in {"none", "null", "n/a", "unknown"} else value


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _parts(date: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", date)
    if not match:
        return None
    year, month, day = (int(g) if g else 0 for g in match.groups())
    if month > 12 or day > 31:
        return None
    return year, month, day


def _year(date: str) -> str:
    parts = _parts(date)
    return str(parts[0]) if parts else date


def _long_date(date: str, apa: bool = False) -> str:
    """2020-09-25 -> September 25, 2020 (APA: 2020, September 25); other spellings are kept."""
    parts = _parts(date)
    if not parts:
        return date
    year, month, day = parts
    if not month:
        return str(year)
    if apa:
        return f"{year}, {_MONTHS[month - 1]}" + (f" {day}" if day else "")
    return f"{_MONTHS[month - 1]} {day}, {year}" if day else f"{_MONTHS[month - 1]} {year}"


def _merge(runs: list[Run]) -> list[Run]:
    out: list[Run] = []
    for run in runs:
        if out and out[-1].italic == run.italic:
            out[-1] = Run(out[-1].text + run.text, run.italic)
        elif run.text:
            out.append(run)
    return out
