"""The web chat's page: the Chat, Briefing and Documents & index tabs, the passage panel, and
the /ask API, laid out and wired together over one Assistant.

Each tab's callbacks and layout live in its own module (chat_tab, briefing_tab,
documents_tab); this module wires what crosses them: a click on a chat message opens the
passage panel or adds to the briefing, and each page load shows the index being served
(its panel, the chat's document choices and example questions). The chat shows HTML made
by views.py, never markdown, so nothing a document holds can run or load anything.
server.py starts the page.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..config import Settings
from ..pipeline import Assistant
from ..render import answer_to_json
from .access import Access
from .assets import CLICKED_PART_JS, COPY_JS, PLAIN_LABELS_JS, TRACK_CLICKS_JS
from .briefing_tab import BriefingTab, SessionBriefing
from .chat_tab import PASSAGE_PROMPT, ChatTab, scope_choices
from .documents_tab import DocumentsTab
from .events import ASK_CONCURRENCY, BRIEFING_EVENTS, PRIVATE
from .examples import candidate_questions, pick

INTRO = ("Answers are made only of **verbatim excerpts** from the documents, each cited. "
         "Click a citation to read it in context. When the documents do not cover a question, "
         "the page says so and shows the closest passages as such.")


class WebChat:
    """The page over one Assistant: its tabs' callbacks, and build() to lay them out."""

    def __init__(self, settings: Settings, assistant: Assistant, access: Access | None = None) -> None:
        self.settings = settings
        self.assistant = assistant
        self.access = access or Access()  # read-only unless told otherwise
        self._examples: tuple[str, list[str]] = ("", [])  # (index version, questions it answers)
        self.briefing_tab = BriefingTab(assistant.source_of, assistant.is_current)
        self.chat_tab = ChatTab(assistant, self.briefing_tab)
        self.documents_tab = DocumentsTab(settings, assistant, self.access)

    def examples(self) -> list[str]:
        """Questions drawn from the corpus that the current index answers (cached per index)."""
        summary = self.assistant.summary()
        if self._examples[0] != summary.version:
            documents = (self.assistant.document(d.doc_id) for d in summary.documents)
            texts = [d.text for d in documents if d is not None]
            self._examples = (summary.version, pick(candidate_questions(texts), self.assistant.ask))
        return self._examples[1]

    def refresh(self) -> tuple[Any, ...]:
        """Index panel, scope choices and example questions for the index being served."""
        return self.documents_tab.index_view(), gr.Dropdown(choices=scope_choices(self.assistant)), \
            gr.Chatbot(examples=[{"text": q} for q in self.examples()])

    def api_ask(self, question: str) -> dict[str, Any]:
        """Answer one question: the object one line of `assistant ask --json` holds."""
        return answer_to_json(self.assistant.ask(question))

    def build(self) -> gr.Blocks:
        """The page: chat with a passage side panel, a briefing, and an index tab with rebuild and upload."""
        # Uploaded files wait in Gradio's cache only until "Add": clear it hourly.
        with gr.Blocks(title="Cited-answer assistant", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
            collected = gr.State(SessionBriefing())  # this browser session's briefing
            clicked_part = gr.Textbox("open", visible=False)  # what was clicked in a message (CLICKED_PART_JS)
            gr.Markdown("## Cited-answer assistant\n" + INTRO)
            with gr.Sidebar(label="Passage", open=False, position="right", width=440) as sidebar:
                # A PDF citation's page, the excerpt boxed; the fullscreen button zooms it.
                page = gr.Image(visible=False, format="png", type="pil", interactive=False, elem_id="page-image",
                                buttons=["fullscreen"], height=560)
                passage = gr.HTML(PASSAGE_PROMPT, elem_id="passage")
                reference = gr.Textbox(label="Citation, ready to paste", lines=4, interactive=False,
                                       elem_id="reference")
                copy = gr.Button("Copy citation", size="sm", elem_id="copy-citation")
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    chat = self.chat_tab.build(self.examples())
                with gr.Tab("Briefing", id="briefing", elem_id="briefing-tab") as briefing_tab:
                    style = self.briefing_tab.build(collected, briefing_tab)
                with gr.Tab("Documents & index", id="index"):
                    index_html = self.documents_tab.build(demo, chat.scope)

            chat.chatbot.select(self.chat_tab.select, [chat.state, collected, style, clicked_part],
                                [passage, reference, sidebar, page, collected, briefing_tab], js=CLICKED_PART_JS,
                                api_visibility=PRIVATE, show_progress="hidden", **BRIEFING_EVENTS)
            demo.load(None, None, None, js=TRACK_CLICKS_JS)
            demo.load(None, None, None, js=PLAIN_LABELS_JS)
            copy.click(None, [reference], None, js=COPY_JS)
            reset = [chat.chatbot, chat.state, chat.question, passage, reference, page]
            chat.new_conversation.click(self.chat_tab.new_conversation, None, reset, api_visibility=PRIVATE)
            chat.chatbot.clear(self.chat_tab.new_conversation, None, reset, api_visibility=PRIVATE)
            demo.load(self.refresh, None, [index_html, chat.scope, chat.chatbot], api_visibility=PRIVATE)
            gr.api(self.api_ask, api_name="ask", concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY)
        return demo
