"""The web chat's Briefing tab: collect answers and citations per browser session, order
them, add notes, export Markdown and .docx (briefing/layout.py and briefing/docx_export.py do the work).

The briefing lives in a gr.State (one per browser session, never shared). The list of
items is a gr.render over that state: each item has its own note box and buttons. It is
rendered when the tab is opened and when items move or go (a layout counter), never
while a note is typed, so typing is not interrupted. (Gradio does not show a render made
while its tab is hidden, so adding from the chat only changes the state and the tab's
label.) A note is saved when its box loses focus, which happens before any click
elsewhere (Export included) is sent; every change runs in one concurrency group, so the
save and the click after it are handled in that order.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from ..briefing.docx_export import to_docx
from ..briefing.layout import (
    NOT_COVERED,
    Briefing,
    BriefingItem,
    LaidOutItem,
    item_from_answer,
    layout,
    stale_notices,
    to_markdown,
    verified,
)
from ..briefing.references import DEFAULT_STYLE, STYLES, Run
from ..types import Answer, Citation, Document, one_line
from .events import BRIEFING_EVENTS, PRIVATE, QUIET
from .views import esc, quote_html

EXPORT_MAX_AGE_SECONDS = 3600
"""Export folders are removed after this long (Gradio has copied the files to its cache)."""
NOTE_MAX_CHARS = 4000
STYLE_CHOICES = [("Chicago", "chicago"), ("APA", "apa")]
assert [v for _label, v in STYLE_CHOICES] == list(STYLES)

@dataclass(frozen=True)
class SessionBriefing:
    """One browser session's briefing, with a stable key per item (for the page's
    components) and a layout counter that changes when items come, go or move (the
    list is rendered again when it does)."""

    briefing: Briefing = dataclasses.field(default_factory=Briefing)
    keys: tuple[int, ...] = ()
    next_key: int = 0
    layout: int = 0

    def add(self, item: BriefingItem) -> SessionBriefing:
        return SessionBriefing(dataclasses.replace(self.briefing, items=(*self.briefing.items, item)),
                         (*self.keys, self.next_key), self.next_key + 1, self.layout + 1)

    def move(self, key: int, step: int) -> SessionBriefing:
        if key not in self.keys:
            return self
        i = self.keys.index(key)
        j = max(0, min(len(self.keys) - 1, i + step))
        items, keys = list(self.briefing.items), list(self.keys)
        items.insert(j, items.pop(i))
        keys.insert(j, keys.pop(i))
        return self._replaced(items, keys, self.layout + (i != j))

    def remove(self, key: int) -> SessionBriefing:
        if key not in self.keys:
            return self
        i = self.keys.index(key)
        items, keys = list(self.briefing.items), list(self.keys)
        del items[i], keys[i]
        return self._replaced(items, keys, self.layout + 1)

    def with_note(self, key: int, note: str) -> SessionBriefing:
        if key not in self.keys:
            return self
        i = self.keys.index(key)
        items = list(self.briefing.items)
        items[i] = dataclasses.replace(items[i], note=(note or "").strip()[:NOTE_MAX_CHARS])
        return self._replaced(items, list(self.keys), self.layout)

    def _replaced(self, items: Sequence[BriefingItem], keys: Sequence[int], layout: int) -> SessionBriefing:
        briefing = dataclasses.replace(self.briefing, items=tuple(items))
        return SessionBriefing(briefing, tuple(keys), self.next_key, layout)


def item_to_add(answer: Answer | None, card: tuple[Citation, bool] | None) -> BriefingItem | None:
    """What an "Add to briefing" click adds: the whole answer (an abstention as "not
    covered"), or a card's one citation; a closest passage never becomes a quote."""
    if answer is None:
        return None
    if card is None:
        return item_from_answer(answer)
    citation, closest = card
    return None if closest else item_from_answer(answer, [citation.n])


def tab_label(collected: SessionBriefing) -> str:
    n = len(collected.briefing.items)
    return f"Briefing ({n})" if n else "Briefing"


def added_message(collected: SessionBriefing) -> str:
    n = len(collected.briefing.items)
    return f"Added to briefing ({n} item{'s' if n != 1 else ''})."


def safe_name(title: str) -> str:
    """A file name from a title: ASCII letters, digits and single dashes, at most 60."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c))
    name = re.sub(r"[^A-Za-z0-9]+", "-", bare).strip("-")[:60].strip("-")  # accents go, é -> e
    return name or "briefing"


def render_runs(runs: Sequence[Run]) -> str:
    return "".join(f"<i>{esc(r.text)}</i>" if r.italic else esc(r.text) for r in runs)


def render_item(position: int, item: LaidOutItem, notes: dict[int, tuple[list[Run], str]]) -> str:
    """One item as the export will show it: question, quotes with their note numbers and
    references (in the chosen style), or "Not covered"; every piece of text escaped."""
    head = (f'<div class="ca-item-head"><span class="ca-item-num">{position}.</span>'
            f'<span>{esc(item.question or "Note")}</span></div>')
    body = []
    if item.abstained and not item.quotes:
        body.append(f'<div class="ca-item-abstain">{esc(NOT_COVERED)}</div>')
    for quote in item.quotes:
        runs, pid = notes[quote.note_number]
        body.append(f'<div class="ca-item-quote">“{quote_html(quote.citation)}” '
                    f'<sup class="ca-marker">{quote.note_number}</sup></div>'
                    f'<div class="ca-item-ref">{quote.note_number}. {render_runs(runs)}'
                    + (f" <code>{esc(pid)}</code>" if pid else "") + "</div>")
    return head + "".join(body)


def render_problems(problems: Sequence[str], exported: bool) -> str:
    lines = "".join(f"<li>{esc(p)}</li>" for p in problems)
    if problems:
        return ('<div class="ca-warning">Some quotes could not be checked against their sources and '
                f"were left out of the export:<ul>{lines}</ul></div>")
    if exported:
        return ('<div class="ca-ok">Exported. Every quote was checked, verbatim, against its source. '
                "Download each file with its ⇣ link below.</div>")
    return ""


def render_notices(notices: Sequence[str]) -> str:
    """Quotes kept from an earlier version of their document (see briefing.stale_notices)."""
    if not notices:
        return ""
    lines = "".join(f"<li>{esc(n)}</li>" for n in notices)
    return f'<div class="ca-warning">Exported, but note:<ul>{lines}</ul></div>'


class BriefingTab:
    """The tab's callbacks; `source` gives the document version a citation was made from."""

    def __init__(self, source: Callable[[Citation], Document | None],
                 is_current: Callable[[Citation], bool] | None = None) -> None:
        self.source = source
        self.is_current = is_current
        self._exports: Path | None = None

    def add(self, collected: SessionBriefing, item: BriefingItem) -> tuple[SessionBriefing, Any]:
        """Add an item from the chat; feedback as a toast and in the tab's label."""
        collected = collected.add(item)
        gr.Info(added_message(collected), duration=4, title="Briefing")
        return collected, gr.Tab(label=tab_label(collected))

    def move(self, key: int, step: int, collected: SessionBriefing) -> tuple[SessionBriefing, int, Any]:
        collected = collected.move(key, step)
        return collected, collected.layout, gr.skip()

    def remove(self, key: int, collected: SessionBriefing) -> tuple[SessionBriefing, int, Any]:
        collected = collected.remove(key)
        return collected, collected.layout, gr.Tab(label=tab_label(collected))

    def save_note(self, key: int, note: str, collected: SessionBriefing) -> tuple[SessionBriefing, str]:
        """Keep the note; the line under the box says it is kept (or that it was cleared)."""
        saved = collected.with_note(key, note)
        return saved, ('<div class="ca-note-saved">Note saved.</div>' if note.strip()
                       else '<div class="ca-note-saved">No note.</div>')

    def export(self, collected: SessionBriefing, title: str, style: str) -> tuple[Any, str]:
        """Check every quote against its source, then write .md and .docx to a new folder."""
        briefing = Briefing(one_line(title or "") or "Briefing", collected.briefing.items)
        checked, problems = verified(briefing, self.source)
        notices = stale_notices(checked, self.is_current) if self.is_current else []
        if not checked.items:
            return gr.File(None, visible=False), render_problems(problems, False) + (
                '<div class="ca-warning">Nothing to export yet: add answers or citations from the '
                "Chat tab.</div>")
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=self._export_root()))
        name = safe_name(checked.title)
        markdown, word = folder / f"{name}.md", folder / f"{name}.docx"
        markdown.write_text(to_markdown(checked, style), encoding="utf-8")
        word.write_bytes(to_docx(checked, style))
        return gr.File([str(markdown), str(word)], visible=True), render_problems(problems, True) + \
            render_notices(notices)

    def _export_root(self) -> Path:
        """This server's folder of exports; folders older than an hour are removed."""
        if self._exports is None or not self._exports.is_dir():
            self._exports = Path(tempfile.mkdtemp(prefix="assistant-briefings-"))
        cutoff = time.time() - EXPORT_MAX_AGE_SECONDS
        for old in self._exports.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return self._exports

    # -- layout ----------------------------------------------------------------------------

    def build(self, collected: gr.State, tab: gr.Tab) -> gr.Radio:
        """The tab's content (call inside the gr.Tab); returns the style selector."""
        layout_count = gr.State(0)
        with gr.Row(equal_height=True):
            title = gr.Textbox("Briefing", label="Title", scale=4, max_length=200, elem_id="briefing-title")
            style = gr.Radio(STYLE_CHOICES, value=DEFAULT_STYLE, label="Reference style", scale=2,
                             elem_id="briefing-style")

        @gr.render(inputs=[collected, style], triggers=[layout_count.change, style.change, tab.select],
                   show_progress="hidden", **BRIEFING_EVENTS)
        def items(state: SessionBriefing, chosen: str) -> None:
            if not state.briefing.items:
                gr.HTML('<div class="ca-briefing-empty">Nothing collected yet. In the Chat, click '
                        "<b>+ Add answer to briefing</b> under an answer, or <b>+ Add to briefing</b> on a "
                        "citation.</div>")
                return
            laid = layout(state.briefing, chosen)
            notes = {number: (runs, pid) for number, runs, pid in laid.notes}
            last = len(state.keys) - 1
            for position, (key, item, shown) in enumerate(zip(state.keys, state.briefing.items, laid.items,
                                                              strict=True)):
                with gr.Group(key=f"item-{key}", elem_classes="ca-item"), gr.Row():
                    with gr.Column(scale=6):
                        gr.HTML(render_item(position + 1, shown, notes))
                        note = gr.Textbox(item.note, key=f"note-{key}", label="Your note (saved with this item)",
                                          placeholder="Your own note on this item …", lines=2,
                                          max_length=NOTE_MAX_CHARS, elem_classes="ca-item-note")
                        saved = gr.HTML("", key=f"saved-{key}", elem_classes="ca-note-status")
                    with gr.Column(scale=1, elem_classes="ca-item-buttons"):
                        up = gr.Button("↑ Move up", size="sm", interactive=position > 0,
                                       key=f"up-{key}", elem_classes="ca-item-up")
                        down = gr.Button("↓ Move down", size="sm", interactive=position < last,
                                         key=f"down-{key}", elem_classes="ca-item-down")
                        remove = gr.Button("Remove", size="sm", variant="stop", key=f"remove-{key}",
                                           elem_classes="ca-item-remove")
                options: dict[str, Any] = {**QUIET, **BRIEFING_EVENTS}
                note.blur(partial(self.save_note, key), [note, collected], [collected, saved], **options)
                changed = [collected, layout_count, tab]
                up.click(partial(self.move, key, -1), [collected], changed, **options)
                down.click(partial(self.move, key, 1), [collected], changed, **options)
                remove.click(partial(self.remove, key), [collected], changed, **options)

        with gr.Row():
            export = gr.Button("Export Markdown (.md) and Word (.docx)", variant="primary", elem_id="export",
                               scale=0, min_width=380)
        report = gr.HTML("", elem_id="export-report")
        files = gr.File(label="Exports (⇣ downloads)", file_count="multiple", interactive=False,
                        visible=False, elem_id="exports", height=140)
        export.click(self.export, [collected, title, style], [files, report], api_visibility=PRIVATE,
                     **BRIEFING_EVENTS)
        del items  # registered by the decorator
        return style
