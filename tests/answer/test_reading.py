"""Answers with the reading model on (ASSISTANT_READER=on): the invariants hold whatever the
model's figures. These use a reader whose heads are not trained yet (the real encoder, real
weights on disk, loaded as the product loads them); what a trained reader scores is printed by
scripts/train_reader.py and benchmarks/answer_quality.py, not asserted here."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.answer.blend import BLEND, EVEN_BLEND, blend_at, read_blend
from assistant.answer.reader import Reader
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.indexing.embedding import SentenceTransformerEmbedder
from assistant.pipeline import Assistant
from assistant.render import answer_to_json

from ..conftest import SHARED

QUESTIONS = [json.loads(line)["question"] for line in
             (SHARED / "eval" / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines()[:12]]


def reading(settings: Settings, folder: Path, **overrides: object) -> Settings:
    return settings.with_overrides(reader="on", reader_dir=folder, **overrides)


def test_marked_answers_are_verbatim_and_inside_their_quotes(
        seed_index: Settings, embedder: SentenceTransformerEmbedder, untrained_reader: Path) -> None:
    assistant = Assistant(reading(seed_index, untrained_reader, reader_abstain_below=0.0,
                                  reader_mark_above=float("-inf")), embedder)
    marked = 0
    for question in QUESTIONS:
        answer = assistant.ask(question)
        for citation in answer.citations:
            doc = assistant.document(citation.doc_id)
            assert doc is not None and doc.text[citation.start:citation.end] == citation.excerpt
            if citation.answer is not None:
                marked += 1
                span = citation.answer
                assert citation.start <= span.start < span.end <= citation.end
                assert doc.text[span.start:span.end] == span.text
                data = answer_to_json(answer)["citations"][citation.n - 1]
                assert data["answer"] == {"text": span.text, "start": span.start, "end": span.end}
    assert marked >= len(QUESTIONS) // 2  # marking forced on: most answers carry a marked span


def test_the_reader_refuses_below_its_threshold_and_answers_above_it(
        seed_index: Settings, embedder: SentenceTransformerEmbedder, untrained_reader: Path) -> None:
    question = QUESTIONS[0]
    assert not Assistant(seed_index, embedder).ask(question).abstained
    sure = Assistant(reading(seed_index, untrained_reader, reader_abstain_below=0.0), embedder).ask(question)
    assert not sure.abstained and sure.citations
    refused = Assistant(reading(seed_index, untrained_reader, reader_abstain_below=1.0), embedder).ask(question)
    assert refused.abstained and not refused.citations and refused.closest


def test_reader_off_marks_nothing(seed_index: Settings, embedder: SentenceTransformerEmbedder) -> None:
    assistant = Assistant(seed_index.with_overrides(reader="off"), embedder)
    assert assistant.reader is None
    assert all(c.answer is None for q in QUESTIONS[:4] for c in assistant.ask(q).citations)


def test_a_missing_reader_or_a_bad_mode_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no reader model"):
        Reader(tmp_path)
    with pytest.raises(ConfigError, match="reader='maybe'"):
        Settings().with_overrides(reader="maybe")
    with pytest.raises(ConfigError, match="reader_excerpts=0: give 1 or more"):
        Settings.from_env({"ASSISTANT_READER_EXCERPTS": "0"})
    assert Settings.from_env({"ASSISTANT_READER": "on"}).reader == "on"


def test_an_int8_reader_reads_like_the_float32_one(untrained_reader: Path) -> None:
    texts = ["The declaration was signed on 25 September 2020 in London and Washington.",
             "Officials met in Seoul to discuss frontier AI safety.", "The fund supports outreach projects."]
    exact, quantised = Reader(untrained_reader), Reader(untrained_reader, "int8")
    question = "When was the declaration signed?"
    full, int8 = exact.read(question, texts), quantised.read(question, texts)
    assert [abs(a.score - b.score) < 0.5 for a, b in zip(full, int8)] == [True] * len(texts)
    assert all(0 <= r.start < r.end <= len(t) for r, t in zip(int8, texts))
    with pytest.raises(ConfigError, match="reader_precision='int4'"):
        Settings.from_env({"ASSISTANT_READER_PRECISION": "int4"})


def test_a_blend_reads_back_and_a_bad_one_is_a_clear_error(tmp_path: Path) -> None:
    blend = replace(EVEN_BLEND, weights=(0.25, 1.5, 0.1), bias=-1.0, answerable_bias=2.0, within=0.7)
    (tmp_path / BLEND).write_text(json.dumps(blend.to_json()), encoding="utf-8")
    assert read_blend(tmp_path / BLEND) == blend
    assert blend_at(tmp_path / "no-such-folder") == EVEN_BLEND
    (tmp_path / BLEND).write_text(json.dumps({"weights": {"rescorer": 1.0}, "bias": 0.0}), encoding="utf-8")
    with pytest.raises(ConfigError, match="not a reader blend"):
        read_blend(tmp_path / BLEND)


def test_the_blend_beside_the_reader_decides_refusals(
        seed_index: Settings, embedder: SentenceTransformerEmbedder, untrained_reader: Path, tmp_path: Path) -> None:
    question = QUESTIONS[0]
    for bias, refuses in ((-60.0, True), (60.0, False)):
        folder = shutil.copytree(untrained_reader, tmp_path / f"reader{bias}")
        blend = replace(EVEN_BLEND, answerable_bias=bias)
        (folder / BLEND).write_text(json.dumps(blend.to_json()), encoding="utf-8")
        answer = Assistant(reading(seed_index, folder), embedder).ask(question)
        assert answer.abstained == refuses and bool(answer.citations) != refuses


def test_the_blends_within_lowers_the_cuts_relative_to_the_best_excerpt(
        seed_index: Settings, embedder: SentenceTransformerEmbedder, untrained_reader: Path, tmp_path: Path) -> None:
    quoted = {}
    for within in (1.0, 0.05):
        folder = shutil.copytree(untrained_reader, tmp_path / f"reader{within}")
        blend = replace(EVEN_BLEND, answerable_bias=60.0, within=within)
        (folder / BLEND).write_text(json.dumps(blend.to_json()), encoding="utf-8")
        assistant = Assistant(reading(seed_index, folder), embedder)
        answers = [assistant.ask(q) for q in QUESTIONS[:6]]
        quoted[within] = sum(len(c.excerpt.split()) for a in answers for c in a.citations)
    assert quoted[0.05] > quoted[1.0]  # more quotes kept, and widened further


def test_the_shipped_reader_loads_offline_with_its_card_and_blend() -> None:
    from assistant.answer.reader import CARD, DEFAULT_DIR, WEIGHTS, reader_at

    assert (DEFAULT_DIR / WEIGHTS).stat().st_size < 40e6  # the limit on weights in the repo
    card = json.loads((DEFAULT_DIR / CARD).read_text(encoding="utf-8"))
    assert card["held_out"]["squad2"]["documents"] and card["figures"]["reader"]["squad2"]["questions"]
    blend = json.loads((DEFAULT_DIR / BLEND).read_text(encoding="utf-8"))
    assert read_blend(DEFAULT_DIR / BLEND) != EVEN_BLEND and blend["report"]
    assert blend["trained"]["reader_precision"] == Settings().reader_precision
    assert blend["trained"]["reader_excerpts"] == Settings().reader_excerpts
    readings = reader_at(DEFAULT_DIR, Settings().reader_precision).read(
        "When was the declaration signed?", ["The declaration was signed on 25 September 2020 in London.",
                                             "Officials met in Seoul to discuss frontier AI safety."])
    assert readings[0].score > readings[1].score  # trained: the sentence that answers reads as answering
    assert "25 September 2020" in "The declaration was signed on 25 September 2020 in London."[
        readings[0].start:readings[0].end]


def test_a_signature_block_or_a_byline_is_left_to_the_rescorer_alone(
        seed_index: Settings, embedder: SentenceTransformerEmbedder, untrained_reader: Path) -> None:
    off = Assistant(seed_index, embedder)
    on = Assistant(reading(seed_index, untrained_reader, reader_mark_above=float("-inf")), embedder)
    for question in ("Which UK ministers signed the US-UK AI declaration?",  # a signature block answers
                     "Who is the author of the article on the US-EU AI safety alliance?"):  # a byline answers
        without, with_reader = off.ask(question), on.ask(question)
        assert [(c.doc_id, c.start, c.end) for c in with_reader.citations] == \
               [(c.doc_id, c.start, c.end) for c in without.citations]
        assert with_reader.citations and all(c.answer is None for c in with_reader.citations)


def test_who_signed_is_read_when_no_signature_block_answers(
        tmp_path: Path, embedder: SentenceTransformerEmbedder, untrained_reader: Path) -> None:
    """Where prose says who signed (a contract's parties, an accord's ministers), the reader reads
    it as any other question: only a signature block or a byline is left to the rescorer."""
    from assistant.pipeline import build_index

    from ..conftest import make_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kestrel-accord.txt").write_text(
        "The Kestrel Accord\n\nThe Kestrel Accord on maritime data was agreed in Tromso in March 2031. It was signed "
        "by the fisheries ministers of Norway, Iceland and the Faroe Islands. The accord sets common rules for "
        "sharing catch data between their fleets.\n", encoding="utf-8")
    settings = make_settings(corpus, tmp_path / "index")
    build_index(settings, embedder=embedder)
    on = Assistant(reading(settings, untrained_reader, reader_mark_above=float("-inf"), reader_abstain_below=0.0),
                   embedder)
    answer = on.ask("Who signed the Kestrel Accord?")
    assert answer.citations and any(c.answer is not None for c in answer.citations)  # marked: it was read
