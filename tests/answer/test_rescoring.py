"""Pure parts of answer selection: answer types, excerpt features, the rescorer file, fusion, quotes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.answer.features import (
    ANSWERABILITY,
    FEATURES,
    answer_types,
    excerpt_features,
    excerpt_types,
    signature_windows,
)
from assistant.answer.quotes import Quote, extended, joined
from assistant.answer.rescorer import DEFAULT_PATH, Rescorer, read_rescorer
from assistant.answer.retrieval import _reciprocal_rank_fusion, _zscore_fusion
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.types import Chunk, Hit, Sentence


@pytest.mark.parametrize("question, kinds", [
    ("When was the declaration signed?", {"when"}),
    ("In what year did Germany join?", {"when"}),
    ("Who hosts the GPAI Secretariat?", {"who"}),
    ("Whose data is shared with advertisers?", {"who"}),
    ("Which UK ministers signed the declaration?", {"which", "signing"}),
    ("Who signed the declaration on behalf of the United States?", {"who", "signing"}),
    ("Which British minister signed it?", {"signing"}),
    ("What third parties receive my data?", {"which"}),
    ("How many members does the partnership have?", {"quantity"}),
    ("What percentage of users opt out?", {"quantity"}),
    ("Where was the declaration signed?", {"where"}),
    ("In which cities was the declaration signed?", {"which"}),
    ("Does the company sell my data?", {"yesno"}),
    ("Who can see the signs of misuse?", {"who"}),
])
def test_answer_type_of_a_question(question: str, kinds: set[str]) -> None:
    types = answer_types(question)
    assert {kind for kind, held in vars(types).items() if held} == kinds


def test_a_signature_block_is_the_names_under_each_party_line() -> None:
    lines = ["Signed in London and Washington on 25 September 2020.", "For the United States:",
             "The Honorable Jane Doe", "Chief Technology Officer", "For the United Kingdom of Great Britain:",
             "The Right Honorable John Roe, MP"]
    windows = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (4, 5)]
    assert signature_windows(lines, windows) == [False, False, False, True, True, True]
    # Not a party line: lower case after "for", or text after the colon.
    assert not any(signature_windows(["For example:", "we share data", "for the purposes below:", "names"],
                                     [(1, 1), (3, 3)]))


def test_plain_what_question_asks_for_no_particular_type() -> None:
    assert not any(vars(answer_types("What is the e-identity collaboration about?")).values())


def test_excerpt_types_find_dates_numbers_and_names() -> None:
    has_date, has_number, names = excerpt_types("The partners met on 15 September 2021 in London with Jane Smith.")
    assert has_date == 1.0 and has_number == 1.0 and names > 0
    assert excerpt_types("we keep your data safe.") == (0.0, 0.0, 0.0)
    # A capital letter opening the sentence is not a name.
    assert excerpt_types("Security matters to us.")[2] == 0.0
    # A period is a date with its count, not on its own.
    assert excerpt_types("We keep it for 30 days, or three years.")[0] == 1.0
    assert excerpt_types("In the past years, the approach has grown.")[0] == 0.0


def test_features_follow_the_declared_order() -> None:
    values = excerpt_features(sim=0.7, best_sim=0.8, passage=1.0, passage_rank=2, dense=0.6, keyword=0.4,
                              terms=0.5,
                              phrase=0.25, excerpt_terms={"partner", "date", "london"},
                              question_terms={"partner", "when"}, text="They met in 2021.", first=True,
                              types=answer_types("When did they meet?"), byline=False,
                              signatory=False)
    named = dict(zip(FEATURES, values))
    assert len(values) == len(FEATURES)
    assert named["sim_gap"] == pytest.approx(-0.1)
    assert named["passage_rank"] == 0.5 and named["keyword"] == 0.4
    assert named["novelty"] == pytest.approx(2 / 3)
    assert named["when_date"] == 1.0 and named["quantity_number"] == 0.0
    assert named["first"] == 1.0


def test_shipped_rescorer_reads_and_orders_a_better_excerpt_higher() -> None:
    model = read_rescorer(DEFAULT_PATH)
    assert len(model.weights) == len(FEATURES) and len(model.answerable_weights) == len(ANSWERABILITY)
    base = dict.fromkeys(FEATURES, 0.0)
    weak = {**base, "sim": 0.2, "passage": 0.1, "terms": 0.1, "passage_rank": 0.2, "dense": 0.2}
    strong = {**base, "sim": 0.8, "passage": 1.0, "terms": 0.9, "passage_rank": 1.0, "dense": 0.8}
    assert 0.0 <= model.score(list(weak.values())) < model.score(list(strong.values())) <= 1.0
    # Strong evidence is answerable, none is not.
    assert model.answerable([0.8, 0.9, 0.8, 0.0, 0.2, 0.0]) > Settings().abstain_below > model.answerable(
        [0.1, 0.0, 0.1, 1.0, 0.0, 1.0])


def test_rescorer_file_with_other_features_is_a_clear_error(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["weights"].pop("sim")
    data["weights"]["shoe_size"] = 1.0
    path = tmp_path / "rescorer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"missing \['sim'\].*unknown \['shoe_size'\]"):
        read_rescorer(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a rescorer model"):
        read_rescorer(path)


def test_rescorer_round_trips_through_json(tmp_path: Path) -> None:
    model = Rescorer(tuple(float(i) for i in range(len(FEATURES))), -1.5, (1.0, 2.0, 3.0, -4.0, 5.0, -6.0), 0.25)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    assert read_rescorer(path) == model


def test_zscore_fusion_lets_a_sure_match_win_over_middling_ranks() -> None:
    # 30 candidates per list. Dense search is sure of item 0 (far above the rest); keyword
    # search is lost (evenly spread scores) and ranks item 0 27th. Item 1 is 5th in both.
    n = 30
    dense = np.linspace(0.6, 0.45, n)
    dense[0] = 0.9
    dense[[1, 4]] = dense[[4, 1]]
    keyword = np.linspace(10.0, 2.0, n)
    order = list(range(n))
    order[0], order[26] = order[26], order[0]
    order[1], order[4] = order[4], order[1]
    keyword = keyword[np.argsort(order)]
    rankings = [list(np.argsort(-dense)), list(np.argsort(-keyword))]
    assert rankings[0][0] == 0 and rankings[1].index(0) == 26
    assert rankings[0].index(1) == rankings[1].index(1) == 4
    rrf = _reciprocal_rank_fusion(rankings)
    zscore = _zscore_fusion(rankings, [dense, keyword])
    assert zscore[0] > zscore[1] and rrf[0] < rrf[1]  # rank fusion buries the sure match
    assert max(zscore, key=zscore.__getitem__) == 0
    assert set(zscore) == set(rrf)  # every item either list returned is scored


def test_zscore_fusion_agrees_with_both_lists_when_they_agree() -> None:
    dense = np.array([0.9, 0.7, 0.5, 0.3])
    keyword = np.array([12.0, 8.0, 4.0, 1.0])
    fused = _zscore_fusion([[0, 1, 2, 3], [0, 1, 2, 3]], [dense, keyword])
    assert sorted(fused, key=lambda i: -fused[i]) == [0, 1, 2, 3]


def test_unknown_fusion_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="fusion='max'"):
        Settings().with_overrides(fusion="max")


def _quote_parts(text: str) -> tuple[Hit, list[Sentence], SimpleNamespace]:
    """One passage over `text`, one sentence per line, every sentence its own excerpt window."""
    sentences, start = [], 0
    for n, line in enumerate(text.split("\n")):
        sentences.append(Sentence(start, start + len(line), paragraph=n))
        start += len(line) + 1
    chunk = Chunk("d:1", "d", 0, len(text), text, text, "", 0, None, "body", tuple(sentences),
                  tuple((i, i) for i in range(len(sentences))))
    return Hit(chunk, 1.0, 0.5, 1.0, 1), sentences, SimpleNamespace(text=text)


def test_a_quote_reads_on_into_a_neighbour_that_likely_answers() -> None:
    hit, s, doc = _quote_parts("The partners announced prize challenges.\nThey launch in spring 2022.\n"
                               "Unrelated closing words.\nThe prizes total 1 million.")

    def scored(*pairs: tuple[float, int]) -> list[Quote]:
        return [Quote(hit, s[i], s[i], p) for p, i in pairs]

    def spans(quotes: list[Quote]) -> list[tuple[int, int]]:
        return [(first.start, last.end) for _, first, last, _ in quotes]

    quotes: list[Quote] = [Quote(hit, s[0], s[0], 0.9)]
    found = scored((0.9, 0), (0.5, 3), (0.3, 1))
    # The next sentence, at 0.3 of the best's 0.9 (>= 0.2 x), joins the quote; a stronger one
    # two sentences away joins only when two sentences may be bridged.
    assert spans(extended(quotes, found, 0.2, lambda _: doc, gap=0, words=100)) == [(s[0].start, s[1].end)]
    assert spans(extended(quotes, found, 0.2, lambda _: doc, gap=1, words=100)) == [(s[0].start, s[1].end)]
    assert spans(extended(quotes, found, 0.2, lambda _: doc, gap=2, words=100)) == [(s[0].start, s[3].end)]
    # Below the share, or past the quote's length in words (5 + 5 here), nothing changes.
    assert extended(quotes, scored((0.9, 0), (0.1, 1)), 0.2, lambda _: doc, gap=2, words=100) == quotes
    assert extended(quotes, found, 0.2, lambda _: doc, gap=0, words=9) == quotes
    assert spans(extended(quotes, found, 0.2, lambda _: doc, gap=0, words=10)) == [(s[0].start, s[1].end)]
    # Nor when, with a quote it comes to meet, it would pass the limit (5 + 5 + 3 + 5 words).
    two: list[Quote] = [Quote(hit, s[0], s[0], 0.9), Quote(hit, s[2], s[3], 0.6)]
    reach = scored((0.9, 0), (0.6, 2), (0.3, 1))
    assert spans(extended(two, reach, 0.2, lambda _: doc, gap=0, words=17)) == spans(two)
    assert spans(extended(two, reach, 0.2, lambda _: doc, gap=0, words=18))[0] == (s[0].start, s[1].end)
    # A quote reads on once; a window overlapping it (sharing a sentence) does not count.
    twice = scored((0.9, 0), (0.5, 1), (0.4, 2))
    assert spans(extended(quotes, twice, 0.2, lambda _: doc, gap=0, words=100)) == [(s[0].start, s[1].end)]
    overlapping = [Quote(hit, s[0], s[0], 0.9), Quote(hit, s[0], s[1], 0.5), Quote(hit, s[2], s[2], 0.4)]
    assert spans(extended(quotes, overlapping, 0.2, lambda _: doc, gap=0, words=100)) == [(s[0].start, s[2].end)]
    # A neighbour before the quote widens it backwards.
    later: list[Quote] = [Quote(hit, s[1], s[1], 0.9)]
    widened = extended(later, scored((0.9, 1), (0.4, 0)), 0.2, lambda _: doc, gap=0, words=100)
    assert spans(widened) == [(s[0].start, s[1].end)]


def test_a_quote_reads_past_sentences_of_the_next_passage_but_not_past_other_text() -> None:
    text = "Plans were announced.\nThey build on work.\nAgencies lead it.\nLaunch is in spring.\n## Next\nMore."
    hit, s, doc = _quote_parts(text)
    first_passage = Hit(replace(hit.chunk, chunk_id="d:1", sentences=tuple(s[:2]), excerpts=((0, 0), (1, 1))),
                        1.0, 0.5, 1.0, 1)
    second_passage = Hit(replace(hit.chunk, chunk_id="d:2", sentences=tuple(s[2:4]), excerpts=((0, 0), (1, 1))),
                         0.8, 0.4, 0.8, 2)
    quotes: list[Quote] = [Quote(first_passage, s[0], s[0], 0.9)]
    launch = [Quote(first_passage, s[0], s[0], 0.9), Quote(second_passage, s[3], s[3], 0.3)]
    # Two sentences lie between, one of each passage: bridged, and quoted.
    widened = extended(quotes, launch, 0.2, lambda _: doc, gap=2, words=100)
    assert [(first.start, last.end) for _, first, last, _ in widened] == [(s[0].start, s[3].end)]
    assert extended(quotes, launch, 0.2, lambda _: doc, gap=1, words=100) == quotes
    # Read back into the passage before, the quote names the passage it now begins in.
    back_launch = [Quote(second_passage, s[3], s[3], 0.9), Quote(first_passage, s[0], s[0], 0.3)]
    back = extended([back_launch[0]], back_launch, 0.2, lambda _: doc, gap=2, words=100)
    assert [(h.chunk.chunk_id, first.start, last.end, p) for h, first, last, p in back] == \
        [("d:1", s[0].start, s[3].end, 0.9)]
    # A line that is no passage's sentence (a heading) is never bridged.
    third_passage = Hit(replace(hit.chunk, chunk_id="d:3", sentences=(s[5],), excerpts=((0, 0),)), 0.7, 0.3, 0.7, 3)
    later: list[Quote] = [Quote(second_passage, s[3], s[3], 0.9)]
    more = [Quote(second_passage, s[3], s[3], 0.9), Quote(third_passage, s[5], s[5], 0.5)]
    assert extended(later, more, 0.2, lambda _: doc, gap=2, words=100) == later


def test_quotes_that_come_to_overlap_are_merged_into_one() -> None:
    hit, s, doc = _quote_parts("One.\nTwo.\nThree.\nFour.\nFive.")
    # s0-s1 and s3-s4 are apart; s1-s3 bridges both: one quote s0-s4, in the place of the first.
    quotes = [Quote(hit, s[3], s[4], 0.9), Quote(hit, s[0], s[1], 0.8), Quote(hit, s[1], s[3], 0.5)]
    assert [(f.start, last.end, score) for _, f, last, score in joined(quotes, lambda _: doc, 100)] == \
        [(s[0].start, s[4].end, 0.9)]
    apart = [Quote(hit, s[0], s[0], 0.9), Quote(hit, s[2], s[2], 0.5)]  # "Two." lies between: not joined
    assert joined(apart, lambda _: doc, 100) == apart
    # Quotes that only follow each other are joined within the length limit (2 words here).
    following: list[Quote] = [Quote(hit, s[0], s[0], 0.9), Quote(hit, s[1], s[1], 0.5)]
    assert len(joined(following, lambda _: doc, 2)) == 1 and joined(following, lambda _: doc, 1) == following


def test_quotes_of_two_passages_joined_name_the_passage_they_begin_in() -> None:
    hit, s, doc = _quote_parts("One.\nTwo.\nThree.\nFour.")
    first_passage = Hit(replace(hit.chunk, chunk_id="d:1", sentences=tuple(s[:2])), 1.0, 0.5, 1.0, 1)
    second_passage = Hit(replace(hit.chunk, chunk_id="d:2", sentences=tuple(s[2:])), 0.8, 0.4, 0.8, 2)
    quotes: list[Quote] = [Quote(second_passage, s[2], s[3], 0.9), Quote(first_passage, s[0], s[1], 0.5)]
    assert [(h.chunk.chunk_id, f.start, last.end, p) for h, f, last, p in joined(quotes, lambda _: doc, 100)] == \
        [("d:1", s[0].start, s[3].end, 0.9)]
