"""The "Remove a document" section of the Documents & index tab.

An indexed document, or a file that failed to index, is taken out of the corpus (kept in
corpus/.removed/, see ingest/removal.py), then the page's one background rebuild runs
(DocumentsTab.rebuild). Editors only: the caller wraps `remove` with access.editors_only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

from ..errors import AssistantError
from ..ingest.removal import remove_document
from .sections import Guard, LibrarySection
from .views import esc, shorten

CONFIRM_JS = """(path) => (path && confirm(`Remove ${path} from the library? It is kept in the corpus folder's
.removed/ and can be moved back.`)) ? path : null"""


class DocumentRemoval(LibrarySection):
    """Choose a document (or a file that failed to index), remove it, rebuild."""

    def choices(self) -> list[tuple[str, str]]:
        """Indexed documents, then the files that could not be indexed, with why."""
        summary = self.assistant.summary()
        indexed = [(f"{shorten(d.meta.title, 70)} — {d.path}", d.path) for d in summary.documents]
        failed = [(f"{f.path} — not indexed: {shorten(f.reason, 80)}", f.path) for f in summary.failed]
        return indexed + failed

    def refresh(self) -> Any:
        return gr.Dropdown(choices=self.choices(), value=None)

    def remove(self, path: str | None) -> Iterator[tuple[Any, ...]]:
        """Yields the build log, the index panel and the scope (as a rebuild does), then the list."""
        if not path:
            yield '<div class="ca-log">Choose a document to remove first.</div>', gr.skip(), gr.skip(), gr.skip()
            return
        try:
            removed = remove_document(self.settings.corpus_dir, path)
        except (AssistantError, OSError) as exc:
            yield f'<div class="ca-log ca-error">not removed: {esc(str(exc))}</div>', gr.skip(), gr.skip(), \
                gr.skip()
            return
        for update in self.rebuild([removed.message]):
            yield (*update, gr.skip())
        yield gr.skip(), gr.skip(), gr.skip(), self.refresh()

    def build(self, outputs: Sequence[Any], options: dict[str, Any], guard: Guard) -> gr.Dropdown:
        """The section (call inside the tab); outputs: the build log, index panel and scope."""
        gr.Markdown("### Remove a document\nThe file leaves the library (kept in the corpus folder's "
                    "`.removed/`, from where it can be moved back); the index is rebuilt without it. "
                    "Files that could not be indexed are listed with the reason.")
        with gr.Row():
            picker = gr.Dropdown(choices=self.choices(), value=None, label="Document or file", scale=4,
                                 elem_id="remove-doc")
            remove = gr.Button("Remove and rebuild", variant="stop", scale=1, elem_id="remove-button")
        remove.click(guard(self.remove), [picker], [*outputs, picker], js=CONFIRM_JS, **options)
        return picker

