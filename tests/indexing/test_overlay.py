"""Overlay versions: an incremental build of a large index writes only the documents that changed,
layered over the served version, and serves what a version written whole would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.indexing import layered, store
from assistant.indexing.build import reuse
from assistant.pipeline import Assistant, build_index

from ..conftest import make_settings

QUESTIONS = ("When do the US and UK expect to launch their prize challenges?",
             "Which UK ministers signed the US-UK AI declaration?",
             "What is the International Alliance for a Human-Centric Approach to AI?",
             "What did the summit declaration say about frontier AI safety?")
EDITED = "eu-international-alliance-human-centric-ai-project.txt"


def layered_settings(corpus: Path, index: Path, **overrides: object):  # type: ignore[no-untyped-def]
    """Overlays at any size (the default writes them above 50,000 passages only)."""
    return make_settings(corpus, index, overlay_above=0, overlay_share=1.0, **overrides)


def manifest(settings) -> dict:  # type: ignore[no-untyped-def]
    version = store.current_version(settings.index_dir)
    assert version is not None
    return json.loads((version / "manifest.json").read_text(encoding="utf-8"))


def edit(path: Path, sentence: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n\n{sentence}\n", encoding="utf-8")


def assert_serves_the_same(settings, whole_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """The overlay, opened over its base, serves what a version written whole serves."""
    over, whole = layered.load(settings.index_dir), layered.load(whole_settings.index_dir)
    assert isinstance(over, layered.LayeredStore) and isinstance(whole, store.IndexStore)
    assert set(over.entries) == set(whole.entries)
    for doc_id in whole.entries:
        mine = [c.chunk_id for c, _ in over.passages(list(over.rows_of([doc_id])))]
        assert mine == [c.chunk_id for c, _ in whole.passages(list(whole.rows_of([doc_id])))], doc_id
    assert over.live == whole.size
    assert sorted(chunk_ids(over, over.byline_rows)) == sorted(chunk_ids(whole, whole.byline_rows))
    # BM25 weights are normalised by the base's average passage length: the manifest records how far
    # the served passages' average is from it, and scores differ from the whole version's by no more.
    base_average = json.loads((over.base.path / "manifest.json").read_text())["keyword"]["average_length"]
    drift = over.manifest["overlay"]["average_length_drift"]
    assert drift == pytest.approx(abs(whole.manifest["keyword"]["average_length"] / base_average - 1), abs=1e-3)
    for question in QUESTIONS:
        vector = embedder.encode([question])[0]
        mine, theirs = over.search(vector, 10), whole.search(vector, 10)
        # The same text embedded in another batch (other padding) can differ by ~1e-4 on some
        # CPUs (seen on AMD EPYC): the whole build embeds every passage, the overlay reuses most.
        # So near-ties may swap: the same passages with the same scores, to that tolerance.
        ours = dict(zip(chunk_ids(over, [r for r, _ in mine]), (s for _, s in mine)))
        whole_top = dict(zip(chunk_ids(whole, [r for r, _ in theirs]), (s for _, s in theirs)))
        assert np.allclose(sorted(ours.values()), sorted(whole_top.values()), atol=1e-3), question
        for chunk_id in ours.keys() & whole_top.keys():
            assert ours[chunk_id] == pytest.approx(whole_top[chunk_id], abs=1e-3)
        last = min(whole_top.values())
        assert all(abs(score - last) <= 1e-3 for c, score in {**ours, **whole_top}.items()
                   if c not in ours.keys() & whole_top.keys()), question
        terms = [t for t in question.lower().replace("?", "").split() if over.keyword.knows(t)]
        mine, theirs = over.keyword_ranking(terms, 10), whole.keyword_ranking(terms, 10)
        assert set(chunk_ids(over, [r for r, _ in mine[:5]])) == set(chunk_ids(whole, [r for r, _ in theirs[:5]]))
        assert np.allclose(sorted(s for _, s in mine), sorted(s for _, s in theirs), rtol=drift + 1e-3)
        assert [over.keyword.term_idf(t) for t in terms] == pytest.approx([whole.keyword.term_idf(t) for t in terms])
    answers = Assistant(settings, embedder), Assistant(whole_settings, embedder)
    for question in QUESTIONS:
        mine, theirs = (a.ask(question) for a in answers)
        assert [(c.doc_id, c.excerpt) for c in mine.citations] == [(c.doc_id, c.excerpt) for c in theirs.citations]


def chunk_ids(opened, rows) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.chunk_id for c, _ in opened.passages([int(r) for r in rows])]


@pytest.mark.slow
def test_an_edit_writes_only_that_document_over_the_served_version(corpus_copy: Path, tmp_path: Path,
                                                                   embedder) -> None:  # type: ignore[no-untyped-def]
    settings = layered_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    base = store.current_version(settings.index_dir)
    assert manifest(settings)["format"] == store.FORMAT_VERSION
    edit(corpus_copy / EDITED, "A paragraph added at the end of the page, about the alliance's next steps.")
    report = build_index(settings, embedder=embedder)
    assert report.changed == (EDITED,) and len(report.unchanged) == 4
    written = manifest(settings)
    assert written["format"] == store.OVERLAY_FORMAT and written["overlay"]["base"] == base.name
    whole = make_settings(corpus_copy, tmp_path / "whole")
    build_index(whole, embedder=embedder, full=True)
    entry = layered.load(whole.index_dir).entries[EDITED.removesuffix(".txt")]
    # Only the edited document's rows were written; the base folder was not touched.
    assert written["counts"]["chunks"] == entry.end_row - entry.first_row
    assert report.total_chunks == layered.load(whole.index_dir).size
    assert 0 < report.embedded_chunks <= 2
    assert_serves_the_same(settings, whole, embedder)


@pytest.mark.slow
def test_overlays_follow_edits_additions_and_removals_then_write_whole(
        corpus_copy: Path, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Five documents: every edit moves the average passage length by more than a large index's would.
    monkeypatch.setattr(reuse, "AVERAGE_DRIFT", 1.0)
    settings = layered_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    base = store.current_version(settings.index_dir)
    edit(corpus_copy / EDITED, "A first paragraph added later.")
    build_index(settings, embedder=embedder)
    first_overlay = store.current_version(settings.index_dir)
    files = sorted(p for p in corpus_copy.iterdir() if p.suffix == ".txt")
    other = next(p for p in files if p.name != EDITED)
    edit(other, "Another paragraph, added to a second document.")
    removed = next(p for p in files if p.name not in (EDITED, other.name))
    removed.unlink()
    (corpus_copy / "added-note.txt").write_text(
        "Note on AI cooperation\n\nThe partners agreed to share evaluation methods for advanced AI models "
        "and to meet again next year.\n", encoding="utf-8")
    report = build_index(settings, embedder=embedder)
    assert report.removed == (removed.name,) and report.added == ("added-note.txt",)
    written = manifest(settings)
    # Still layered over the first base: the edited documents of both builds are in the new overlay.
    assert written["overlay"]["base"] == base.name and written["overlay"]["hidden_documents"] == 3
    kept = {p.name for p in settings.index_dir.glob("v-*")}
    assert kept == {base.name, first_overlay.name, store.current_version(settings.index_dir).name}
    whole = make_settings(corpus_copy, tmp_path / "whole")
    build_index(whole, embedder=embedder, full=True)
    assert_serves_the_same(settings, whole, embedder)
    # Once the average passage length has moved by AVERAGE_DRIFT, or the overlay would replace more
    # than overlay_share of the base, the next build writes a whole version again.
    monkeypatch.undo()
    assert written["overlay"]["average_length_drift"] >= reuse.AVERAGE_DRIFT
    edit(other, "One more paragraph.")
    report = build_index(settings, embedder=embedder)
    assert manifest(settings)["format"] == store.FORMAT_VERSION
    opened = layered.load(settings.index_dir)
    assert isinstance(opened, store.IndexStore) and opened.size == report.total_chunks
    assert Assistant(settings, embedder).ask(QUESTIONS[0]).citations
    edit(other, "And one more.")
    build_index(settings, embedder=embedder)
    assert manifest(settings)["format"] == store.OVERLAY_FORMAT
    edit(other, "And the last one.")
    build_index(settings.with_overrides(overlay_share=0.01), embedder=embedder)
    assert manifest(settings)["format"] == store.FORMAT_VERSION


@pytest.mark.slow
def test_new_acronyms_or_a_small_index_write_a_whole_version(corpus_copy: Path, tmp_path: Path,
                                                             embedder) -> None:  # type: ignore[no-untyped-def]
    settings = layered_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    edit(corpus_copy / EDITED, "The Frontier Evaluation Working Group (FEWG) met in Brussels.")
    build_index(settings, embedder=embedder)  # every passage's terms change: not an overlay
    assert manifest(settings)["format"] == store.FORMAT_VERSION
    assert "FEWG" in layered.load(settings.index_dir).acronyms
    edit(corpus_copy / EDITED, "Yet another paragraph.")
    build_index(make_settings(corpus_copy, settings.index_dir), embedder=embedder)  # default: above 50,000 only
    assert manifest(settings)["format"] == store.FORMAT_VERSION


@pytest.mark.slow
def test_a_failed_overlay_build_leaves_the_served_version(corpus_copy: Path, tmp_path: Path,
                                                          embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    settings = layered_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    edit(corpus_copy / EDITED, "A first paragraph added later.")
    build_index(settings, embedder=embedder)
    served = store.current_version(settings.index_dir)
    before = Assistant(settings, embedder).ask(QUESTIONS[2])
    edit(corpus_copy / EDITED, "A paragraph whose embedding fails.")

    def broken(*_args: object, **_kwargs: object) -> np.ndarray:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(embedder, "encode", broken)
    with pytest.raises(RuntimeError):
        build_index(settings, embedder=embedder)
    monkeypatch.undo()
    assert store.current_version(settings.index_dir) == served
    after = Assistant(settings, embedder).ask(QUESTIONS[2])
    assert [c.excerpt for c in after.citations] == [c.excerpt for c in before.citations]
