"""Pure: answers, citations, passages and the index -> HTML for the web chat, all text escaped.

Nothing from a document or a user reaches the page unescaped: every piece of text goes
through `esc()`, and the chat shows these strings as HTML, not markdown, so markdown
images and links in a document stay plain characters.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ..briefing.references import answer_parts, locator_parts
from ..indexing.corpus_status import CorpusChanges
from ..pageview.links import source_link
from ..types import Answer, Citation, Document, IndexSummary, one_line

CONTEXT_BEFORE = 400
CONTEXT_AFTER = 900
"""Characters of the document shown before and after an excerpt in the passage panel
(fewer before, so that the highlighted excerpt is in view when the panel opens)."""
CARD_EXCERPT_CHARS = 320
"""Longest excerpt shown whole on a citation card (the panel always shows all of it)."""
ADD = ('<span class="ca-add" tabindex="0" role="button" title="Add to the briefing (Briefing tab)">'
       '+ {label}</span>')
"""The "Add to briefing" pill; the chat's click listener (briefing_tab.LISTEN_JS) tells it
from a click elsewhere on the message."""


def esc(text: str) -> str:
    """Text made safe to place inside HTML elements and attribute values."""
    return html.escape(text, quote=True)


def shorten(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def where(citation: Citation) -> str:
    """Author · publisher · date · page · paragraph (· read by OCR), unknown parts left out."""
    meta = citation.meta
    parts = [p for p in (meta.author, meta.publisher, meta.date) if p]
    return " · ".join(parts + locator_parts(citation))


def render_question(question: str) -> str:
    return f'<div class="ca-question">{esc(question)}</div>'


def render_answer(answer: Answer, scope_titles: Sequence[str] = ()) -> str:
    """The answer bubble: what was searched, then the quoted sentences with [n] markers."""
    searched = answer.searched or answer.question
    note = "" if one_line(searched) == one_line(answer.question) else " (with the conversation so far)"
    scope = f" · only in: {esc('; '.join(scope_titles))}" if scope_titles else ""
    head = f'<div class="ca-searched">Searched: “{esc(searched)}”{note}{scope}</div>'
    if answer.abstained:
        closest = ('<div class="ca-closest-label">Closest passages below — shown as such, '
                   'not as an answer.</div>') if answer.closest else ""
        add = ADD.format(label="Add to briefing as not covered")
        return f'{head}<div class="ca-abstain">{esc(answer.text)}</div>{closest}<div class="ca-add-row">{add}</div>'
    quotes = "".join(f'<p class="ca-quote">“{quote_html(c)}” '
                     f'<span class="ca-marker">[{c.n}]</span></p>' for c in answer.citations)
    add = ADD.format(label="Add answer to briefing")
    return f'{head}{short_answer_html(answer)}<div class="ca-answer">{quotes}</div><div class="ca-add-row">{add}</div>'


SHORT_ANSWER_WORDS = 12
"""A marked answer this short is also shown on its own line above the quotes."""


def quote_html(citation: Citation) -> str:
    """The excerpt on one line, the answer the reader marked in it (if any) highlighted."""
    before, marked, after = answer_parts(citation)
    if not marked:
        return esc(before)
    return f'{esc(before)}<mark class="ca-answer-mark">{esc(marked)}</mark>{esc(after)}'


def short_answer_html(answer: Answer) -> str:
    """A factoid question's answer, first and on one line: the first quote's marked words."""
    span = answer.citations[0].answer if answer.citations else None
    if span is None or len(span.text.split()) > SHORT_ANSWER_WORDS:
        return ""
    return (f'<div class="ca-short-answer">{esc(one_line(span.text))} '
            f'<span class="ca-marker">[{answer.citations[0].n}]</span></div>')


def render_card(citation: Citation, closest: bool) -> str:
    """One citation under an answer; clicking it opens the passage panel."""
    label = (f'<span class="ca-closest-tag">closest {citation.n}, not an answer</span>' if closest
             else f'<span class="ca-marker">[{citation.n}]</span>')
    meta = where(citation)
    return (f'<div class="ca-card{" ca-card-closest" if closest else ""}" tabindex="0" role="button">'
            f'<div class="ca-card-title">{label}<span class="ca-card-name">{esc(citation.meta.title)}</span>'
            '<span class="ca-card-open">open in context ›</span>'
            + ("" if closest else ADD.format(label="Add to briefing")) + "</div>"
            + (f'<div class="ca-card-meta">{esc(meta)}</div>' if meta else "")
            + f'<div class="ca-card-excerpt">“{esc(shorten(citation.excerpt, CARD_EXCERPT_CHARS))}”</div></div>')


@dataclass(frozen=True)
class Passage:
    """An excerpt inside its document: text before, the excerpt, text after."""

    before: str
    excerpt: str
    after: str
    start: int
    end: int


def locate(citation: Citation, document: Document | None) -> Passage | None:
    """The cited excerpt inside the document, by its offsets, or found again by its text
    when the document was rebuilt since the answer; None when it is no longer there."""
    if document is None:
        return None
    text = document.text
    start, end = citation.start, citation.end
    if not (0 <= start < end <= len(text) and one_line(text[start:end]) == one_line(citation.excerpt)):
        start = text.find(citation.excerpt)
        if start < 0:
            return None
        end = start + len(citation.excerpt)
    return in_context(text, start, end, CONTEXT_BEFORE, CONTEXT_AFTER)


def in_context(text: str, start: int, end: int, before: int = CONTEXT_BEFORE,
               after: int = CONTEXT_AFTER) -> Passage:
    """text[start:end] with up to `before` and `after` characters around it, cut at a line
    break where there is one in reach, else at a space."""
    lo = max(0, start - before)
    if lo > 0:
        cut = text.find("\n", lo, start)
        if cut < 0:
            cut = text.find(" ", lo, start)
        lo = cut + 1 if cut >= 0 else lo
    hi = min(len(text), end + after)
    if hi < len(text):
        cut = text.rfind("\n", end, hi)
        if cut < 0:
            cut = text.rfind(" ", end, hi)
        hi = cut if cut > end else hi
    return Passage(text[lo:start], text[start:end], text[end:hi], start, end)


def render_passage(citation: Citation, passage: Passage | None, closest: bool) -> str:
    """The side panel: the passage around the excerpt, the excerpt highlighted."""
    label = "Closest passage — not an answer" if closest else f"Citation [{citation.n}] in context"
    meta = where(citation)
    head = (f'<div class="ca-panel-label">{esc(label)}</div>'
            f'<div class="ca-panel-title">{esc(citation.meta.title)}</div>'
            + (f'<div class="ca-card-meta">{esc(meta)}</div>' if meta else ""))
    if passage is None:
        return (head + '<div class="ca-warning">This passage is no longer in the index (the document was '
                'changed or removed by a rebuild). The excerpt as it was cited:</div>'
                f'<div class="ca-context"><mark>{esc(citation.excerpt)}</mark></div>')
    before = ("… " if passage.start - len(passage.before) > 0 else "") + passage.before
    after = passage.after + (" …" if passage.after and not passage.after.endswith("\n") else "")
    source = f"{citation.path} · characters {passage.start}–{passage.end}" if citation.path else ""
    link = source_link(citation)
    return (head + f'<div class="ca-context">{esc(before)}<mark>{esc(passage.excerpt)}</mark>{esc(after)}</div>'
            + (f'<div class="ca-source">{esc(source)}</div>' if source else "")
            + (f'<a class="ca-source-link" href="{esc(link)}" target="_blank" rel="noopener noreferrer">'
               "Open the web page at the quote ↗</a>" if link else ""))


def render_index(summary: IndexSummary, changes: CorpusChanges | None, change_error: str = "") -> str:
    """The index panel: when it was built, a warning when the corpus changed, the documents."""
    built = summary.built_at.replace("T", " ").replace("+00:00", " UTC")
    lines = [f'<div class="ca-index-head">{len(summary.documents)} documents, {summary.chunks} chunks · '
             f'built {esc(built)} in {summary.build_seconds:.1f} s · version {esc(summary.version)}</div>']
    if change_error:
        lines.append(f'<div class="ca-warning">Cannot check the corpus folder: {esc(change_error)}</div>')
    elif changes:
        lines.append(f'<div class="ca-warning">The corpus folder has changed since this build: '
                     f'{esc(changes.describe())}. Rebuild the index to include the changes.</div>')
    else:
        lines.append('<div class="ca-ok">The index is up to date with the corpus folder.</div>')
    rows = "".join(
        f"<tr><td>{esc(d.meta.title)}</td><td>{esc(d.path)}</td><td>{esc(d.meta.author)}</td>"
        f"<td>{esc(d.meta.publisher)}</td><td>{esc(d.meta.date)}</td><td>{esc(d.meta.source_type or d.kind)}</td>"
        f'<td class="ca-num">{d.chunks}</td></tr>' for d in summary.documents)
    lines.append('<table class="ca-docs"><thead><tr><th>Title</th><th>File</th><th>Author</th><th>Publisher</th>'
                 f'<th>Date</th><th>Type</th><th>Chunks</th></tr></thead><tbody>{rows}</tbody></table>')
    if summary.failed:
        lines.append(render_failures([(f.path, f.reason) for f in summary.failed], "Not indexed"))
    return "".join(lines)


def render_failures(failures: Sequence[tuple[str, str]], label: str) -> str:
    items = "".join(f"<li><b>{esc(path)}</b>: {esc(reason)}</li>" for path, reason in failures)
    return f'<div class="ca-failures"><div>{esc(label)}:</div><ul>{items}</ul></div>'


def render_log(lines: Sequence[str]) -> str:
    """Build progress and results, one line each."""
    return '<div class="ca-log">' + "".join(f"<div>{esc(line)}</div>" for line in lines) + "</div>"
