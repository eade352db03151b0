"""The "Document details" section of the Documents & index tab, and the optional details of an upload.

Both write one entry of corpus/metadata.json through ingest/metadata_edit.py and then run
the page's one background rebuild (DocumentsTab.rebuild). References are built from these
details; passage ids are not, so they stay the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

from ..config import Settings
from ..errors import AssistantError
from ..ingest.metadata_edit import EDITABLE_FIELDS, clean_fields, read_entry, update_entry
from .events import PRIVATE
from .sections import Guard, LibrarySection
from .views import esc, shorten

FORM_FIELDS = (("title", "Title"), ("author", "Author"), ("publisher", "Publisher"), ("date", "Date"),
               ("type", "Type"), ("url", "URL"), ("notes", "Notes"))
"""The form's boxes, in order (metadata_edit refuses any field ingest/documents.py does not know)."""
UPLOAD_FIELDS = ("title", "author", "publisher", "date", "type")
assert {name for name, _ in FORM_FIELDS} <= EDITABLE_FIELDS and set(UPLOAD_FIELDS) <= EDITABLE_FIELDS
DATE_HINT = "YYYY, YYYY-MM or YYYY-MM-DD"
DETAILS_HINT = (
    "Saved to `metadata.json` in the corpus folder; an emptied box removes that detail. References in answers "
    "and briefings are built from these details. **Passage ids do not change**: a document keeps its version "
    "while its text is unchanged, so citations made before still resolve — only their references change.")


class DocumentDetails(LibrarySection):
    """Pick an indexed document, edit its metadata entry, save and rebuild."""

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{shorten(d.meta.title, 80)} — {d.path}", d.path) for d in self.assistant.summary().documents]

    def refresh(self, path: str | None) -> Any:
        """The document list for the index being served; the choice is kept while it is there."""
        choices = self.choices()
        return gr.Dropdown(choices=choices, value=path if path in {v for _l, v in choices} else None)

    def show(self, path: str | None) -> tuple[Any, ...]:
        """The chosen document's entry in the boxes; a box left unset shows what is used instead."""
        if not path:
            return (*(gr.Textbox(value="", placeholder="", interactive=False) for _ in FORM_FIELDS),
                    gr.Button(interactive=False), "")
        try:
            entry = read_entry(self.settings.corpus_dir, path)
        except (AssistantError, OSError) as exc:
            return (*(gr.skip() for _ in FORM_FIELDS), gr.Button(interactive=False), _error_html(str(exc)))
        indexed = next((d.meta for d in self.assistant.summary().documents if d.path == path), None)
        shown = {"title": indexed.title if indexed else "", "type": indexed.source_type if indexed else ""}
        boxes = []
        for name, _label in FORM_FIELDS:
            # What the index shows without an entry (a PDF's own title, "PDF document"), while there is none.
            used = "" if entry.get(name) else shown.get(name, "")
            placeholder = DATE_HINT if name == "date" else f"not set; shown as “{shorten(used, 80)}”" if used \
                else "not set"
            boxes.append(gr.Textbox(value=entry.get(name, ""), placeholder=placeholder, interactive=True))
        return (*boxes, gr.Button(interactive=True), "")

    def save(self, path: str | None, *values: str) -> Iterator[tuple[Any, ...]]:
        """Write the entry, then rebuild in the background as the Rebuild button does. Yields
        the status line, the rebuild's three outputs, then the document list and the boxes
        (filled again, as saved, once the new index is in)."""
        skip = tuple(gr.skip() for _ in range(4 + len(FORM_FIELDS)))
        if not path:
            yield _error_html("Choose a document first."), *skip
            return
        corpus = self.settings.corpus_dir
        try:
            before = read_entry(corpus, path)
            after = update_entry(corpus, path, dict(zip([n for n, _ in FORM_FIELDS], values, strict=True)))
        except (AssistantError, OSError) as exc:
            yield _error_html(f"Not saved: {exc}"), *skip
            return
        if after == before:
            yield '<div class="ca-ok">No changes to save.</div>', *skip
            return
        saving = f'<div class="ca-ok">Saved the details of {esc(path)}; rebuilding the index (progress above) …</div>'
        form = skip[3:]
        for update in self.rebuild([f"Details of {path} saved to metadata.json."]):
            yield saving, *update, *form
        try:
            rebuilt = path not in self.assistant.corpus_changes().changed
        except (AssistantError, OSError):
            rebuilt = False
        done = (f'<div class="ca-ok">Saved the details of {esc(path)}; the new index is answering questions, '
                "with references built from them.</div>") if rebuilt else \
            _error_html(f"Saved the details of {path}, but the index was not rebuilt with them: see the log above, "
                   "then Rebuild index.")
        yield done, *skip[:3], self.refresh(path), *self.show(path)[:len(FORM_FIELDS)]

    def build(self, outputs: Sequence[Any], options: dict[str, Any], guard: Guard) -> gr.Dropdown:
        """The editor (call inside the tab). outputs: the build log, index panel and scope that
        a rebuild updates; options: the rebuild's event options (its concurrency group); guard:
        wraps a callback that changes the library (access.editors_only)."""
        gr.Markdown("### Document details\nTitle, author, publisher, date … as references show them.")
        picker = gr.Dropdown(choices=self.choices(), value=None, label="Document", elem_id="details-doc")
        boxes = []
        with gr.Row():
            for name, label in FORM_FIELDS[:2]:
                boxes.append(_detail_box(name, label, "details", False, scale=3))
        with gr.Row():
            for name, label in FORM_FIELDS[2:6]:
                boxes.append(_detail_box(name, label, "details", False, scale=2 if name in {"publisher", "url"} else 1))
        boxes.append(_detail_box("notes", "Notes", "details", False, lines=2))
        with gr.Row():
            save = gr.Button("Save and rebuild", variant="primary", interactive=False, elem_id="details-save",
                             scale=0, min_width=240)
        status = gr.HTML("", elem_id="details-status")
        gr.Markdown(DETAILS_HINT, elem_id="details-hint")
        # On a choice by the user only: a refreshed list must not overwrite what is being typed.
        picker.input(self.show, [picker], [*boxes, save, status], api_visibility=PRIVATE, show_progress="hidden")
        save.click(guard(self.save), [picker, *boxes], [status, *outputs, picker, *boxes], **options)
        return picker


def upload_boxes() -> list[gr.Textbox]:
    """Optional details for a single uploaded file (call inside the tab)."""
    with gr.Accordion("Details of the document (optional; only when adding one file)", open=False,
                      elem_id="upload-details"), gr.Row():
        boxes = [_detail_box(name, label, "upload", True, scale=3 if name in {"title", "author"} else 1)
                 for name, label in FORM_FIELDS if name in UPLOAD_FIELDS]
    return boxes


def upload_details(values: Sequence[str]) -> dict[str, str]:
    """The details typed for an upload, checked before any file is written (CorpusError if bad)."""
    typed = dict(zip(UPLOAD_FIELDS, values, strict=False))  # none at all from a caller without the boxes
    return {k: v for k, v in clean_fields(typed).items() if v}


def apply_upload_details(settings: Settings, details: dict[str, str], given: int, saved: Sequence[str]) -> str:
    """Give the one added file its details; a line for the build log ("" when there were none)."""
    if not details:
        return ""
    if given != 1:
        return (f"details not applied: {given} files were added at once; set each document's details under "
                "Document details once the index is rebuilt")
    if not saved:
        return ""
    try:
        update_entry(settings.corpus_dir, saved[0], details)
    except (AssistantError, OSError) as exc:
        return f"details not saved: {exc}"
    return f"details of {saved[0]} saved to metadata.json: {', '.join(details)}"


def _detail_box(name: str, label: str, prefix: str, interactive: bool, **kwargs: Any) -> gr.Textbox:
    return gr.Textbox(label=label, max_lines=1 if name != "notes" else 6, max_length=2000,
                      placeholder=DATE_HINT if name == "date" else "", interactive=interactive,
                      elem_id=f"{prefix}-{name}", **kwargs)


def _error_html(message: str) -> str:
    return f'<div class="ca-error">{esc(message)}</div>'
