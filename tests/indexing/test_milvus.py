"""The index served from a real Milvus server (milvus-lite's, over the network): the same answers
as the embedded index, published atomically, with one clear line for each way it can be missing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexError_, IndexMismatchError
from assistant.indexing import store as index_store
from assistant.indexing.milvus import parse_location
from assistant.indexing.milvus import publish as publishing
from assistant.indexing.milvus.layout import versions_of
from assistant.indexing.milvus.location import connect
from assistant.indexing.milvus.publish import publish, served_collection
from assistant.indexing.opening import open_store
from assistant.indexing.store import IndexIdentity
from assistant.pipeline import Assistant, build_index
from assistant.types import Answer

from ..conftest import REPO, SHARED, DroppingProxy, MilvusServer, free_port, make_settings

pytestmark = pytest.mark.milvus

DEV_QUESTIONS = SHARED / "eval" / "dev_qa.jsonl"
QUESTIONS = ("Which UK ministers signed the US-UK AI declaration?",
             "When do the US and UK expect to launch their prize challenges?",
             "What is the International Alliance for a Human-Centric Approach to AI?",
             "Who wrote the article on US-EU AI safety collaboration?",
             "What is the capital of Australia?")


def _questions() -> list[str]:
    if DEV_QUESTIONS.exists():  # the shared dev set, where it is beside the repo (as in CI)
        return [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    return list(QUESTIONS)


def _same_answer(answer: Answer) -> tuple[object, ...]:
    return (answer.text, answer.abstained,
            [(c.passage_id, c.start, c.end, c.excerpt, round(c.score, 3)) for c in answer.citations],
            [(c.passage_id, c.start, c.end) for c in answer.closest])


@pytest.fixture(scope="module")
def published(seed_index, milvus_server: MilvusServer):  # type: ignore[no-untyped-def]
    """The seed corpus's index, published to the collection `seed`."""
    settings = seed_index.with_overrides(store=milvus_server.store("seed"))
    staged = index_store.load(seed_index.index_dir)
    location = parse_location(settings.store)
    assert location is not None
    publish(staged, location)
    return settings


def test_answers_through_milvus_are_the_embedded_index_answers(seed_index, published, embedder) -> None:  # type: ignore[no-untyped-def]
    embedded, milvus = Assistant(seed_index, embedder), Assistant(published, embedder)
    assert milvus.store.version.startswith("seed__v_") and milvus.store.size == embedded.store.size
    for question in _questions():
        assert _same_answer(milvus.ask(question)) == _same_answer(embedded.ask(question)), question
    # Asked within one document: the scope is a filter in Milvus.
    doc = "us-uk-ai-rd-declaration-2020"
    scoped = milvus.ask(QUESTIONS[1], doc_ids=[doc])
    assert _same_answer(scoped) == _same_answer(embedded.ask(QUESTIONS[1], doc_ids=[doc]))
    assert scoped.citations and {c.doc_id for c in scoped.citations} == {doc}
    assert milvus.summary().documents == embedded.summary().documents


def _ids(store, rows) -> list[str]:  # type: ignore[no-untyped-def]
    """The chunk ids at these rows (Milvus numbers a document's passages from its key, the
    embedded index from the start of the corpus: the same passage, other rows)."""
    return [chunk.chunk_id for chunk, _ in store.passages([int(r) for r in rows])]


def test_both_backends_rank_and_store_alike(seed_index, published) -> None:  # type: ignore[no-untyped-def]
    embedded, milvus = open_store(seed_index), open_store(published)
    assert _ids(milvus, milvus.byline_rows) == _ids(embedded, embedded.byline_rows)
    assert milvus.acronyms == embedded.acronyms and milvus.corpus_words == embedded.corpus_words
    for doc_id in embedded.entries:
        assert milvus.document(doc_id) == embedded.document(doc_id)
        assert _ids(milvus, milvus.rows_of([doc_id])) == _ids(embedded, embedded.rows_of([doc_id]))
    # BM25 in Milvus (sparse inner product, idf on the question's side) scores as the embedded postings do.
    rows = [0, 5, embedded.size - 1]
    chunks = [chunk for chunk, _ in embedded.passages(rows)]
    their_rows = [milvus._row_of(chunk) for chunk in chunks]
    for terms in (["ai"], ["research", "cooper", "safeti"], ["uk", "minist", "declar"], ["zzzunknown"]):
        for doc in (None, "us-uk-ai-rd-declaration-2020"):
            mine = milvus.keyword_ranking(terms, 10, None if doc is None else milvus.rows_of([doc]))
            theirs = embedded.keyword_ranking(terms, 10, None if doc is None else embedded.rows_of([doc]))
            assert _ids(milvus, [r for r, _ in mine]) == _ids(embedded, [r for r, _ in theirs]), terms
            assert np.allclose([s for _, s in mine], [s for _, s in theirs], atol=1e-4)
        assert np.allclose(milvus.keyword_scores(terms, their_rows), embedded.keyword_scores(terms, rows), atol=1e-4)
        assert milvus.keyword.term_idf(terms[0]) == pytest.approx(embedded.keyword.term_idf(terms[0]))
    vector = np.asarray(embedded.vectors[3])
    assert _ids(milvus, [r for r, _ in milvus.search(vector, 8)]) == _ids(embedded, [r for r, _ in
                                                                                   embedded.search(vector, 8)])
    assert np.allclose(milvus.cosines(vector, np.array(their_rows)), embedded.cosines(vector, np.array(rows)),
                       atol=1e-5)
    assert [c for c, _ in milvus.passages(their_rows)] == chunks
    for mine, theirs in zip(milvus.excerpt_vectors_of(chunks), embedded.excerpt_vectors_of(chunks)):
        assert np.allclose(mine, theirs, atol=1e-6)


def test_a_failed_publish_leaves_the_served_version(published, corpus_copy: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    embedder, milvus_server: MilvusServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    location = parse_location(milvus_server.store("seed"))
    assert location is not None
    client = connect(location)
    before = served_collection(client, "seed")
    # A new version to publish: the corpus with one more document.
    (corpus_copy / "zz-new-note.txt").write_text(
        "Zebrafish Accord\n\nThe Zebrafish Accord on AI evaluation was signed in Reykjavik in March 2031.\n",
        encoding="utf-8")
    staging = make_settings(corpus_copy, tmp_path / "index")
    build_index(staging, embedder=embedder)
    staged = index_store.load(staging.index_dir)
    calls = {"n": 0}
    real_insert = publishing._insert

    def failing_insert(client_, collection: str, rows) -> None:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 2:  # part way through: the server went away, the disk filled, ...
            raise RuntimeError("connection lost")
        real_insert(client_, collection, rows)

    monkeypatch.setattr(publishing, "_insert", failing_insert)
    with pytest.raises(RuntimeError, match="connection lost"):
        publish(staged, location)
    monkeypatch.undo()
    assert served_collection(client, "seed") == before
    assert all(v.passages != f"seed__{staged.version.replace('-', '_')}"
               for v in versions_of("seed", client.list_collections()))
    serving = Assistant(published, embedder)
    assert serving.store.version == before and not serving.ask(QUESTIONS[0]).abstained
    # Published for real, the same server (not restarted) answers from the new version.
    publish(staged, location)
    assert serving.reload_if_changed()
    answer = serving.ask("Where was the Zebrafish Accord signed?")
    assert answer.citations and answer.citations[0].doc_id == "zz-new-note"
    assert "Reykjavik" in answer.citations[0].excerpt
    # Put the shared collection back as the other tests expect it.
    publish(index_store.load(published.index_dir), location)
    client.close()


def test_missing_unreachable_and_mismatched_indexes_are_one_clear_line(published, milvus_server: MilvusServer,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path, embedder) -> None:
    with pytest.raises(IndexError_, match=r"no index published there yet; run `assistant index --store "
                                          r"milvus://127\.0\.0\.1:\d+/nothing_here`"):
        open_store(published.with_overrides(store=milvus_server.store("nothing_here")))
    other = IndexIdentity("another-model", 768, 6, 200)
    from assistant.indexing.milvus.reader import open_milvus

    location = parse_location(published.store)
    assert location is not None
    with pytest.raises(IndexMismatchError, match=r"built with model all-MiniLM-L6-v2.*--full"):
        open_milvus(location, other)
    # Published by an older version of the assistant (no numbering): refused, naming the command.
    older = parse_location(milvus_server.store("older_format"))
    assert older is not None
    name = publish(index_store.load(published.index_dir), older)
    client = connect(older)
    client.delete(f"{name}__blobs", filter='name == "layout"')
    client.close()
    with pytest.raises(IndexError_, match=r"published by an older version of the assistant; run `assistant "
                                          r"index --store milvus://127\.0\.0\.1:\d+/older_format` --full"):
        open_milvus(older)
    # The command it names (a rebuild, --full or not) publishes it again, though its content is unchanged.
    staging = tmp_path / "staging"
    shutil.copytree(published.index_dir, staging)
    build_index(published.with_overrides(index_dir=staging, store=str(older)), embedder=embedder)
    assert open_milvus(older).numbering is not None
    # From the command line: nothing listens on the port.
    nobody = f"milvus://127.0.0.1:{free_port()}/seed"
    done = subprocess.run([sys.executable, "-m", "assistant", "ask", "--store", nobody, "--index", str(tmp_path),
                           "-q", "What is AI?"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {nobody}: cannot reach a Milvus server"), done.stderr
    bad = subprocess.run([sys.executable, "-m", "assistant", "ask", "--store", "milvus://host/9bad", "-q", "x"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "collection name must be letters" in bad.stderr


def test_store_setting_comes_from_the_environment() -> None:
    from assistant.config import Settings
    from assistant.errors import ConfigError

    assert Settings.from_env({"ASSISTANT_STORE": "milvus://db:19530/policy"}).store == "milvus://db:19530/policy"
    with pytest.raises(ConfigError, match="milvus://HOST:PORT/COLLECTION"):
        Settings.from_env({"ASSISTANT_STORE": "postgres://db/x"})
    assert dataclasses.replace(Settings(), store="").store == ""


def test_old_passage_ids_resolve_on_a_server_without_the_build_folders(corpus_copy: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                     embedder, milvus_server: MilvusServer) -> None:
    from assistant.pipeline import show_passage

    store = milvus_server.store("archived")
    building = make_settings(corpus_copy, tmp_path / "staging", store=store)
    build_index(building, embedder=embedder)  # staged, then published with its passage archive
    serving = make_settings(tmp_path / "nothing", tmp_path / "empty-index", store=store)  # a chat server elsewhere
    cited = Assistant(serving, embedder).ask(QUESTIONS[0]).citations
    citation = next(c for c in cited if c.doc_id == "us-uk-ai-rd-declaration-2020")
    old_text = show_passage(serving, citation.passage_id).text
    path = corpus_copy / "us-uk-ai-rd-declaration-2020.txt"
    path.write_text("A paragraph added by an editor.\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    build_index(building, embedder=embedder)
    view = show_passage(serving, citation.passage_id)
    assert view.status == "changed" and view.text == old_text  # the version it was cited from
    assert view.whole and view.relocations and view.relocations[0].passage_id != citation.passage_id
    assert not (tmp_path / "empty-index").exists() or not any((tmp_path / "empty-index").iterdir())


def test_a_server_that_goes_away_is_one_line_not_a_crash(seed_index, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ..conftest import milvus_lite

    with milvus_lite(tmp_path) as server:
        settings = seed_index.with_overrides(store=server.store("short_lived"))
        location = parse_location(settings.store)
        assert location is not None
        publish(index_store.load(seed_index.index_dir), location)
        assistant = Assistant(settings, embedder)
        assert not assistant.ask(QUESTIONS[0]).abstained
    # The server has stopped: the chat's next question gets a message, the watcher carries on.
    assert not assistant.reload_if_changed()
    with pytest.raises(IndexError_, match=r"^milvus://127\.0\.0\.1:\d+/short_lived: the Milvus server failed \("):
        assistant.ask("What is new in the EU-US cooperation on AI?")


def test_a_dropped_connection_is_reopened_and_answers_the_same(published, seed_index, embedder,  # type: ignore[no-untyped-def]
                                                                milvus_server: MilvusServer) -> None:
    proxy = DroppingProxy(milvus_server.port)
    try:
        settings = published.with_overrides(store=f"milvus://127.0.0.1:{proxy.port}/seed")
        embedded, through_proxy = Assistant(seed_index, embedder), Assistant(settings, embedder)
        assert _same_answer(through_proxy.ask(QUESTIONS[0])) == _same_answer(embedded.ask(QUESTIONS[0]))
        for question in QUESTIONS[1:]:  # each not asked before, so the answer needs the server
            assert proxy.drop() >= 1
            assert _same_answer(through_proxy.ask(question)) == _same_answer(embedded.ask(question))
    finally:
        proxy.close()


def test_eval_from_the_command_line_gives_the_same_figures(published, seed_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    questions = tmp_path / "questions.jsonl"
    if DEV_QUESTIONS.exists():
        questions.write_text(DEV_QUESTIONS.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        questions.write_text("".join(json.dumps({"id": f"q{n}", "question": q, "evidence": [], "answerable": n < 4})
                                     + "\n" for n, q in enumerate(QUESTIONS)), encoding="utf-8")
    figures = []
    for store in ([], ["--store", published.store]):
        done = subprocess.run([sys.executable, "-m", "assistant", "eval", str(questions), "--json", "-q", "--corpus",
                               str(seed_index.corpus_dir), "--index", str(seed_index.index_dir), *store],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        summary = json.loads(done.stdout)
        summary.pop("median_ms")
        figures.append(summary)
    assert figures[0] == figures[1]


def test_a_rebuild_that_changed_nothing_publishes_nothing(corpus_copy: Path, tmp_path: Path, embedder,  # type: ignore[no-untyped-def]
                                                          milvus_server: MilvusServer) -> None:
    building = make_settings(corpus_copy, tmp_path / "staging", store=milvus_server.store("unchanged"))
    build_index(building, embedder=embedder)
    location = parse_location(building.store)
    assert location is not None
    client = connect(location)
    served, collections = served_collection(client, "unchanged"), set(client.list_collections())
    said: list[str] = []
    build_index(building, embedder=embedder, progress=said.append)  # a new staged version, the same content
    assert index_store.load(building.index_dir).version not in str(served)
    assert served_collection(client, "unchanged") == served and set(client.list_collections()) == collections
    assert any("nothing to publish" in line for line in said)
    (corpus_copy / "us-uk-ai-rd-declaration-2020.txt").write_text("Changed.\n\nA new declaration text.\n",
                                                                   encoding="utf-8")
    build_index(building, embedder=embedder)
    assert served_collection(client, "unchanged") != served
    client.close()


NOTE = ("{title}\n\n"
        "The {title} sets out how partner governments share evaluations of general-purpose AI models before "
        "deployment, which laboratories take part, and how findings about dangerous capabilities are reported to "
        "each national AI safety institute within thirty days of testing.\n\n"
        "Under the {title}, joint testing teams publish a common methodology for red-teaming, agree shared "
        "benchmarks for cyber and biological misuse, and exchange staff between institutes for periods of up to "
        "one year, with a review of the arrangement by the signatories every two years.\n")


def test_a_rebuild_rewrites_only_the_documents_that_changed(corpus_copy: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          embedder, milvus_server: MilvusServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    building = make_settings(corpus_copy, tmp_path / "staging", store=milvus_server.store("updated"))
    location = parse_location(building.store)
    assert location is not None
    client = connect(location)
    (corpus_copy / "zz-going.txt").write_text(NOTE.format(title="Osprey Arrangement"), encoding="utf-8")
    build_index(building, embedder=embedder)  # v1, written anew
    first = served_collection(client, "updated")
    declaration = corpus_copy / "us-uk-ai-rd-declaration-2020.txt"
    declaration.write_text(declaration.read_text(encoding="utf-8").replace("artificial intelligence", "AI", 1),
                           encoding="utf-8")
    build_index(building, embedder=embedder)  # v2, written anew: v1 is still what servers may be reading
    second = served_collection(client, "updated")
    # v3: v1's collections are brought up to date. Since v1: the declaration (changed for v2), the alliance
    # page, a note added, a note removed.
    alliance = corpus_copy / "eu-international-alliance-human-centric-ai-project.txt"
    alliance.write_text(alliance.read_text(encoding="utf-8").replace("2,497,100 EUR", "2,500,000 EUR"),
                        encoding="utf-8")
    (corpus_copy / "zz-going.txt").unlink()
    (corpus_copy / "zz-coming.txt").write_text(NOTE.format(title="Heron Protocol"), encoding="utf-8")
    inserted: dict[str, int] = {}
    real_insert = publishing._insert

    def counting_insert(client_, collection: str, rows, upsert: bool = False) -> None:  # type: ignore[no-untyped-def]
        rows = list(rows)
        inserted[collection] = inserted.get(collection, 0) + len(rows)
        real_insert(client_, collection, rows, upsert)

    monkeypatch.setattr(publishing, "_insert", counting_insert)
    said: list[str] = []
    build_index(building, embedder=embedder, progress=said.append)
    monkeypatch.undo()
    staged = index_store.load(building.index_dir)
    third = served_collection(client, "updated")
    assert third == f"updated__{staged.version.replace('-', '_')}"
    assert {v.passages for v in versions_of("updated", client.list_collections())} == {second, third}
    assert first not in client.list_collections()  # renamed, not copied
    assert any("publishing by updating" in line and "3 documents to write" in line and "1 to remove" in line
               for line in said), said
    rewritten = staged.rows_of(["us-uk-ai-rd-declaration-2020", "eu-international-alliance-human-centric-ai-project",
                                "zz-coming"])
    assert inserted[str(first)] == len(rewritten) < staged.size  # the passages of the other documents stay

    # What it serves is what writing it anew gives (BM25 normalised by v1's average length: scores
    # within 1%), and it answers as the embedded index does.
    fresh = parse_location(milvus_server.store("updated_fresh"))
    assert fresh is not None
    publish(staged, fresh)
    updated, written = open_store(building), open_store(building.with_overrides(store=str(fresh)))
    assert updated.size == written.size == staged.size
    assert [e.doc_id for e in updated.entries.values()] == [e.doc_id for e in written.entries.values()]
    assert "zz-going" not in updated.entries and updated.document("zz-coming") == staged.document("zz-coming")
    for doc_id in staged.entries:
        assert _ids(updated, updated.rows_of([doc_id])) == _ids(staged, staged.rows_of([doc_id]))
        assert updated.document(doc_id) == written.document(doc_id)
    for terms in (["ai"], ["heron", "protocol"], ["osprey"], ["contract", "eur"], ["red", "team", "benchmark"]):
        assert updated.keyword.term_idf(terms[0]) == pytest.approx(written.keyword.term_idf(terms[0]))
        mine, theirs = updated.keyword_ranking(terms, 10), written.keyword_ranking(terms, 10)
        assert _ids(updated, [r for r, _ in mine]) == _ids(written, [r for r, _ in theirs]), terms
        assert np.allclose([s for _, s in mine], [s for _, s in theirs], rtol=0.01)
    assert not updated.keyword_ranking(["osprey"], 10)
    embedded, served = Assistant(make_settings(corpus_copy, tmp_path / "staging"), embedder), Assistant(building,
                                                                                                      embedder)
    for question in (*QUESTIONS, "What does the Heron Protocol say about staff exchanges?"):
        mine, theirs = served.ask(question), embedded.ask(question)
        assert [(c.passage_id, c.excerpt) for c in mine.citations] == [(c.passage_id, c.excerpt)
                                                                       for c in theirs.citations], question

    # An update that fails part way leaves the alias where it was and drops the version it was updating;
    # the next publish writes anew.
    alliance.write_text(alliance.read_text(encoding="utf-8").replace("2,500,000 EUR", "2,600,000 EUR"),
                        encoding="utf-8")
    calls = {"n": 0}

    def failing_insert(client_, collection: str, rows, upsert: bool = False) -> None:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("connection lost")
        real_insert(client_, collection, rows, upsert)

    monkeypatch.setattr(publishing, "_insert", failing_insert)
    with pytest.raises(RuntimeError, match="connection lost"):
        build_index(building, embedder=embedder)
    monkeypatch.undo()
    assert served_collection(client, "updated") == third
    assert {v.passages for v in versions_of("updated", client.list_collections())} == {third}
    said.clear()
    publish(index_store.load(building.index_dir), location, said.append)
    assert any(line.startswith(f"publishing {staged.size} passages") for line in said), said
    client.close()
