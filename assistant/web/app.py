"""Web chat (Gradio): a thin adapter over the pipeline — ask, open citations, rebuild, upload, add by URL.

Callbacks parse what the page sends, make one library call and render it with ui_html,
where every piece of document or user text is escaped. The chat shows HTML, never
markdown, so nothing a document holds can run or load anything.
"""

from __future__ import annotations

import os

# Nothing may try the network: no analytics, no version check, no telemetry. Set before
# gradio (and huggingface_hub, which it imports) is first imported; the imports below
# rely on it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ..answer.conversation import Turn, search_query
from ..briefing.references import DEFAULT_STYLE, quoted
from ..config import Settings
from ..errors import AssistantError, ConfigError
from ..indexing.opening import where_served
from ..ingest.fetch import fetch
from ..ingest.uploads import MAX_UPLOAD_BYTES, save_page, save_upload
from ..pipeline import MAX_QUESTION_CHARS, Assistant, build_index
from ..render import answer_to_json, render_report
from ..types import Answer, BuildReport, Citation
from .access import READ_ONLY_NOTE, Access, RequestGuard, allowed_hosts, editors_only
from .briefing_tab import CONCURRENCY, INTENT_JS, LISTEN_JS, BriefingTab, Collected, item_for
from .briefing_tab import CSS as BRIEFING_CSS
from .documents_tab import DocumentDetails, apply_upload_details, upload_boxes, upload_details
from .examples import candidate_questions, pick
from .removal_section import DocumentRemoval
from .views import (
    esc,
    locate,
    render_answer,
    render_card,
    render_failures,
    render_index,
    render_log,
    render_passage,
    render_question,
    shorten,
)

ASK_CONCURRENCY = 4
"""Questions answered at once (chat and /ask together); more wait in Gradio's queue."""
RELOAD_POLL_SECONDS = 2.0
"""How often the server looks for an index swapped in by `assistant index` elsewhere."""
STATUS_REFRESH_SECONDS = 20.0
"""How often an open page re-checks the corpus folder against the index."""
UPLOAD_TYPES = [".pdf", ".docx", ".txt", ".md", ".html", ".htm"]
MAX_FILES_PER_REQUEST = 20
"""Files added at once; more are refused by name (one rebuild's worth of reading)."""
MAX_URLS_PER_REQUEST = 5
"""Addresses fetched at once: each may take up to fetch.TIMEOUT_S while the build queue waits."""
PRIVATE = "private"  # UI callbacks: callable by the page, not listed or callable as API

CSS = """
.ca-answer, .ca-card, .ca-context, .ca-question {overflow-wrap: anywhere}
.ca-docs td {overflow-wrap: break-word}
.ca-searched {font-size: .82em; color: var(--body-text-color-subdued); margin-bottom: .35em}
.ca-quote {margin: .35em 0}
.ca-marker {font-weight: 600; color: var(--color-accent)}
.ca-abstain {font-weight: 600}
.ca-closest-label {font-size: .85em; color: var(--body-text-color-subdued); margin-top: .35em}
.ca-card {cursor: pointer; border-left: 3px solid var(--color-accent); padding-left: .6em; font-size: .92em}
.ca-card-closest {border-left: 3px dashed var(--neutral-400)}
.ca-closest-tag {font-size: .78em; font-weight: 600; text-transform: uppercase; color: var(--neutral-500);
                 white-space: nowrap}
.ca-card-title {display: flex; gap: .5em; align-items: baseline; font-weight: 600}
.ca-card-name {flex: 1; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis}
.ca-card-open {font-size: .82em; font-weight: 400; color: var(--color-accent); white-space: nowrap}
.ca-card-meta {font-size: .85em; color: var(--body-text-color-subdued); white-space: nowrap; overflow: hidden;
               text-overflow: ellipsis}
.ca-card-excerpt {margin-top: .15em; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
                  overflow: hidden}
.ca-panel-label {font-size: .8em; font-weight: 600; text-transform: uppercase; color: var(--neutral-500)}
.ca-panel-title {font-weight: 600; margin: .2em 0}
.ca-context {white-space: pre-wrap; line-height: 1.55; margin-top: .6em}
.ca-context mark {background: #fde68a; color: #111; padding: 0 .1em; border-radius: 2px}
.ca-source {font-size: .78em; color: var(--body-text-color-subdued); margin-top: .5em}
.ca-warning {background: #fff4e5; color: #663c00; border: 1px solid #f5a623; padding: .5em .75em;
             border-radius: 6px; margin: .5em 0}
.ca-ok {color: #1e6b34; margin: .5em 0}
.ca-index-head {font-weight: 600}
.ca-docs {width: 100%; border-collapse: collapse; font-size: .88em; margin-top: .5em}
.ca-docs th, .ca-docs td {text-align: left; padding: .35em .5em; border-bottom: 1px solid var(--border-color-primary);
                          vertical-align: top}
.ca-num {text-align: right}
.ca-failures {margin-top: .6em; color: #8a1c1c}
.ca-log {font-family: var(--font-mono); font-size: .82em; white-space: pre-wrap; min-height: 1.5em}
.ca-error {color: #8a1c1c}
"""

# Gradio's default theme, but its Source Sans Pro SemiBold file holds only a few letters:
# bold text asks for the (complete) Bold file instead. Fonts are served by the app itself.
THEME = gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                "ui-sans-serif", "system-ui", "sans-serif"])

COPY_JS = """(text) => {
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text); }
  else { const t = document.createElement('textarea'); t.value = text; document.body.appendChild(t);
         t.select(); document.execCommand('copy'); t.remove(); }
  return text;
}"""

# Gradio labels each chat message for screen readers with its content, which here is HTML:
# the label is made plain text (what the message shows) whenever a message appears or changes.
PLAIN_LABELS_JS = """() => {
  const chat = document.getElementById('chat');
  if (!chat) return;
  const plain = (html) => (new DOMParser().parseFromString(html, 'text/html').body.textContent || '')
    .replace(/\\s+/g, ' ').trim();
  const fix = () => chat.querySelectorAll('[aria-label*="<"]').forEach((el) => {
    const label = el.getAttribute('aria-label');
    if (el.dataset.caPlainLabel === label) return;
    const text = plain(label);
    el.dataset.caPlainLabel = text;
    el.setAttribute('aria-label', text);
  });
  fix();
  new MutationObserver(fix).observe(chat, {subtree: true, childList: true, attributes: true,
                                           attributeFilter: ['aria-label']});
}"""


@dataclass(frozen=True)
class ChatState:
    """One browser session's conversation: turns for follow-ups, messages, and which
    message is which answer or citation (by message index)."""

    turns: tuple[Turn, ...] = ()
    messages: tuple[dict[str, str], ...] = ()
    cards: tuple[tuple[int, Citation, bool], ...] = ()  # (message index, citation, closest passage?)
    answers: tuple[tuple[int, Answer], ...] = ()  # (message index, answer)

    def card(self, index: int) -> tuple[Citation, bool] | None:
        return next(((c, closest) for i, c, closest in self.cards if i == index), None)

    def answer(self, index: int) -> Answer | None:
        """The answer shown at this message index or, for a citation card, the one above it."""
        if self.card(index) is None:
            return next((a for i, a in self.answers if i == index), None)
        return next((a for i, a in reversed(self.answers) if i < index), None)


class WebChat:
    """The page's callbacks over one Assistant; build() lays them out."""

    def __init__(self, settings: Settings, assistant: Assistant, access: Access | None = None) -> None:
        self.settings = settings
        self.assistant = assistant
        self.access = access or Access()  # read-only unless told otherwise
        self._examples: tuple[str, list[str]] = ("", [])
        self.details = DocumentDetails(settings, assistant, self.rebuild)
        self.removal = DocumentRemoval(settings, assistant, self.rebuild)
        self.briefing = BriefingTab(assistant.source_of, assistant.is_current)

    # -- chat ------------------------------------------------------------------------------

    def chat(self, question: str, scope: Sequence[str] | None, state: ChatState) -> tuple[Any, ...]:
        """Answer a question in the context of the conversation; citations become cards."""
        question = " ".join((question or "").split())
        if not question:
            return gr.skip(), state, ""
        doc_ids = list(scope or [])
        # An over-long question is refused by ask_in_context; it is not read for its topic first.
        searched = search_query(question, state.turns) if len(question) <= MAX_QUESTION_CHARS else question
        messages = [*state.messages, {"role": "user", "content": render_question(question)}]
        cards, answers = list(state.cards), list(state.answers)
        try:
            answer = self.assistant.ask_in_context(question, searched, set(doc_ids) or None)
        except AssistantError as exc:
            messages.append({"role": "assistant", "content": f'<div class="ca-error">{esc(str(exc))}</div>'})
            return messages, ChatState(state.turns, tuple(messages), tuple(cards), tuple(answers)), ""
        titles = self._titles()
        answers.append((len(messages), answer))
        messages.append({"role": "assistant",
                         "content": render_answer(answer, [titles.get(d, d) for d in doc_ids])})
        for citation, closest in [(c, False) for c in answer.citations] + [(c, True) for c in answer.closest]:
            cards.append((len(messages), citation, closest))
            messages.append({"role": "assistant", "content": render_card(citation, closest)})
        turns = (*state.turns, Turn(question, answer.searched or searched))
        return messages, ChatState(turns, tuple(messages), tuple(cards), tuple(answers)), ""

    def chat_example(self, scope: Sequence[str] | None, state: ChatState, evt: gr.SelectData) -> tuple[Any, ...]:
        value = evt.value if isinstance(evt.value, dict) else {}
        return self.chat(str(value.get("text", "")), scope, state)

    def select(self, state: ChatState, collected: Collected, style: str, intent: str,
               evt: gr.SelectData) -> tuple[Any, ...]:
        """A click on a message: its "Add to briefing" pill adds the answer or citation to the
        briefing; elsewhere on a citation card it opens the passage panel."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(index, int):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if intent == "add":
            item = item_for(state.answer(index), state.card(index))
            if item is None:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return gr.skip(), gr.skip(), gr.skip(), *self.briefing.add(collected, item)
        return (*self.open_card(state, index, style), gr.skip(), gr.skip())

    def open_card(self, state: ChatState, index: int, style: str = DEFAULT_STYLE) -> tuple[Any, ...]:
        """The passage panel for the citation card at this message index (others do nothing),
        with the citation ready to paste in the chosen reference style."""
        found = state.card(index)
        if found is None:
            return gr.skip(), gr.skip(), gr.skip()
        citation, closest = found
        passage = locate(citation, self.assistant.document(citation.doc_id))
        return render_passage(citation, passage, closest), quoted(citation, style), gr.Sidebar(open=True)

    def refresh_pickers(self, path: str | None) -> tuple[Any, ...]:
        """The document lists of the details editor (keeping its choice) and of removal."""
        return self.details.refresh(path), self.removal.refresh()

    def editing_view(self, request: gr.Request) -> tuple[Any, ...]:
        """The editing controls for an editor, the read-only note for anyone else."""
        editor = self.access.may_edit(request.username)
        return gr.Column(visible=editor), gr.Markdown(visible=not editor)

    def new_conversation(self) -> tuple[Any, ...]:
        return [], ChatState(), "", '<div class="ca-panel-label">Click a citation to see it in context.</div>', ""

    def api_ask(self, question: str) -> dict[str, Any]:
        """Answer one question: the object one line of `assistant ask --json` holds."""
        return answer_to_json(self.assistant.ask(question))

    # -- index -----------------------------------------------------------------------------

    def index_view(self) -> str:
        try:
            changes, error = self.assistant.corpus_changes(), ""
        except (AssistantError, OSError) as exc:
            changes, error = None, str(exc)
        return render_index(self.assistant.summary(), changes, error)

    def refresh(self) -> tuple[Any, ...]:
        """Index panel, scope choices and example questions for the index being served."""
        return self.index_view(), gr.Dropdown(choices=self._scope_choices()), \
            gr.Chatbot(examples=[{"text": q} for q in self.examples()])

    def examples(self) -> list[str]:
        """Questions drawn from the corpus that the current index answers (cached per index)."""
        summary = self.assistant.summary()
        if self._examples[0] != summary.version:
            documents = (self.assistant.document(d.doc_id) for d in summary.documents)
            texts = [d.text for d in documents if d is not None]
            self._examples = (summary.version, pick(candidate_questions(texts), self.assistant.ask))
        return self._examples[1]

    def rebuild(self, lines: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
        """Incremental rebuild in the background, with progress; the chat keeps answering from
        the old index until the new one is loaded and swapped in."""
        lines = list(lines or [])
        lines.append("Rebuilding the index; the chat keeps answering from the current one …")
        yield render_log(lines), gr.skip(), gr.skip()
        messages: queue.Queue[str] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["report"] = build_index(self.settings, progress=messages.put)
            except AssistantError as exc:
                outcome["error"] = str(exc)

        started = time.monotonic()
        worker = threading.Thread(target=work, name="rebuild", daemon=True)
        worker.start()
        while worker.is_alive() or not messages.empty():
            with contextlib.suppress(queue.Empty):
                lines.append(messages.get(timeout=1.0))
            yield render_log([*lines, f"… {time.monotonic() - started:.0f} s"]), gr.skip(), gr.skip()
        if "error" in outcome:
            lines.append(f"error: {outcome['error']}")
            yield render_log(lines) + _failures(None), self.index_view(), gr.skip()
            return
        report: BuildReport = outcome["report"]
        lines += render_report(report).splitlines()
        lines.append("Loading the new index …")
        yield render_log(lines) + _failures(report), gr.skip(), gr.skip()
        self.assistant.reload_if_changed()
        lines.append(f"Done in {time.monotonic() - started:.1f} s: the new index is answering questions.")
        # The scope starts afresh: a chosen document may be gone from the new index.
        yield render_log(lines) + _failures(report), self.index_view(), \
            gr.Dropdown(choices=self._scope_choices(), value=None, multiselect=True)

    def upload(self, files: Sequence[str] | None, *details: str) -> Iterator[tuple[Any, ...]]:
        """Check and add the uploaded files to the corpus folder (with the details typed for a
        single file), then rebuild."""
        lines: list[str] = []
        keep = tuple(gr.skip() for _ in details)
        try:
            typed = upload_details(details)  # checked before any file is written
        except AssistantError as exc:
            yield render_log([f"refused: the details: {exc}"]), gr.skip(), gr.skip(), gr.skip(), *keep
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
        if note := apply_upload_details(self.settings, typed, len(files or []), saved):
            lines.append(note)
        if not saved:
            yield render_log(lines), gr.skip(), gr.skip(), gr.skip(), *keep
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

    # -- helpers ---------------------------------------------------------------------------

    def _titles(self) -> dict[str, str]:
        return {d.doc_id: d.meta.title for d in self.assistant.summary().documents}

    def _scope_choices(self) -> list[tuple[str, str]]:
        return [(shorten(d.meta.title, 90), d.doc_id) for d in self.assistant.summary().documents]

    # -- layout ----------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        """The page: chat with a passage side panel, and an index tab with rebuild and upload."""
        intro = ("Answers are made only of **verbatim excerpts** from the documents, each cited. "
                 "Click a citation to read it in context. When the documents do not cover a question, "
                 "the page says so and shows the closest passages as such.")
        guard = partial(editors_only, self.access)
        # Uploaded files wait in Gradio's cache only until "Add": clear it hourly.
        with gr.Blocks(title="Cited-answer assistant", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
            state = gr.State(ChatState())
            collected = gr.State(Collected())  # this browser session's briefing
            intent = gr.Textbox("open", visible=False)  # what was clicked in a message (INTENT_JS)
            gr.Markdown("## Cited-answer assistant\n" + intro)
            with gr.Sidebar(label="Passage", open=False, position="right", width=440) as sidebar:
                passage = gr.HTML('<div class="ca-panel-label">Click a citation to see it in context.</div>',
                                  elem_id="passage")
                reference = gr.Textbox(label="Citation, ready to paste", lines=4, interactive=False,
                                       elem_id="reference")
                copy = gr.Button("Copy citation", size="sm", elem_id="copy-citation")
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    chatbot = gr.Chatbot(
                        show_label=False, elem_id="chat", height="62vh", render_markdown=False,
                        sanitize_html=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
                        buttons=[], placeholder="Ask about the documents, or start with an example:",
                        examples=[{"text": q} for q in self.examples()], group_consecutive_messages=True)
                    with gr.Row():
                        question = gr.Textbox(show_label=False, placeholder="Ask a question about the documents …",
                                              scale=6, elem_id="question", max_length=MAX_QUESTION_CHARS,
                                              submit_btn=False)
                        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    with gr.Row():
                        scope = gr.Dropdown(choices=self._scope_choices(), multiselect=True, scale=6,
                                            label="Only search these documents (none chosen: all)",
                                            elem_id="scope")
                        clear = gr.Button("New conversation", scale=1, elem_id="new-conversation")
                with gr.Tab("Briefing", id="briefing", elem_id="briefing-tab") as briefing_tab:
                    style = self.briefing.build(collected, briefing_tab)
                with gr.Tab("Documents & index", id="index"):
                    index_html = gr.HTML(self.index_view(), elem_id="index-status")
                    check = gr.Button("Check the corpus folder again", elem_id="check", size="sm")
                    # Shown to editors only (editing_view, on load); the callbacks check it again.
                    read_only = gr.Markdown(READ_ONLY_NOTE, elem_id="read-only", visible=False)
                    with gr.Column(visible=False, elem_id="editing") as editing:
                        rebuild = gr.Button("Rebuild index", variant="primary", elem_id="rebuild")
                        build_log = gr.HTML("", elem_id="build-log")
                        build_options: dict[str, Any] = {"concurrency_id": "build", "concurrency_limit": 1,
                                                         "api_visibility": PRIVATE}
                        picker = self.details.build([build_log, index_html, scope], build_options, guard)
                        removable = self.removal.build([build_log, index_html, scope], build_options, guard)
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

            chat_outputs = [chatbot, state, question]
            ask_options: dict[str, Any] = {"concurrency_id": "ask", "concurrency_limit": ASK_CONCURRENCY,
                                           "api_visibility": PRIVATE, "show_progress": "minimal"}
            question.submit(self.chat, [question, scope, state], chat_outputs, **ask_options)
            ask.click(self.chat, [question, scope, state], chat_outputs, **ask_options)
            chatbot.example_select(self.chat_example, [scope, state], chat_outputs, **ask_options)
            chatbot.select(self.select, [state, collected, style, intent],
                           [passage, reference, sidebar, collected, briefing_tab], js=INTENT_JS,
                           api_visibility=PRIVATE, show_progress="hidden", **CONCURRENCY)
            demo.load(None, None, None, js=LISTEN_JS)
            demo.load(None, None, None, js=PLAIN_LABELS_JS)
            copy.click(None, [reference], None, js=COPY_JS)
            reset = [chatbot, state, question, passage, reference]
            clear.click(self.new_conversation, None, reset, api_visibility=PRIVATE)
            chatbot.clear(self.new_conversation, None, reset, api_visibility=PRIVATE)
            quiet: dict[str, Any] = {"api_visibility": PRIVATE, "show_progress": "hidden"}
            rebuild.click(guard(self.rebuild), None, [build_log, index_html, scope], **build_options) \
                .then(self.refresh_pickers, [picker], [picker, removable], **quiet)
            add.click(guard(self.upload), [files, *details], [build_log, index_html, scope, files, *details],
                      **build_options).then(self.refresh_pickers, [picker], [picker, removable], **quiet)
            add_url.click(guard(self.add_urls), [url_box], [build_log, index_html, scope, url_box],
                          **build_options).then(self.refresh_pickers, [picker], [picker, removable], **quiet)
            check.click(self.index_view, None, [index_html], api_visibility=PRIVATE)
            gr.Timer(STATUS_REFRESH_SECONDS).tick(self.index_view, None, [index_html], api_visibility=PRIVATE,
                                                  show_progress="hidden")
            demo.load(self.refresh, None, [index_html, scope, chatbot], api_visibility=PRIVATE)
            demo.load(self.refresh_pickers, [picker], [picker, removable], **quiet)
            demo.load(self.editing_view, None, [editing, read_only], **quiet)
            gr.api(self.api_ask, api_name="ask", concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY)
        return demo


def _failures(report: BuildReport | None) -> str:
    if report is None or not report.failed:
        return ""
    return render_failures([(f.path, f.reason) for f in report.failed], "Files that could not be indexed")


def _port_is_free(host: str, port: int) -> None:
    """Fail with one clear line (not Gradio's traceback) when the address is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
                              "choose another --port or stop what uses it") from exc


def _watch_index(assistant: Assistant, stop: threading.Event) -> None:
    """Swap in an index rebuilt by another process (e.g. `assistant index`)."""
    while not stop.wait(RELOAD_POLL_SECONDS):
        try:
            assistant.reload_if_changed()
        except AssistantError as exc:
            print(f"warning: cannot load the rebuilt index: {exc}", flush=True)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, access: Access | None = None,
          extra_hosts: Sequence[str] = ()) -> None:
    """Start the web chat and block until interrupted. `access`: logins and roles (default:
    no logins, read-only); `extra_hosts`: more names the server may be reached by (a reverse
    proxy's), besides localhost's and `host`."""
    access = access or Access()
    _port_is_free(host, port)
    assistant = Assistant(settings)
    demo = WebChat(settings, assistant, access).build()
    stop = threading.Event()
    threading.Thread(target=_watch_index, args=(assistant, stop), name="index-watch", daemon=True).start()
    for warning in _warnings(host, access):
        print(f"warning: {warning}", flush=True)
    every_interface = host in ("0.0.0.0", "::")
    guard = Middleware(RequestGuard, access=access, hosts=allowed_hosts(host, extra_hosts),  # type: ignore[arg-type]
                       any_address=every_interface)
    demo.queue(default_concurrency_limit=1)
    print(f"Web chat on http://{host}:{port} (index {where_served(settings)}, corpus {settings.corpus_dir}); "
          "Ctrl+C stops it", flush=True)
    try:
        demo.launch(server_name=host, server_port=port, auth=access.check_password if access.logins else None,
                    share=False, quiet=True, show_error=False, ssr_mode=False, pwa=False, mcp_server=False,
                    enable_monitoring=False, run_history=False, footer_links=["api"], max_file_size=MAX_UPLOAD_BYTES,
                    theme=THEME, css=CSS + BRIEFING_CSS, inbrowser=False, app_kwargs={"middleware": [guard]},
                    auth_message="This assistant is password protected.")
    finally:
        stop.set()


def _warnings(host: str, access: Access) -> list[str]:
    """What an operator should know about who can use the server they start."""
    local = host in {"127.0.0.1", "localhost", "::1"}
    out = []
    if not access.logins and not local:
        out.append(f"listening on {host} without a password; anyone on the network can ask "
                   "(use --auth USER:PASSWORD for readers, --editor USER:PASSWORD for editors)")
    if access.open_editing:
        who = "every logged-in user" if access.logins else \
            "anyone who can reach the page" + ("" if local else " on the network")
        out.append(f"--open-editing: {who} can add, change and delete documents and rebuild the index")
    elif not any(login.role == "editor" for login in access.logins.values()):
        out.append("read-only: nobody can add, change or delete documents from the page "
                   "(give editors with --editor USER:PASSWORD, or start with --open-editing)")
    return out
