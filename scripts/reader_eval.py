"""Figures for a reading model (or the bi-encoder) on held-out questions (scripts/train_reader.py).

Each question is read against the sentences of its document: all of them for a paragraph
(SQuAD 2.0), and for a long document (a policy, a contract, a paper) the sentences holding the
answer with the ones sharing most words with the question, up to CANDIDATES. Per set:
- hit@1 / hit@3: the first (first three) sentences ranked include one that overlaps the answer;
- auc and refused@5%: how well the best sentence's score tells answerable questions from the
  others, and the share of unanswerable ones refused where 5% of answerable ones are;
- span em / f1 (reader only): the answer marked in the first sentence against the annotated
  answers (SQuAD's normalisation).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import reader_data as data

from assistant.evaluation.questions import exact_match, token_f1

CANDIDATES = 12
Scorer = Callable[[str, Sequence[str]], list[tuple[float, int, int]]]
"""(question, texts) -> per text: (score, answer start, answer end); start -1 when not marked."""


def reader_scorer(reader: Any) -> Scorer:
    def score(question: str, texts: Sequence[str]) -> list[tuple[float, int, int]]:
        return [(r.score, r.start, r.end) for r in reader.read(question, texts)]
    return score


def baseline_scorer() -> Scorer:
    """The assistant's bi-encoder: the cosine of question and sentence."""
    from assistant.indexing.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()

    def score(question: str, texts: Sequence[str]) -> list[tuple[float, int, int]]:
        vectors = embedder.encode([question, *texts])
        return [(float(v @ vectors[0]), -1, -1) for v in vectors[1:]]
    return score


def candidates(q: data.Question, rng: random.Random) -> tuple[list[tuple[int, int]], list[bool]]:
    """The sentences read for a question, and which of them overlap an answer."""
    spans = data.sentences(q.text)

    def answers(span: tuple[int, int]) -> bool:
        return any(a < span[1] and b > span[0] for a, b in q.answers)
    if len(spans) <= CANDIDATES:
        chosen = list(spans)
    else:
        positive = [s for s in spans if answers(s)]
        others = [(i, i) for i, s in enumerate(spans) if not answers(s)]
        rng.shuffle(others)
        hardest = data.hardest(q.question, q.text, spans, others, CANDIDATES - min(3, len(positive)))
        chosen = positive[:3] + [spans[i] for i, _ in hardest]
        rng.shuffle(chosen)
    return chosen, [answers(s) for s in chosen]


def evaluate(scorer: Scorer, report: dict[str, list[data.Question]], limit: int,
             seed: int) -> dict[str, dict[str, float]]:
    figures = {}
    for name, questions in sorted(report.items()):
        rng = random.Random(seed)
        sample = list(questions)
        rng.shuffle(sample)
        figures[name] = _set_figures(scorer, sample[:limit], rng)
    return figures


def _set_figures(scorer: Scorer, questions: Sequence[data.Question], rng: random.Random) -> dict[str, float]:
    hits1, hits3, best_answerable, best_other, em, f1 = [], [], [], [], [], []
    for q in questions:
        spans, good = candidates(q, rng)
        if not spans:
            continue
        scored = scorer(q.question, [q.text[a:b] for a, b in spans])
        order = np.argsort([-s for s, _, _ in scored], kind="stable")
        best = float(scored[order[0]][0])
        if not q.answers:
            best_other.append(best)
            continue
        best_answerable.append(best)
        hits1.append(good[order[0]])
        hits3.append(any(good[i] for i in order[:3]))
        top, (_, start, end) = spans[order[0]], scored[order[0]]
        if q.mark and start >= 0:
            marked = q.text[top[0] + start:top[0] + end]
            golds = [q.text[a:b] for a, b in q.answers]
            em.append(max(exact_match(marked, g) for g in golds))
            f1.append(max(token_f1(marked, g) for g in golds))
    out: dict[str, float] = {"questions": len(questions), "answerable": len(best_answerable)}
    if hits1:
        out["hit@1"], out["hit@3"] = round(float(np.mean(hits1)), 3), round(float(np.mean(hits3)), 3)
    if best_answerable and best_other:
        out["auc"] = round(_auc(best_answerable, best_other), 3)
        threshold = float(np.quantile(best_answerable, 0.05))
        out["refused@5%"] = round(float(np.mean([b < threshold for b in best_other])), 3)
    if f1:
        out["span_em"], out["span_f1"] = round(float(np.mean(em)), 3), round(float(np.mean(f1)), 3)
    return out


def _auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean((p > n) + 0.5 * (p == n)))


def print_figures(figures: dict[str, dict[str, dict[str, float]]]) -> None:
    columns = ["questions", "answerable", "hit@1", "hit@3", "auc", "refused@5%", "span_em", "span_f1"]
    print("\nheld-out figures (documents not trained on)")
    print(f"{'model':<11} {'set':<13} " + " ".join(f"{c:>10}" for c in columns))
    for model, sets in figures.items():
        for name, row in sets.items():
            print(f"{model:<11} {name:<13} " + " ".join(f"{row[c]:>10}" if c in row else f"{'':>10}" for c in columns))
