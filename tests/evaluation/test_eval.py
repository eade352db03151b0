"""`assistant eval`: dev-set scoring, BEIR metrics and the BEIR command on a small real set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.errors import AssistantError
from assistant.evaluation.beir import load_beir, ndcg_at, recall_at
from assistant.evaluation.questions import (
    EvalQuestion,
    EvalResult,
    evaluate,
    first_evidence_position,
    read_questions,
    summarize,
)
from assistant.indexing.acronyms import expand, find_acronyms, written_out
from assistant.types import Answer, Citation

from ..conftest import REPO, SHARED


def citation(n: int, excerpt: str) -> Citation:
    return Citation(n=n, chunk_id=f"d:{n}", doc_id="d", title="T", author="", publisher="", date="",
                    source_type="", page=None, paragraph=1, excerpt=excerpt, start=0, end=len(excerpt),
                    score=1.0)


def test_evidence_is_matched_case_and_quote_insensitively() -> None:
    answer = Answer("q", "", False, (citation(1, "nothing here"), citation(2, "The “Human-Centric”\n  AI")))
    assert first_evidence_position(answer, ['the "human-centric" ai']) == 2
    assert first_evidence_position(answer, ["absent"]) is None


def test_summary_keys_and_rates() -> None:
    def result(answerable: bool, hit: int | None, abstained: bool, kind: str = "") -> EvalResult:
        return EvalResult(EvalQuestion("x", "q", ("e",), answerable, kind), abstained, hit, 0.01)

    summary = summarize([result(True, 1, False), result(True, 3, False), result(True, None, True),
                         result(False, None, True, "offtopic"), result(False, None, False, "neartopic")])
    assert {k: summary[k] for k in ("hit@1", "hit@3", "hit@5", "mrr", "false_abstention",
                                    "offtopic_abstained", "neartopic_abstained")} == {
        "hit@1": 0.3333, "hit@3": 0.6667, "hit@5": 0.6667, "mrr": 0.4444,
        "false_abstention": 0.3333, "offtopic_abstained": 1.0, "neartopic_abstained": 0.0}


def test_ndcg_and_recall() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], relevant) == pytest.approx((1 / 1.5849625) / (1 + 1 / 1.5849625))
    assert recall_at(["a", "x"], relevant, 100) == 0.5
    assert ndcg_at(["x"], {}) == 0.0


def test_acronyms_defined_in_the_corpus_are_expanded() -> None:
    text = "the U.S.-EU Trade and Technology Council (TTC) met; the Global Partnership on AI (GPAI) too."
    found = find_acronyms([text])
    assert found == {"TTC": "Trade and Technology Council", "GPAI": "Global Partnership on AI"}
    assert expand("What did the TTC say?", found) == "What did the TTC (Trade and Technology Council) say?"


def test_an_acronym_is_spelled_out_by_the_initials_of_consecutive_words() -> None:
    assert written_out("NATO", ["members of the North Atlantic Treaty Organization, which"]) is not None
    assert written_out("AISI", ["the US AI Safety Institute"]) is not None  # an upper-case word gives all its letters
    assert written_out("NATO", ["North Atlantic cooperation"]) is None
    assert written_out("COP28", ["the Conference of the Parties"]) is None
    assert written_out("NATO", ["members of the North Atlantic Treaty Organization, which"]) == (
        "North Atlantic Treaty Organization")
    assert written_out("AISI", ["launched the US AI Safety Institute in"]) == "AI Safety Institute"
    assert written_out("COP28", ["the Conference of the Parties"]) is None


def write_beir(folder: Path) -> None:
    """A tiny BEIR set from real corpus sentences: each query must find its document."""
    docs = {
        "d1": ("Defense", "The Joint AI Center convened the multilateral AI Partnership for Defense in 2020."),
        "d2": ("Prizes", "The United States and the United Kingdom anticipate launching prize challenges "
                         "on privacy-enhancing technologies in the spring of 2022."),
        "d3": ("GPAI", "GPAI brings together expertise from science, industry and civil society to bridge "
                       "the gap between the theory and practice of AI."),
        "d4": ("Weather", "Joint research addresses extreme weather, energy optimization and emergency response."),
    }
    queries = {"q1": "Who convened the AI Partnership for Defense?",
               "q2": "When will the privacy technology prize challenges launch?",
               "q3": "What gap does GPAI bridge?"}
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in docs.items()), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": k, "text": q}) + "\n" for k, q in queries.items()), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n", encoding="utf-8")


@pytest.mark.slow
def test_beir_command_reports_ndcg_and_recall(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    write_beir(folder)
    assert len(load_beir(folder).documents) == 4
    command = [sys.executable, "-m", "assistant", "eval", "--beir", str(folder), "--index", str(tmp_path / "ix"),
               "--json"]
    first = json.loads(subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300,
                                      check=True).stdout)
    for key in ("ndcg@10", "recall@100", "dense_ndcg@10", "keyword_ndcg@10"):
        assert 0.0 <= first[key] <= 1.0
    assert first["ndcg@10"] > 0.9 and first["recall@100"] == 1.0
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    assert json.loads(again.stdout)["ndcg@10"] == first["ndcg@10"]  # index reused, same result


@pytest.mark.slow
def test_beir_missing_split_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    write_beir(folder)
    result = subprocess.run([sys.executable, "-m", "assistant", "eval", "--beir", str(folder),
                             "--split", "train", "--index", str(tmp_path / "ix")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1 and "train.tsv: not found" in result.stderr and "splits here: test" in result.stderr


def eval_summary(questions: Path, settings) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """`assistant eval FILE --json` on the shared seed index, as a user would run it."""
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "eval", str(questions), "--json",
         "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "eval" / "dev_qa.jsonl").exists(), reason="shared dev set not present")
def test_dev_set_meets_the_targets(seed_index) -> None:  # type: ignore[no-untyped-def]
    summary = eval_summary(SHARED / "eval" / "dev_qa.jsonl", seed_index)
    assert summary["hit@3"] >= 0.9
    assert summary["offtopic_abstained"] == 1.0 and summary["false_abstention"] <= 0.05


@pytest.mark.slow
def test_our_held_out_questions(seed_index) -> None:  # type: ignore[no-untyped-def]
    """Questions we wrote over the shipped corpus (eval/extra_qa.jsonl), never tuned on."""
    summary = eval_summary(REPO / "eval" / "extra_qa.jsonl", seed_index)
    assert summary["hit@3"] >= 0.9 and summary["false_abstention"] == 0.0
    assert summary["offtopic_abstained"] == 1.0 and summary["neartopic_abstained"] == 1.0


def test_question_lines_may_name_their_documents(tmp_path: Path) -> None:
    lines = tmp_path / "q.jsonl"
    lines.write_text("\n".join(json.dumps(x) for x in (
        {"id": "a", "question": "q?", "evidence": ["e"], "answerable": True, "doc": "one"},
        {"id": "b", "question": "q?", "evidence": ["e"], "answerable": True, "doc": ["one", "two"]},
        {"id": "c", "question": "q?", "evidence": ["e"], "answerable": True})) + "\n", encoding="utf-8")
    assert [q.doc_ids for q in read_questions(lines)] == [("one",), ("one", "two"), ()]
    lines.write_text(json.dumps({"id": "d", "question": "q?", "doc": 3}) + "\n", encoding="utf-8")
    with pytest.raises(AssistantError, match=r"q\.jsonl:1: not a question line .*\"doc\""):
        read_questions(lines)


def test_an_unanswerable_kind_is_read_however_it_is_spelled_and_an_unknown_one_is_an_error(tmp_path: Path) -> None:
    lines = tmp_path / "q.jsonl"
    kinds = ["near-topic", "Off topic", "neartopic", "off_topic", ""]
    lines.write_text("\n".join(json.dumps({"id": str(n), "question": "q?", "answerable": False, "kind": k})
                               for n, k in enumerate(kinds)) + "\n", encoding="utf-8")
    assert [q.kind for q in read_questions(lines)] == ["neartopic", "offtopic", "neartopic", "offtopic", ""]
    lines.write_text(json.dumps({"id": "x", "question": "q?", "answerable": False, "kind": "sideways"}) + "\n",
                     encoding="utf-8")
    with pytest.raises(AssistantError, match=r"q\.jsonl:1: not a question line .*offtopic, neartopic.*sideways"):
        read_questions(lines)


def test_each_question_is_asked_within_its_documents() -> None:
    asked: list[tuple[str, object]] = []

    def ask(question: str, doc_ids: object) -> Answer:
        asked.append((question, doc_ids))
        return Answer(question, "", False, (citation(1, "the evidence"), citation(2, "more")))

    questions = [EvalQuestion("a", "q1", ("evidence",), True, doc_ids=("one",)),
                 EvalQuestion("b", "q2", ("absent",), True)]
    results = list(evaluate(questions, ask, iter(range(100)).__next__))
    assert asked == [("q1", ("one",)), ("q2", None)]
    assert [(r.first_hit, r.citations, r.first_excerpt) for r in results] == [(1, 2, "the evidence"),
                                                                              (None, 2, "the evidence")]
    assert summarize(results)["mean_citations"] == 2.0


@pytest.mark.slow
def test_eval_per_question_file_and_doc_scoped_questions(seed_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each question is asked within its `doc`; one JSON line per question for diagnosis."""
    doc = "us-uk-ai-rd-declaration-2020"
    lines = tmp_path / "q.jsonl"
    lines.write_text("\n".join(json.dumps(x) for x in (
        {"id": "in", "question": "When was the declaration signed?", "evidence": ["September 25, 2020"],
         "answerable": True, "doc": doc},
        # The GPAI is another document's subject: asked within the declaration alone, no citation names it.
        {"id": "other", "question": "What is the Global Partnership on AI trying to bridge?",
         "evidence": ["theory and practice"], "answerable": True, "doc": doc})) + "\n", encoding="utf-8")
    out = tmp_path / "per.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "eval", str(lines), "--json", "--per-question", str(out),
         "--corpus", str(seed_index.corpus_dir), "--index", str(seed_index.index_dir)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    summary = json.loads(result.stdout)
    assert {"mean_citations", "median_ms", "hit@1", "false_abstention"} <= set(summary)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["in", "other"]
    assert {"first_hit", "abstained", "citations", "first_excerpt", "doc"} <= set(rows[0])
    assert rows[0]["first_hit"] == 1 and rows[0]["doc"] == [doc] and "2020" in rows[0]["first_excerpt"]
    assert rows[1]["first_hit"] is None


@pytest.mark.slow
def test_eval_refuses_questions_about_documents_the_index_lacks(seed_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = tmp_path / "q.jsonl"
    lines.write_text(json.dumps({"id": "x", "question": "q?", "evidence": ["e"], "doc": "no-such-doc"}) + "\n",
                     encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "eval", str(lines), "--corpus", str(seed_index.corpus_dir),
         "--index", str(seed_index.index_dir)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 1 and "no-such-doc" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not (SHARED / "train" / "cuad-train").exists(), reason="shared training sets not present")
def test_held_out_contracts_are_written_as_a_question_set(tmp_path: Path) -> None:
    from assistant.evaluation.contracts import MIN_EVIDENCE_WORDS, write_contract_set
    from assistant.ingest.documents import slugify

    source = SHARED / "train" / "cuad-train" / "train.json"
    articles = json.loads(source.read_text(encoding="utf-8"))["data"][:2]
    folder = tmp_path / "cuad"
    write_contract_set(source, folder, [articles[0]["title"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuad"]  # no staging folder left behind
    doc = slugify(articles[0]["title"])
    assert [p.name for p in (folder / "corpus").iterdir()] == [f"{doc}.txt"]
    context = articles[0]["paragraphs"][0]["context"]
    assert (folder / "corpus" / f"{doc}.txt").read_text(encoding="utf-8") == context
    questions = read_questions(folder / "questions.jsonl")
    assert questions and all(q.doc_ids == (doc,) for q in questions)
    assert not any("Highlight the parts" in q.question for q in questions)
    assert any(not q.answerable and not q.evidence for q in questions)
    assert all(e in context and len(e.split()) >= MIN_EVIDENCE_WORDS for q in questions for e in q.evidence)
    qas = articles[0]["paragraphs"][0]["qas"]
    short_only = [qa for qa in qas if qa["answers"]
                  and all(len(a["text"].split()) < MIN_EVIDENCE_WORDS for a in qa["answers"])]
    assert len(questions) == len(qas) - len(short_only)  # those answered only by a word or two are left out


@pytest.mark.skipif(not (SHARED / "train" / "contractnli-dev.json").exists(), reason="shared training sets not present")
def test_held_out_ndas_are_written_as_a_question_set(tmp_path: Path) -> None:
    from assistant.evaluation.contracts import write_contract_set

    source = SHARED / "train" / "contractnli-dev.json"
    data = json.loads(source.read_text(encoding="utf-8"))
    document = data["documents"][0]
    write_contract_set(source, tmp_path / "nli", [str(document["id"])])
    doc = f"nda-{document['id']}"
    assert (tmp_path / "nli" / "corpus" / f"{doc}.txt").read_text(encoding="utf-8") == document["text"]
    questions = read_questions(tmp_path / "nli" / "questions.jsonl")
    hypotheses = {label["hypothesis"] for label in data["labels"].values()}
    assert questions and all(q.doc_ids == (doc,) and q.question in hypotheses for q in questions)
    choices = document["annotation_sets"][0]["annotations"]
    assert sum(not q.answerable for q in questions) == sum(a["choice"] == "NotMentioned" for a in choices.values())
    assert all(e in document["text"] for q in questions for e in q.evidence)
