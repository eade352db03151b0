"""Example questions are drawn from the corpus and kept only when they are answered."""

from __future__ import annotations

from assistant.types import Answer
from assistant.web.examples import candidate_questions, pick

from ..conftest import CORPUS


def test_candidates_come_from_names_the_corpus_defines_and_uses() -> None:
    questions = candidate_questions(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))
    assert questions[:2] == ["What is the Global Partnership on AI?", "What is the Trade and Technology Council?"]
    assert all(q.startswith("What is the ") and q.endswith("?") for q in questions)
    assert "What is the United States?" not in questions
    assert len(questions) == len(set(questions)) <= 12


def test_pick_keeps_only_answered_questions() -> None:
    def ask(question: str) -> Answer:
        return Answer(question, "", abstained="bad" in question, citations=())

    assert pick(["good 1", "bad 2", "good 3", "good 4"], ask, wanted=2) == ["good 1", "good 3"]
