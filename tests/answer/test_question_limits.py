"""Questions refused before searching: nothing to search for, too long; text no encoder takes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from assistant.config import Settings
from assistant.ingest.textnorm import has_letter_or_digit, without_lone_surrogates
from assistant.pipeline import MAX_QUESTION_CHARS, NO_QUESTION, Assistant
from assistant.render import answer_to_json
from assistant.types import Answer

from ..conftest import REPO

ANSWERED = "Which UK ministers signed the US-UK AI declaration?"


@pytest.fixture(scope="module")
def assistant(seed_index: Settings, embedder) -> Assistant:  # type: ignore[no-untyped-def]
    return Assistant(seed_index, embedder)


@pytest.mark.parametrize("question", ["???", "🙂", "...", "—", "", "  \n ", "¿?", "_", "What is it?", "the",
                                      "Who?", "x", "人工智能"])
def test_a_question_with_nothing_to_search_for_is_refused(assistant: Assistant, question: str) -> None:
    # No letter or digit; or no keyword term: only stop words, question words, a lone
    # letter, or a script keyword search does not read. Each of these was once answered
    # with the passages nearest to nothing.
    assert assistant.ask(question) == Answer(" ".join(question.split()), NO_QUESTION, True, ())


def test_a_question_with_words_is_still_answered(assistant: Assistant) -> None:
    answer = assistant.ask(f"🙂 {ANSWERED} ???")
    assert not answer.abstained and answer.citations
    assert answer.question == f"🙂 {ANSWERED} ???"


def test_a_follow_up_needs_a_letter_or_digit_of_its_own(assistant: Assistant) -> None:
    searched = f"??? {ANSWERED}"  # what the chat would search for a follow-up "???"
    assert assistant.ask_in_context("???", searched) == Answer("???", NO_QUESTION, True, ())
    follow_up = assistant.ask_in_context("Who signed it?", f"Who signed it? {ANSWERED}")
    assert not follow_up.abstained and follow_up.question == "Who signed it?"


def test_without_lone_surrogates_keeps_pairs_and_replaces_the_rest() -> None:
    assert without_lone_surrogates("x \udcff") == "x \ufffd"
    assert without_lone_surrogates("\ud800 a \udfff") == "\ufffd a \ufffd"
    assert without_lone_surrogates("🙂 é 人") == "🙂 é 人"
    assert without_lone_surrogates("\ud83d\ude42") == "🙂"  # a pair as two code points is the one character
    assert [has_letter_or_digit(t) for t in ("???", "🙂 —", "_", "é", "人", "2")] == \
        [False, False, False, True, True, True]


@pytest.mark.parametrize("question", ["x \udcff", f"{ANSWERED} \udcff", f"\udcff🙂 {ANSWERED}"])
def test_a_lone_surrogate_is_answered_and_encodes_as_json(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.question == without_lone_surrogates(question)
    data = answer_to_json(answer)
    assert json.loads(json.dumps(data)) == data
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogate left to refuse
    assert answer.abstained == (question == "x \udcff")  # a lone letter is nothing to search for


def test_a_question_over_the_limit_is_refused_at_once(assistant: Assistant) -> None:
    question = "Who signed the declaration? " * ((1 << 20) // 28 + 1) + "\udcff"
    question = question[-(1 << 20):]  # one million characters, a lone surrogate at its end
    started = time.perf_counter()
    answer = assistant.ask(question)
    seconds = time.perf_counter() - started
    print(f"\n1 MiB question refused in {seconds * 1e6:.0f} µs")
    assert answer.text == "The question is 1,048,576 characters long; ask in at most 2,000."
    assert answer.abstained and answer.citations == answer.closest == ()
    assert len(answer.question) < 300 and answer.question.endswith(" …")
    json.dumps(answer_to_json(answer), ensure_ascii=False).encode("utf-8")
    assert seconds < 0.5  # generous for slow machines; it takes microseconds
    assert assistant.ask_in_context(question, question).text == answer.text


def test_the_limit_counts_characters(assistant: Assistant) -> None:
    padding = " ".join(["declaration"] * 400)
    at_limit = (ANSWERED + " " + padding)[:MAX_QUESTION_CHARS]
    assert len(at_limit) == MAX_QUESTION_CHARS
    assert "characters long" not in assistant.ask(at_limit).text
    assert assistant.ask(at_limit + "s").text == \
        "The question is 2,001 characters long; ask in at most 2,000."


@pytest.mark.slow
def test_cli_ask_json_refusals_keep_the_answer_keys(seed_index: Settings) -> None:
    questions = ["???", "x" * 3000, ANSWERED]
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--json", *questions,
         "--corpus", str(seed_index.corpus_dir), "--index", str(seed_index.index_dir)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    nothing, too_long, answered = (json.loads(line) for line in result.stdout.splitlines())
    assert nothing == {"question": "???", "answer": NO_QUESTION, "abstained": True, "citations": [],
                       "closest": [], "searched": ""}
    assert set(too_long) == set(nothing) == set(answered)
    assert too_long["answer"] == "The question is 3,000 characters long; ask in at most 2,000."
    assert too_long["abstained"] is True and too_long["citations"] == []
    assert answered["abstained"] is False and answered["citations"]
