"""The reading model's pieces that need no training: its training groups and its span choice
(scripts/train_reader.py trains it; tests/test_benchmarks.py runs that script at a tiny size)."""

from __future__ import annotations

import random
import sys

import numpy as np

from assistant.answer.reader import MAX_ANSWER_TOKENS, _reading

from ..conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import reader_data

TEXT = ("The summit opened in London. Ministers met for two days. The declaration was signed on "
        "1 November 2023 by 28 countries. It calls for shared testing of frontier models. A second "
        "meeting followed in Seoul. Officials later published a report. The report named no dates.")


def test_an_answerable_group_quotes_the_answer_first_and_hides_it_from_the_rest() -> None:
    answer = TEXT.index("1 November 2023")
    question = reader_data.Question("t", "doc", TEXT, "When was the declaration signed?",
                                    ((answer, answer + len("1 November 2023")),))
    for seed in range(20):
        group = reader_data.group_of(question, random.Random(seed), hide=0.0)
        assert group is not None and group.answerable
        first, *rest = group.pairs
        assert first.answers and first.span is not None
        assert first.text[first.span[0]:first.span[1]] == "1 November 2023"
        assert first.text in TEXT and all(p.text in TEXT for p in rest)
        assert rest and not any(p.answers or "1 November 2023" in p.text for p in rest)


def test_an_unanswerable_or_hidden_group_has_no_answering_window() -> None:
    unanswerable = reader_data.Question("t", "doc", TEXT, "Who chaired the meeting?", ())
    group = reader_data.group_of(unanswerable, random.Random(0))
    assert group is not None and not group.answerable and len(group.pairs) == reader_data.NEGATIVES + 1
    answer = TEXT.index("Seoul")
    hidden = reader_data.group_of(reader_data.Question("t", "doc", TEXT, "Where was the second meeting?",
                                                       ((answer, answer + 5),)), random.Random(0), hide=1.0)
    assert hidden is not None and not hidden.answerable and not any("Seoul" in p.text for p in hidden.pairs)


def test_held_out_documents_are_a_stable_share() -> None:
    docs = [f"contract-{n}" for n in range(2000)]
    held = [d for d in docs if reader_data.held_out("cuad", d, 0.1)]
    assert 150 < len(held) < 250
    assert held == [d for d in docs if reader_data.held_out("cuad", d, 0.1)]


def test_the_marked_span_is_the_best_allowed_pair_of_context_tokens() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = 40
        start, end = rng.normal(size=n), rng.normal(size=n)
        context = np.zeros(n, dtype=bool)
        context[8:38] = True
        offsets = np.array([[5 * t, 5 * t + 4] for t in range(n)])
        reading = _reading(0.5, start, end, context, offsets)
        i, j = reading.start // 5, (reading.end - 4) // 5
        assert context[i] and context[j] and 0 <= j - i < MAX_ANSWER_TOKENS
        best = max(start[a] + end[b] for a in range(8, 38) for b in range(a, min(38, a + MAX_ANSWER_TOKENS)))
        assert np.isclose(start[i] + end[j], best)
        assert np.isclose(reading.span_score, best - (start[0] + end[0]))


def test_a_set_over_documents_the_reader_trained_on_counts_only_those_it_held_out() -> None:
    import train_reader

    from assistant.evaluation.sets import question_sets, reader_held_out

    sets = question_sets()
    held = reader_held_out({"held_out": {"policyqa": {"questions": 3, "documents": ["policy-a", "policy-b"]},
                                         "squad2": {"questions": 2, "documents": ["normans"]}}})
    assert sets["policyqa"].unseen_by_reader(("policy-a",), held)
    assert not sets["policyqa"].unseen_by_reader(("policy-c",), held)
    assert sets["squad2"].unseen_by_reader(("normans",), held)
    assert not sets["squad2"].unseen_by_reader(("steam-engine",), held)  # trained on with --squad2
    assert sets["contractnli"].unseen_by_reader(("any NDA",), held)  # made of held-out NDAs only
    sources = {s.reader_source for s in sets.values()} - {None}
    assert sources and sources <= set(train_reader.HELD_OUT)  # each names a source the reader holds documents out of
