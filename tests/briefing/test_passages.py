"""Passage ids: readable, the same on every rebuild of an unchanged document, and reported
stale (with where the text went) after an edit or removal. Real model, real indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.briefing.layout import Briefing, BriefingItem, stale_notices, verified
from assistant.cli import main
from assistant.errors import PassageIdError
from assistant.ingest.passages import PassageRef, format_passage_id, parse_passage_id
from assistant.pipeline import Assistant, build_index

from ..conftest import DATA, make_settings

QUESTIONS = ["When was the US-UK declaration signed?", "What does the EU project on human-centric AI do?",
             "What did the EU and US agree about AI safety?"]
DECLARATION = "us-uk-ai-rd-declaration-2020"


def cited_ids(assistant: Assistant) -> dict[str, str]:
    """passage id -> excerpt, for every citation of the sample questions."""
    return {c.passage_id: c.excerpt for q in QUESTIONS for c in assistant.ask(q).citations}


def test_ids_parse_and_format_round_trip() -> None:
    for text, ref in [("doc#p12@a3f9c2", PassageRef("doc", None, 12, "a3f9c2")),
                      ("my-report#page4-p2@0b61de", PassageRef("my-report", 4, 2, "0b61de")),
                      ("doc#p3", PassageRef("doc", None, 3, ""))]:
        assert parse_passage_id(text) == ref
        assert str(ref) == text == format_passage_id(ref.doc_id, ref.page, ref.paragraph, ref.version)
    for bad in ["doc", "doc#", "#p1", "doc#x1", "doc#p1@XYZ", "doc#page-p1", "doc#p1@abc"]:
        with pytest.raises(PassageIdError, match="not a passage id"):
            parse_passage_id(bad)


def test_every_citation_has_a_readable_id_that_shows_its_excerpt(seed_index, embedder) -> None:
    assistant = Assistant(seed_index, embedder)
    ids = cited_ids(assistant)
    assert len(ids) >= 5
    for pid, excerpt in ids.items():
        ref = parse_passage_id(pid)
        assert ref.version and ref.page is None  # text documents: doc#p12@version
        view = assistant.show(pid)
        assert view.status == "current" and view.passage_id == pid
        # The excerpt starts in the paragraph the id names.
        assert " ".join(excerpt.split()[:6]) in " ".join(view.text.split())


@pytest.mark.slow
def test_ids_are_stable_across_rebuilds_of_an_unchanged_corpus(corpus_copy: Path, tmp_path: Path,
                                                               embedder) -> None:
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    before = cited_ids(Assistant(settings, embedder))
    build_index(settings, full=True, embedder=embedder)  # everything re-parsed and re-embedded
    after = cited_ids(Assistant(settings, embedder))
    assert before == after
    # And a second index built elsewhere from the same files gives the same ids.
    other = make_settings(corpus_copy, tmp_path / "other-index")
    build_index(other, embedder=embedder)
    assert cited_ids(Assistant(other, embedder)) == before


@pytest.mark.slow
def test_an_edit_makes_ids_stale_and_show_points_to_where_the_text_went(corpus_copy: Path, tmp_path: Path,
                                                                       embedder, capsys) -> None:
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    assistant = Assistant(settings, embedder)
    citation = next(c for c in assistant.ask(QUESTIONS[0]).citations if c.doc_id == DECLARATION)
    assert assistant.is_current(citation)
    old_id, old_text = citation.passage_id, assistant.show(citation.passage_id).text

    # Insert a paragraph at the top: every paragraph moves down by one.
    path = corpus_copy / f"{DECLARATION}.txt"
    path.write_text("A paragraph added by an editor, after the first build of the index.\n\n"
                    + path.read_text(encoding="utf-8"), encoding="utf-8")
    build_index(settings, embedder=embedder)
    assistant = Assistant(settings, embedder)
    assert not assistant.is_current(citation)
    briefing = Briefing("T", (BriefingItem("Q", (citation,)),))
    assert verified(briefing, assistant.source_of) == (briefing, [])  # still verbatim in its version
    assert [old_id in n for n in stale_notices(briefing, assistant.is_current)] == [True]
    view = assistant.show(old_id)
    assert view.status == "changed"
    assert view.text == old_text  # the passage as it was cited, from the archive
    assert view.whole and len(view.relocations) == 1
    moved = parse_passage_id(view.relocations[0].passage_id)
    old = parse_passage_id(old_id)
    assert moved.paragraph == old.paragraph + 1 and moved.version != old.version
    assert assistant.show(str(moved)).status == "current"

    # The command says so, and exits with 3.
    args = ["--corpus", str(corpus_copy), "--index", str(settings.index_dir)]
    assert main(["show", old_id, *args]) == 3
    out = capsys.readouterr().out
    assert "STALE" in out and str(moved) in out
    assert main(["show", old_id, "--json", *args]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "changed" and data["whole_text_now_at"] == str(moved)

    # Rewrite the cited paragraph itself: show says none (or only part) of it is left.
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old_text, "This paragraph was rewritten entirely."), encoding="utf-8")
    build_index(settings, embedder=embedder)
    view = Assistant(settings, embedder).show(old_id)
    assert view.status == "changed" and not view.whole and view.relocations == ()

    # Remove the document: the id still shows what it named, marked as removed.
    path.unlink()
    build_index(settings, embedder=embedder)
    view = Assistant(settings, embedder).show(old_id)
    assert view.status == "removed" and view.text == old_text
    assert main(["show", old_id, *args]) == 3
    assert "no longer in the corpus" in capsys.readouterr().out


def test_unknown_ids_are_refused_clearly(seed_index, embedder) -> None:
    assistant = Assistant(seed_index, embedder)
    with pytest.raises(PassageIdError, match="no paragraph p999"):
        assistant.show(f"{DECLARATION}#p999")
    with pytest.raises(PassageIdError, match="never seen version abcdef"):
        assistant.show(f"{DECLARATION}#p1@abcdef")
    with pytest.raises(PassageIdError, match="no document 'nope'"):
        assistant.show("nope#p1")


@pytest.mark.slow
def test_pdf_ids_name_the_page(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pdfs = sorted((DATA / "pdfs").glob("*.pdf"))
    assert pdfs, "tests/data holds a few small real PDFs"
    for pdf in pdfs:
        (corpus / pdf.name).write_bytes(pdf.read_bytes())
    settings = make_settings(corpus, tmp_path / "index")
    report = build_index(settings, embedder=embedder)
    assistant = Assistant(settings, embedder)
    doc_id = next(iter(assistant.store.documents))
    chunk = next(c for c in assistant.store.chunks if c.doc_id == doc_id and c.page)
    pid = format_passage_id(doc_id, chunk.page, chunk.paragraph)
    view = assistant.show(pid)
    assert view.passage_id.startswith(f"{doc_id}#page{chunk.page}-p{chunk.paragraph}@")
    assert chunk.sentences[0].start >= view.paragraph.start
    assert report.total_chunks > 0
    with pytest.raises(PassageIdError, match="is a PDF"):
        assistant.show(f"{doc_id}#p1")
