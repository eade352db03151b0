"""The Chat tab: questions answered in the context of the conversation, citations as cards.

Each browser session's conversation lives in a gr.State (ChatState). An answer and each of
its citations are separate chat messages, so a click on a message says which citation to
open in the passage panel or which item to add to the briefing. Every message is HTML
made by views.py, where document and user text is escaped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from ..answer.conversation import Turn, search_query
from ..briefing.references import DEFAULT_STYLE, quoted
from ..errors import AssistantError
from ..pageview.highlight import stacked_png
from ..pipeline import MAX_QUESTION_CHARS, Assistant
from ..types import Answer, Citation
from .briefing_tab import BriefingTab, SessionBriefing, item_to_add
from .events import ASK_EVENTS
from .views import esc, locate, render_answer, render_card, render_passage, render_question, shorten

PASSAGE_PROMPT = '<div class="ca-panel-label">Click a citation to see it in context.</div>'
"""The passage panel before a citation is opened."""


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


@dataclass(frozen=True)
class ChatControls:
    """The Chat tab's components that the rest of the page is wired to."""

    chatbot: gr.Chatbot
    state: gr.State
    question: gr.Textbox
    scope: gr.Dropdown
    new_conversation: gr.Button


def scope_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """The documents a question can be limited to: (shortened title, document id)."""
    return [(shorten(d.meta.title, 90), d.doc_id) for d in assistant.summary().documents]


class ChatTab:
    """The tab's callbacks over one Assistant; `briefing` takes what "Add to briefing" adds."""

    def __init__(self, assistant: Assistant, briefing: BriefingTab) -> None:
        self.assistant = assistant
        self.briefing = briefing

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
        titles = {d.doc_id: d.meta.title for d in self.assistant.summary().documents}
        answers.append((len(messages), answer))
        messages.append({"role": "assistant",
                         "content": render_answer(answer, [titles.get(d, d) for d in doc_ids])})
        for citation, closest in [(c, False) for c in answer.citations] + [(c, True) for c in answer.closest]:
            cards.append((len(messages), citation, closest))
            messages.append({"role": "assistant", "content": render_card(citation, closest)})
        turns = (*state.turns, Turn(question, answer.searched or searched))
        return messages, ChatState(turns, tuple(messages), tuple(cards), tuple(answers)), ""

    def chat_example(self, scope: Sequence[str] | None, state: ChatState, evt: gr.SelectData) -> tuple[Any, ...]:
        """Ask the example question that was clicked."""
        value = evt.value if isinstance(evt.value, dict) else {}
        return self.chat(str(value.get("text", "")), scope, state)

    def select(self, state: ChatState, collected: SessionBriefing, style: str, clicked_part: str,
               evt: gr.SelectData) -> tuple[Any, ...]:
        """A click on a message: its "Add to briefing" pill adds the answer or citation to the
        briefing; elsewhere on a citation card it opens the passage panel. Returns the panel's
        passage, reference, sidebar and page image, then the briefing and its tab."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(index, int):
            return (gr.skip(),) * 6
        if clicked_part == "add":
            item = item_to_add(state.answer(index), state.card(index))
            if item is None:
                return (gr.skip(),) * 6
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), *self.briefing.add(collected, item)
        return (*self.open_card(state, index, style), gr.skip(), gr.skip())

    def open_card(self, state: ChatState, index: int, style: str = DEFAULT_STYLE) -> tuple[Any, ...]:
        """The passage panel for the citation card at this message index (others do nothing),
        with the citation ready to paste in the chosen reference style: its passage, reference,
        the sidebar opened, and the PDF page with the excerpt highlighted (hidden for other
        documents)."""
        found = state.card(index)
        if found is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        citation, closest = found
        passage = locate(citation, self.assistant.document(citation.doc_id))
        page, note = self.page_view(citation)
        return (note + render_passage(citation, passage, closest), quoted(citation, style), gr.Sidebar(open=True),
                page)

    def page_view(self, citation: Citation) -> tuple[Any, str]:
        """The page image for a citation from a PDF, and a note for the panel when it cannot be
        shown (the passage text is shown all the same)."""
        if citation.page is None:
            return gr.Image(value=None, visible=False), ""
        try:
            pages = self.assistant.quote_pages(citation)
        except AssistantError as exc:
            return gr.Image(value=None, visible=False), f'<div class="ca-warning">The page cannot be shown: ' \
                                                        f'{esc(str(exc))}</div>'
        numbers = f"{pages[0].page}–{pages[-1].page}" if len(pages) > 1 else str(pages[0].page)
        label = f"Page {numbers}" if len(pages) == 1 else f"Pages {numbers}"
        if not all(p.boxed for p in pages):
            label += " (the excerpt could not be found on the page image, so it is not highlighted)"
        return gr.Image(value=Image.open(io.BytesIO(stacked_png(pages))), visible=True, label=label), ""

    def new_conversation(self) -> tuple[Any, ...]:
        """An empty chat, question box and passage panel."""
        return [], ChatState(), "", PASSAGE_PROMPT, "", gr.Image(value=None, visible=False)

    def build(self, examples: list[str]) -> ChatControls:
        """The tab's content (call inside the gr.Tab); a question is answered on Enter, on Ask
        and on a click on an example."""
        state = gr.State(ChatState())
        chatbot = gr.Chatbot(
            show_label=False, elem_id="chat", height="62vh", render_markdown=False,
            sanitize_html=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
            buttons=[], placeholder="Ask about the documents, or start with an example:",
            examples=[{"text": q} for q in examples], group_consecutive_messages=True)
        with gr.Row():
            question = gr.Textbox(show_label=False, placeholder="Ask a question about the documents …",
                                  scale=6, elem_id="question", max_length=MAX_QUESTION_CHARS, submit_btn=False)
            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        with gr.Row():
            scope = gr.Dropdown(choices=scope_choices(self.assistant), multiselect=True, scale=6,
                                label="Only search these documents (none chosen: all)", elem_id="scope")
            clear = gr.Button("New conversation", scale=1, elem_id="new-conversation")
        outputs = [chatbot, state, question]
        question.submit(self.chat, [question, scope, state], outputs, **ASK_EVENTS)
        ask.click(self.chat, [question, scope, state], outputs, **ASK_EVENTS)
        chatbot.example_select(self.chat_example, [scope, state], outputs, **ASK_EVENTS)
        return ChatControls(chatbot, state, question, scope, clear)
