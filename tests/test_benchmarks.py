"""Every script in benchmarks/, scripts/train_rescorer.py and scripts/fit_blend.py runs against today's code,
at a tiny size.

These check that the scripts run and print their tables, not the figures (benchmarks
assert nothing; see benchmarks/README.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings

from .conftest import CHROMIUM, REPO, SHARED

pytestmark = pytest.mark.bench

BENCHMARKS = REPO / "benchmarks"


def run_script(script: Path, *args: str, timeout: int = 300, **settings: str) -> str:
    """The script's output; `settings` become its ASSISTANT_* variables (none else are passed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({f"ASSISTANT_{name.upper()}": value for name, value in settings.items()})
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO,
                            timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def index_root(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An --index-root whose seed index is the session's (evaluation.sets.index_name: "seed")."""
    root = tmp_path_factory.mktemp("index-root")
    (root / "seed").symlink_to(seed_index.index_dir, target_is_directory=True)
    return root


def test_every_benchmark_has_a_smoke_test() -> None:
    scripts = {p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}
    tested = {"bench_ask", "bench_build", "bench_precision", "bench_serve", "load_chat", "answer_quality",
              "abstention_margin", "bench_scale", "bench_html", "bench_milvus", "bench_page_image", "bench_reader"}
    assert scripts == tested, f"give {sorted(scripts - tested)} a smoke test here"


@pytest.mark.skipif(not (SHARED / "eval" / "dev_qa.jsonl").exists(), reason="shared dev set not present")
def test_answer_quality(index_root: Path, tmp_path: Path, untrained_reader: Path) -> None:
    out = run_script(BENCHMARKS / "answer_quality.py", "--sets", "dev", "seed-unanswerable", "--limit", "4",
                     "--index-root", str(index_root), "--json", str(tmp_path / "rows.json"), "--reader", "both",
                     reader_dir=str(untrained_reader))
    assert "hit@1" in out and "mean_citations" in out
    assert out.count("\ndev ") == 2 and "seed-unanswerable" in out
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf-8"))
    assert [(r["set"], r["reader"]) for r in rows] == [("dev", "off"), ("dev", "on"), ("seed-unanswerable", "off"),
                                                       ("seed-unanswerable", "on")]


def test_abstention_margin(index_root: Path, untrained_reader: Path) -> None:
    out = run_script(BENCHMARKS / "abstention_margin.py", "--sets", "dev", "seed-unanswerable", "--limit", "4",
                     "--index-root", str(index_root), "--reader", reader_dir=str(untrained_reader))
    assert "<- abstain_below" in out and "<- reader_abstain_below" in out
    assert "seed-unanswerable" in out and "0.05" in out


def test_train_rescorer_scores_the_shipped_model(index_root: Path, tmp_path: Path) -> None:
    out = run_script(REPO / "scripts" / "train_rescorer.py", "--report-only", "--sets", "dev", "seed-unanswerable",
                     "--limit", "4", "--index-root", str(index_root), "--cache", str(tmp_path / "cache"))
    assert "excerpt weights:" in out and "answerable weights:" in out
    assert list((tmp_path / "cache").glob("dev-*.pickle"))


def test_fit_blend_scores_the_blend_beside_a_reader(index_root: Path, tmp_path: Path, untrained_reader: Path) -> None:
    from assistant.answer.blend import BLEND, EVEN_BLEND

    folder = shutil.copytree(untrained_reader, tmp_path / "reader")
    (folder / BLEND).write_text(json.dumps(EVEN_BLEND.to_json()), encoding="utf-8")
    out = run_script(REPO / "scripts" / "fit_blend.py", "--report-only", "--reader", str(folder), "--sets", "dev",
                     "seed-unanswerable", "--index-root", str(index_root), "--limit", "4",
                     "--cache", str(tmp_path / "cache"))
    assert "dev (never fitted on)" in out and "blend" in out and "answerable weights" in out
    assert "ceiling" in out and re.search(r"dev \(never fitted on\) +reader +\d", out)  # the reader's own order
    result = subprocess.run([sys.executable, "scripts/fit_blend.py", "--reader", str(folder), "--sets", "dev",
                             "seed-unanswerable", "--index-root", str(index_root), "--limit", "4",
                             "--cache", str(tmp_path / "cache"), "--excerpt-sets", "squad2", "cuad"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "nothing to fit" in result.stderr and "squad2 or cuad" in result.stderr
    assert json.loads((folder / BLEND).read_text(encoding="utf-8")) == EVEN_BLEND.to_json()


def test_fit_blend_threshold_counts_only_what_the_rescorer_lets_through() -> None:
    """A set whose answerable questions the rescorer already refuses more than --max-refused of
    still bounds the blend's threshold (it was 0 then, and the stored bias infinite)."""
    import numpy as np

    from assistant.answer.blend import Blend
    from assistant.answer.reader import Reading
    from assistant.config import Settings
    from assistant.evaluation.candidates import CandidateGroup, ReadCandidates
    from assistant.evaluation.questions import EvalQuestion

    sys.path.insert(0, str(REPO / "scripts"))
    import fit_blend

    def row(qid: str, answerable: float) -> tuple[CandidateGroup, ReadCandidates]:
        question = EvalQuestion(f"set:{qid}", "q", ("e",), True)
        group = CandidateGroup(question, np.zeros((1, 1)), np.array([True]), (("c", 0, 0),), ("t",), 0, 0, 0, 0, 0)
        read = ReadCandidates(np.array([0]), np.zeros((1, 3)), (Reading(0.0, -1, -1, 0.0),), answerable)
        return group, read

    settings = Settings.from_env(abstain_below=0.5, progress=False)
    blend = Blend((1.0, 0.0, 0.0), 0.0, (1.0, 0.0, 0.0), 0.0)  # P(answers) = the rescorer's
    refused_first = [row(f"r{i}", 0.3) for i in range(3)]
    passed = [row(f"p{i}", p) for i, p in enumerate((0.9, 0.6, 0.8, 0.7, 0.65, 0.95, 0.85))]
    trainable = {"set": refused_first + passed}
    assert fit_blend.threshold_for(trainable, blend, settings, 0.05) == pytest.approx(0.6)
    assert fit_blend.threshold_for(trainable, blend, settings, 0.3) == pytest.approx(0.7)  # 2 of the 7 below


def test_train_rescorer_refuses_to_fit_on_nothing(index_root: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "scripts/train_rescorer.py", "--sets", "seed-unanswerable",
                             "--limit", "3", "--index-root", str(index_root), "--out", str(tmp_path / "m.json")],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and "nothing to fit" in result.stderr
    assert not (tmp_path / "m.json").exists()


@pytest.mark.skipif(not (SHARED / "eval" / "scifact").exists(), reason="shared SciFact set not present")
def test_bench_scale_with_an_approximate_index_and_an_overlay(tmp_path: Path) -> None:
    """One run covers both options (each run starts three processes that load the model)."""
    out = run_script(BENCHMARKS / "bench_scale.py", "--passages", "300", "--vectors", "synthetic", "--asks", "3",
                     "--recall-queries", "5", "--pool", "40", "--vector-index", "ivf", "--incremental",
                     "--overlay-above", "0", "--json", str(tmp_path / "scale.json"))
    assert "ann_recall_at_10" in out and "'kind': 'ivf'" in out and "incremental_written_passages" in out
    figures = json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))
    keys = {"passages", "build_s", "build_peak_rss_mb", "disk_mb", "open_s", "ask_p50_ms", "ask_p95_ms",
            "serve_rss_mb", "ann_recall_at_10", "encode_passages_per_s"}
    assert keys <= set(figures) and figures["passages"] > 100 and 0 <= figures["ann_recall_at_10"] <= 1
    assert 0 < figures["incremental_embedded_chunks"] <= 3  # the edited document's own passages
    assert figures["incremental_overlay"] is True and 0 < figures["incremental_written_passages"] <= 3


def test_bench_ask(untrained_reader: Path) -> None:
    out = run_script(BENCHMARKS / "bench_ask.py", "-n", "2", "--no-cold", "--profile", "never", "--reader", "on",
                     "--reader-dir", str(untrained_reader))
    assert "first pass" in out and "repeat" in out and "reader on" in out


def test_bench_build() -> None:
    out = run_script(BENCHMARKS / "bench_build.py", "--repeat", "1", "--rebuilds", "1")
    assert "no-change rebuild" in out


def test_bench_html(tmp_path: Path) -> None:
    page = REPO / "tests" / "data" / "web" / "pages" / "ai-safety-network.html"
    out = run_script(BENCHMARKS / "bench_html.py", str(page), "--repeat", "1", "--json", str(tmp_path / "html.json"))
    assert "boilerplate main" in out and "ai-safety-network.html" in out
    assert json.loads((tmp_path / "html.json").read_text())["pages"][0]["page"] == "ai-safety-network.html"


def test_bench_page_image(tmp_path: Path) -> None:
    out = run_script(BENCHMARKS / "bench_page_image.py", str(REPO / "tests" / "data" / "pdfs" / "crazyones.pdf"),
                     "--quotes", "2", "--json", str(tmp_path / "pages.json"))
    assert "first image" in out and "cached" in out
    figures = json.loads((tmp_path / "pages.json").read_text())
    assert figures["quotes"] == 2 and figures["boxed"] == 2 and figures["cached"]["n"] == 2


def test_bench_reader(tmp_path: Path, untrained_reader: Path) -> None:
    out = run_script(BENCHMARKS / "bench_reader.py", "--reader-dir", str(untrained_reader), "--excerpts", "2",
                     "--repeat", "1", "--json", str(tmp_path / "reader.json"))
    assert "float32" in out and "int8" in out
    rows = json.loads((tmp_path / "reader.json").read_text())["rows"]
    assert [(r["precision"], r["excerpts"]) for r in rows] == [("float32", 2), ("int8", 2)]


def test_bench_precision() -> None:
    out = run_script(BENCHMARKS / "bench_precision.py", "--texts", "8", "--repeat", "1")
    assert "float32" in out and "bfloat16" in out


def test_bench_serve() -> None:
    args = ["--runs", "1"] if CHROMIUM.exists() else ["--runs", "1", "--no-browser"]
    out = run_script(BENCHMARKS / "bench_serve.py", *args)
    assert "http 200 s" in out and "page ready" in out


def test_load_chat_on_two_servers_sharing_a_milvus_collection() -> None:
    out = run_script(BENCHMARKS / "load_chat.py", "--clients", "2", "--seconds", "3", "--servers", "2",
                     "--milvus-lite")
    assert "errors:    0" in out and "p95" in out and "index milvus://127.0.0.1:" in out


def test_bench_milvus(tmp_path: Path) -> None:
    """Milvus against the embedded index, the publish of a one-document edit of a BEIR corpus and Ray
    builds, in one run (each part starts servers or clusters that take seconds)."""
    beir = tmp_path / "beir"
    beir.mkdir()
    texts = [f"Study {n} measured the effect of the {topic} on the outcome of patients in the cohort over ten years."
             for n, topic in enumerate(("vitamin D dose", "statin", "exercise programme", "sleep schedule"))]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{n}", "title": f"Study {n}", "text": t}) + "\n"
                                               for n, t in enumerate(texts)), encoding="utf-8")
    out = run_script(BENCHMARKS / "bench_milvus.py", "--rounds", "1", "--ray-workers", "0", "1",
                     "--beir", str(beir), "--json", str(tmp_path / "milvus.json"))
    assert "same answers: True" in out and "ray workers" in out
    figures = json.loads((tmp_path / "milvus.json").read_text(encoding="utf-8"))
    assert figures["milvus_ask_p95_ms"] > 0 and [r["workers"] for r in figures["ray"]] == [0, 1]
    assert figures["publish_one_edit_s"] > 0 and figures["updated"]
    assert figures["publish_one_edit_passages"] == 4
    assert all(r["same_ids"] and r["min_cosine"] >= 0.9999 for r in figures["ray"])


def test_train_rescorer_logistic_recovers_known_weights() -> None:
    """The trainer's Newton-method logistic regression, on data drawn from a known model."""
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("train_rescorer", REPO / "scripts" / "train_rescorer.py")
    assert spec and spec.loader
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3))
    truth, intercept = np.array([2.0, -1.0, 0.0]), 0.5
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-(x @ truth + intercept)))).astype(float)
    weights, fitted = trainer.logistic(x, y, l2=1e-3)
    assert np.allclose(weights, truth, atol=0.1) and abs(fitted - intercept) < 0.1


@pytest.mark.skipif(not (SHARED / "train" / "cuad-train").exists(), reason="shared training sets not present")
def test_train_reader_trains_saves_and_reports_held_out_figures(tmp_path: Path) -> None:
    out = run_script(REPO / "scripts" / "train_reader.py", "--steps", "2", "--scale", "0.002", "--eval-questions",
                     "4", "--no-baseline", "--out", str(tmp_path / "reader"), timeout=600)
    assert "held-out figures" in out and "squad2" in out and "policyqa" in out
    card = json.loads((tmp_path / "reader" / "reader.json").read_text(encoding="utf-8"))
    assert card["run"]["steps"] == 2 and card["figures"]["reader"]["squad2"]["questions"] == 4
    assert {"squad", "cuad-answerable", "policyqa", "contractnli", "covid-qa"} <= set(card["trained_on"])
    model_card = (tmp_path / "reader" / "README.md").read_text(encoding="utf-8")
    assert "## Held out" in model_card and "CC BY 4.0" in model_card and "| reader | squad2 |" in model_card
    from assistant.answer.reader import Reader

    reader = Reader(tmp_path / "reader")
    texts = ["The declaration was signed on 1 November 2023.", "Officials met in Seoul."]
    readings = reader.read("When was the declaration signed?", texts)
    assert len(readings) == 2 and all(0 <= r.start < r.end <= len(t) for r, t in zip(readings, texts))
    assert (tmp_path / "reader" / "reader.safetensors").stat().st_size < 40e6
    run_script(REPO / "scripts" / "train_reader.py", "--init", str(tmp_path / "reader"), "--swapped", "3000",
               "--steps", "1", "--scale", "0.002", "--eval-questions", "2", "--no-baseline",
               "--out", str(tmp_path / "more"), timeout=600)
    more = json.loads((tmp_path / "more" / "reader.json").read_text(encoding="utf-8"))
    assert more["run"]["steps"] == 1 and more["continued_from"]["run"] == card["run"]
    assert "figures" not in more["continued_from"] and "squad-swapped" in more["trained_on"]


def test_swapped_questions_ask_for_a_word_their_paragraph_lacks() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import random

    import reader_data as data

    more = " Critics praised its story. Sales were strong in Japan. A sequel was planned."
    paragraphs = ["Twilight Princess was released in November 2006 for the Wii. Link is its hero." + more,
                  "Ocarina of Time came out in 1998. Zelda is a princess of Hyrule." + more,
                  "Majora's Mask followed in 2000." + more]
    questions = [data.Question("squad", "zelda", paragraphs[0], "When was Twilight Princess released for the Wii?",
                               ((32, 45),)),
                 data.Question("squad", "zelda", paragraphs[1], "When did Ocarina of Time come out?", ((27, 31),)),
                 data.Question("squad", "zelda", paragraphs[2], "When did Majora's Mask follow?", ((26, 30),))]
    swapped = data.swapped(questions, random.Random(0))
    assert swapped and all(not q.answers and q.near for q in swapped)
    for q in swapped:
        asked, before = q.question.split(), next(o.question for o in questions if o.text == q.text).split()
        assert len(asked) == len(before) and sum(a != b for a, b in zip(asked, before)) == 1
        new_word = next(a for a, b in zip(asked, before) if a != b).strip("?")
        assert new_word.lower() not in q.text.lower()
        group = data.group_of(q, random.Random(0))
        assert group is not None and not group.answerable
        start, end = q.near[0]
        assert any(q.text[start:end] in pair.text for pair in group.pairs)  # the close window is shown


@pytest.mark.skipif(not (SHARED / "train" / "cuad-train").exists(), reason="shared training sets not present")
def test_train_reader_reports_only_on_documents_it_did_not_train_on() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import train_reader

    from assistant.evaluation.sets import held_out

    fit, report = train_reader.load_questions(SHARED / "train", SHARED / "eval", squad2=True)
    trained = {(q.source, q.doc) for questions in fit.values() for q in questions}
    reported = {(q.source, q.doc) for questions in report.values() for q in questions}
    assert trained and reported and not trained & reported
    assert {name for name, questions in report.items() if questions} == {"squad2", "policyqa", "cuad", "contractnli",
                                                                       "covid-qa"}
    # With --squad2 the reader trains on some SQuAD 2.0 dev articles, never one of the held-out figures'
    # half, and leaves some of the other half to the blend's fit.
    squad2_trained = {q.doc for q in fit["squad2"]}
    squad2_reported = {q.doc for q in report["squad2"]}
    assert squad2_trained and not any(held_out(doc) for doc in squad2_trained)
    assert any(not held_out(doc) for doc in squad2_reported)
