"""Follow-up questions are searched with the topic of the conversation before them."""

from __future__ import annotations

import pytest

from assistant.answer.conversation import Turn, content_words, is_follow_up, search_query

FIRST = "Which UK ministers signed the US-UK AI declaration?"
HISTORY = (Turn(FIRST, FIRST),)


@pytest.mark.parametrize("question", ["When was it signed?", "And what did the UK commit to?", "Who signed it?",
                                      "What about the EU?", "Why?", "and by whom?", "What did they agree?"])
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    FIRST, "What is the Global Partnership on AI?",
    "Which countries joined the AI Partnership for Defense in May 2021?",
    "Which countries did the United States say that it cooperates with on AI research?"])
def test_standalone_questions_are_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_up_is_searched_with_the_earlier_topic() -> None:
    assert search_query("When was it signed?", HISTORY) == "When was it signed? UK ministers US-UK AI declaration"
    assert search_query("And what did the UK commit to?", HISTORY) == \
        "And what did the UK commit to? ministers signed US-UK AI declaration"


def test_standalone_question_and_first_question_are_searched_as_asked() -> None:
    assert search_query("What is the Global Partnership on AI?", HISTORY) == "What is the Global Partnership on AI?"
    assert search_query("When was it  signed?", ()) == "When was it signed?"


def test_a_chain_of_follow_ups_keeps_the_original_topic() -> None:
    second = Turn("When was it signed?", search_query("When was it signed?", HISTORY))
    third = search_query("And by whom?", (*HISTORY, second))
    assert "declaration" in third and third.startswith("And by whom?")
    assert len(third.split()) <= len("And by whom?".split()) + 10  # the topic is bounded


def test_content_words_keep_spelling_and_drop_function_words() -> None:
    assert content_words("What did the U.S. and the UK sign in 2020, and where did they sign it?") == \
        ["U.S", "UK", "sign", "2020"]
