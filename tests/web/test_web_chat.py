"""The web chat's callbacks on the real pipeline, without a browser (tests/web/test_ui.py drives one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr
import pytest

from assistant.briefing.references import quoted
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.pipeline import Assistant, build_index
from assistant.render import answer_to_json
from assistant.web.access import EDITOR, READER, Access, Login, parse_logins
from assistant.web.app import WebChat
from assistant.web.chat_tab import ChatState

from ..conftest import CORPUS, DATA, make_settings

SEED = "Which UK ministers signed the US-UK AI declaration?"
DECLARATION = "us-uk-ai-rd-declaration-2020"


def _web(root: Path, embedder) -> WebChat:  # type: ignore[no-untyped-def]
    shutil.copytree(CORPUS, root / "corpus")
    settings: Settings = make_settings(root / "corpus", root / "index")
    build_index(settings, embedder=embedder)
    return WebChat(settings, Assistant(settings, embedder))


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, embedder) -> WebChat:  # type: ignore[no-untyped-def]
    """Shared by the tests that change neither the corpus nor the index."""
    return _web(tmp_path_factory.mktemp("web-chat"), embedder)


@pytest.fixture
def own_web(tmp_path: Path, embedder) -> WebChat:  # type: ignore[no-untyped-def]
    """A corpus and index of its own, for a test that adds documents."""
    return _web(tmp_path, embedder)


def select(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": ""})


def test_answer_then_cards_that_open_their_passage(web: WebChat) -> None:
    messages, state, cleared = web.chat_tab.chat(SEED, [], ChatState())
    assert cleared == "" and [m["role"] for m in messages[:2]] == ["user", "assistant"]
    assert "ca-answer" in messages[1]["content"] and "[1]" in messages[1]["content"]
    assert [i for i, _c, _closest in state.cards] == list(range(2, len(messages)))
    for index, citation, closest in state.cards:
        assert not closest and f"[{citation.n}]" in messages[index]["content"]
        panel, reference, sidebar, page = web.chat_tab.open_card(state, index, "apa")
        assert "<mark>" in panel and reference == quoted(citation, "apa")  # the chosen style
        assert isinstance(sidebar, gr.Sidebar) and sidebar.open
        assert isinstance(page, gr.Image) and not page.visible  # a text file has no page to show
    assert web.chat_tab.open_card(state, 1) == (gr.skip(),) * 4  # the answer itself


def test_follow_up_uses_the_conversation_and_says_so(web: WebChat) -> None:
    _messages, state, _ = web.chat_tab.chat(SEED, [], ChatState())
    messages, state, _ = web.chat_tab.chat("When was it signed?", [], state)
    assert state.turns[-1].searched.startswith("When was it signed? ") and "declaration" in state.turns[-1].searched
    answer = next(m["content"] for m in reversed(messages) if "ca-searched" in m["content"])
    assert "with the conversation so far" in answer


def test_scope_restricts_to_chosen_documents_and_is_shown(web: WebChat) -> None:
    messages, state, _ = web.chat_tab.chat("What is the purpose of the contract?", [DECLARATION], ChatState())
    assert state.cards and all(c.doc_id == DECLARATION for _i, c, _closest in state.cards)
    assert "only in: Declaration of the United States" in messages[1]["content"]


def test_not_covered_shows_closest_passages_as_such(web: WebChat) -> None:
    messages, state, _ = web.chat_tab.chat("What is the capital of Australia?", [], ChatState())
    assert "The documents do not cover this question." in messages[1]["content"]
    assert state.cards and all(closest for _i, _c, closest in state.cards)
    panel, _reference, _sidebar, _page = web.chat_tab.open_card(state, state.cards[0][0])
    assert "not an answer" in panel


def test_empty_question_changes_nothing(web: WebChat) -> None:
    state = ChatState()
    assert web.chat_tab.chat("   ", [], state) == (gr.skip(), state, "")


@pytest.mark.slow
def test_rebuild_keeps_answering_from_the_old_index_until_the_swap(own_web: WebChat) -> None:
    web = own_web
    old = web.assistant.store.path
    (web.settings.corpus_dir / "kestrel-accord.txt").write_bytes((DATA / "web" / "kestrel-accord.txt").read_bytes())
    assert "1 added (kestrel-accord.txt)" in web.documents_tab.index_view()
    steps = web.documents_tab.rebuild()
    first = next(steps)[0]
    assert "keeps answering from the current one" in first
    next(steps)  # the build is now running in the background
    _messages, state, _ = web.chat_tab.chat(SEED, [], ChatState())
    assert state.cards and web.assistant.store.path == old
    *_, (log, index_html, _scope) = steps
    assert "the new index is answering questions" in log and "added:   kestrel-accord.txt" in log
    assert web.assistant.store.path != old and "kestrel-accord.txt" in index_html and "up to date" in index_html
    _messages, state, _ = web.chat_tab.chat("Where was the Kestrel Accord signed?", [], ChatState())
    assert any(c.path == "kestrel-accord.txt" for _i, c, _closest in state.cards)


def test_upload_refusals_are_listed_by_file_and_nothing_is_rebuilt(web: WebChat, tmp_path: Path) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_text("not a pdf", encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    updates = list(web.documents_tab.upload([str(fake), str(empty)]))
    assert len(updates) == 1
    log = updates[0][0]
    assert "refused: fake.pdf: the content is plain text" in log and "refused: empty.md: empty file" in log
    assert not (web.settings.corpus_dir / "fake.pdf").exists()


def test_api_returns_the_ask_json_object(web: WebChat) -> None:
    answer = web.api_ask(SEED)
    assert answer == answer_to_json(web.assistant.ask(SEED))
    assert json.loads(json.dumps(answer)) == answer  # plain JSON, as one line of `ask --json`


def test_parse_logins(tmp_path: Path) -> None:
    logins = tmp_path / "logins"
    logins.write_text("# analysts\nana:s3cret:with:colons\n\nbo:pw\n", encoding="utf-8")
    assert [(x.user, x.password) for x in parse_logins(["admin:x"], logins)] == \
        [("admin", "x"), ("ana", "s3cret:with:colons"), ("bo", "pw")]
    assert parse_logins([], None) == []
    with pytest.raises(ConfigError, match="--editor: expected USER:PASSWORD"):
        parse_logins(["nopassword"], None, EDITOR, "--editor")
    with pytest.raises(ConfigError, match="cannot read"):
        parse_logins([], tmp_path / "missing")


def test_roles_decide_who_may_edit() -> None:
    logins = [Login("ana", "pw", READER), Login("ed", "pw2", EDITOR)]
    access = Access.of(logins)
    assert access.check_password("ed", "pw2") and not access.check_password("ed", "pw") \
        and not access.check_password("nobody", "pw")
    assert access.may_edit("ed") and not access.may_edit("ana") and not access.may_edit(None)
    assert not Access().may_edit(None) and Access(open_editing=True).may_edit(None)
    assert Access.of(logins, open_editing=True).may_edit("ana") and not Access.of(logins, True).may_edit(None)
    with pytest.raises(ConfigError, match="given twice"):
        Access.of([Login("ana", "pw", READER), Login("ana", "pw", EDITOR)])
