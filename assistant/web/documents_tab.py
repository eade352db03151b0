"""The Documents & index tab: what the index holds, and for editors the rebuild, uploads,
pages added by URL, document details and removal.

Every change to the library ends in the page's one background rebuild (`rebuild`): the
build runs in a thread while the chat keeps answering from the index being served, and
the new index is swapped in once it is written. The editing callbacks are wrapped with
access.editors_only, so they run for editors only whichever way they are reached.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import Settings
from ..errors import AssistantError
from ..ingest.fetch import fetch
from ..ingest.uploads import MAX_UPLOAD_BYTES, save_page, save_upload
from ..pipeline import Assistant, build_index
from ..render import render_report
from ..types import BuildReport
from .access import READ_ONLY_NOTE, Access, editors_only
from .chat_tab import scope_choices
from .details_section import DocumentDetails, apply_upload_details, upload_boxes, upload_details
from .events import BUILD_EVENTS, PRIVATE, QUIET
from .removal_section import DocumentRemoval
from .views import render_failures, render_index, render_log

STATUS_REFRESH_SECONDS = 20.0
"""How often an open page re-checks the corpus folder against the index."""
UPLOAD_TYPES = [".pdf", ".docx", ".txt", ".md", ".html", ".htm"]
MAX_FILES_PER_REQUEST = 20
"""Files added at once; more are refused by name (one rebuild's worth of reading)."""
MAX_URLS_PER_REQUEST = 5
"""Addresses fetched at once: each may take up to fetch.TIMEOUT_S while the build queue waits."""


def failures_panel(report: BuildReport | None) -> str:
    """The files a build could not index, with why ("" when there were none)."""
    if report is None or not report.failed:
        return ""
    return render_failures([(f.path, f.reason) for f in report.failed], "Files that could not be indexed")


class DocumentsTab:
    """The tab's callbacks over one Assistant; `access` says who may change the library."""

    def __init__(self, settings: Settings, assistant: Assistant, access: Access) -> None:
        self.settings = settings
        self.assistant = assistant
        self.access = access
        self.details = DocumentDetails(settings, assistant, self.rebuild)
        self.removal = DocumentRemoval(settings, assistant, self.rebuild)

    def index_view(self) -> str:
        """The index panel: its documents and how the corpus folder differs from it."""
        try:
            changes, error = self.assistant.corpus_changes(), ""
        except (AssistantError, OSError) as exc:
            changes, error = None, str(exc)
        return render_index(self.assistant.summary(), changes, error)

    def refresh_pickers(self, path: str | None) -> tuple[Any, ...]:
        """The document lists of the details editor (keeping its choice) and of removal."""
        return self.details.refresh(path), self.removal.refresh()

    def editing_view(self, request: gr.Request) -> tuple[Any, ...]:
        """The editing controls for an editor, the read-only note for anyone else."""
        editor = self.access.may_edit(request.username)
        return gr.Column(visible=editor), gr.Markdown(visible=not editor)

    def rebuild(self, lines: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
        """Incremental rebuild in the background, with progress; the chat keeps answering from
        the old index until the new one is loaded and swapped in. Yields the build log, the
        index panel and the chat's scope."""
        lines = list(lines or [])
        lines.append("Rebuilding the index; the chat keeps answering from the current one …")
        yield render_log(lines), gr.skip(), gr.skip()
        progress: queue.Queue[str] = queue.Queue()
        outcome: dict[str, Any] = {}

        def build_in_thread() -> None:
            try:
                outcome["report"] = build_index(self.settings, progress=progress.put)
            except AssistantError as exc:
                outcome["error"] = str(exc)

        started = time.monotonic()
        worker = threading.Thread(target=build_in_thread, name="rebuild", daemon=True)
        worker.start()
        while worker.is_alive() or not progress.empty():
            with contextlib.suppress(queue.Empty):
                lines.append(progress.get(timeout=1.0))
            yield render_log([*lines, f"… {time.monotonic() - started:.0f} s"]), gr.skip(), gr.skip()
        if "error" in outcome:
            lines.append(f"error: {outcome['error']}")
            yield render_log(lines), self.index_view(), gr.skip()
            return
        report: BuildReport = outcome["report"]
        lines += render_report(report).splitlines()
        lines.append("Loading the new index …")
        yield render_log(lines) + failures_panel(report), gr.skip(), gr.skip()
        self.assistant.reload_if_changed()
        lines.append(f"Done in {time.monotonic() - started:.1f} s: the new index is answering questions.")
        # The scope starts afresh: a chosen document may be gone from the new index.
        yield render_log(lines) + failures_panel(report), self.index_view(), \
            gr.Dropdown(choices=scope_choices(self.assistant), value=None, multiselect=True)

    def upload(self, files: Sequence[str] | None, *details: str) -> Iterator[tuple[Any, ...]]:
        """Check and add the uploaded files to the corpus folder (with the details typed for a
        single file), then rebuild."""
        lines: list[str] = []
        unchanged_boxes = tuple(gr.skip() for _ in details)
        try:
            typed = upload_details(details)  # checked before any file is written
        except AssistantError as exc:
            yield render_log([f"refused: the details: {exc}"]), gr.skip(), gr.skip(), gr.skip(), *unchanged_boxes
            return
        saved: list[str] = []
        files = list(files or [])
        for path in files[MAX_FILES_PER_REQUEST:]:
            lines.append(f"refused: {Path(path).name}: at most {MAX_FILES_PER_REQUEST} files at once; add it next time")
        for path in files[:MAX_FILES_PER_REQUEST]:
            name = Path(path).name
            try:
                result = save_upload(self.settings.corpus_dir, name, Path(path).read_bytes())
            except AssistantError as exc:
                lines.append(f"refused: {exc}")
                continue
            except OSError as exc:
                lines.append(f"refused: {name}: cannot read the upload ({exc.strerror})")
                continue
            lines.append(result.message)
            saved += [result.saved_as] if result.saved_as else []
        if not files:
            lines.append("Choose one or more files first.")
        if note := apply_upload_details(self.settings, typed, len(files), saved):
            lines.append(note)
        if not saved:
            yield render_log(lines), gr.skip(), gr.skip(), gr.skip(), *unchanged_boxes
            return
        for update in self.rebuild(lines):
            yield (*update, None, *("" for _ in details))  # the added files and their details leave the form

    def add_urls(self, text: str) -> Iterator[tuple[Any, ...]]:
        """Fetch the pages at the addresses typed (one per line) into the corpus, then rebuild."""
        urls = [line.strip() for line in (text or "").splitlines() if line.strip()]
        lines: list[str] = [] if urls else ["Type a web address (http:// or https://) first."]
        lines += [f"refused: {url}: at most {MAX_URLS_PER_REQUEST} addresses at once; add it next time"
                  for url in urls[MAX_URLS_PER_REQUEST:]]
        fetcher = partial(fetch, allow_private=self.settings.allow_private_urls)
        changed = False
        for url in urls[:MAX_URLS_PER_REQUEST]:
            try:
                result = save_page(self.settings.corpus_dir, url, fetcher)
            except AssistantError as exc:
                lines.append(f"refused: {exc}")
                continue
            lines.append(result.message)
            changed = changed or bool(result.saved_as)
        if not changed:
            yield render_log(lines), gr.skip(), gr.skip(), gr.skip()
            return
        for update in self.rebuild(lines):
            yield (*update, "")  # the addresses leave the box once added

    def build(self, demo: gr.Blocks, scope: gr.Dropdown) -> gr.HTML:
        """The tab's content (call inside the gr.Tab); `scope` is the chat's document choice,
        which a rebuild renews. Returns the index panel."""
        guard = partial(editors_only, self.access)
        index_html = gr.HTML(self.index_view(), elem_id="index-status")
        check = gr.Button("Check the corpus folder again", elem_id="check", size="sm")
        # Shown to editors only (editing_view, on load); the callbacks check it again.
        read_only = gr.Markdown(READ_ONLY_NOTE, elem_id="read-only", visible=False)
        with gr.Column(visible=False, elem_id="editing") as editing:
            rebuild = gr.Button("Rebuild index", variant="primary", elem_id="rebuild")
            build_log = gr.HTML("", elem_id="build-log")
            rebuilt = [build_log, index_html, scope]
            picker = self.details.build(rebuilt, BUILD_EVENTS, guard)
            removable = self.removal.build(rebuilt, BUILD_EVENTS, guard)
            gr.Markdown("### Add by URL\nA web page's main text (no menus, ads or footers) "
                        "with its title, author, publisher and date as the page states them. "
                        "Adding an address again updates that document.")
            with gr.Row():
                url_box = gr.Textbox(label="Web address(es), one per line", lines=1, max_lines=6,
                                     placeholder="https://", elem_id="add-url", scale=4)
                add_url = gr.Button("Add page and rebuild", elem_id="add-url-button", scale=1)
            gr.Markdown(f"### Add documents\n`.pdf`, `.docx`, `.txt`, `.md` or `.html`, at most "
                        f"{MAX_UPLOAD_BYTES // 2**20} MB each. The type is checked by content; an "
                        "existing file is never overwritten. The index is rebuilt afterwards.")
            files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, type="filepath",
                            label="Documents to add", elem_id="upload")
            details = upload_boxes()
            add = gr.Button("Add to corpus and rebuild", elem_id="add-documents")

        pickers = [picker, removable]
        rebuild.click(guard(self.rebuild), None, rebuilt, **BUILD_EVENTS) \
            .then(self.refresh_pickers, [picker], pickers, **QUIET)
        add.click(guard(self.upload), [files, *details], [*rebuilt, files, *details], **BUILD_EVENTS) \
            .then(self.refresh_pickers, [picker], pickers, **QUIET)
        add_url.click(guard(self.add_urls), [url_box], [*rebuilt, url_box], **BUILD_EVENTS) \
            .then(self.refresh_pickers, [picker], pickers, **QUIET)
        check.click(self.index_view, None, [index_html], api_visibility=PRIVATE)
        gr.Timer(STATUS_REFRESH_SECONDS).tick(self.index_view, None, [index_html], **QUIET)
        demo.load(self.refresh_pickers, [picker], pickers, **QUIET)
        demo.load(self.editing_view, None, [editing, read_only], **QUIET)
        return index_html
