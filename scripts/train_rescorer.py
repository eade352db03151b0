"""Fit the excerpt rescorer (assistant/answer/rescorer.json) on public question sets.

    .venv/bin/python scripts/train_rescorer.py                 # fit, report, write the model
    .venv/bin/python scripts/train_rescorer.py --report-only   # score the model in place, write nothing

Data: SQuAD 2.0 (../shared/eval/squad2, Wikipedia) and PolicyQA (../shared/eval/policyqa,
privacy policies), each question asked within its own document exactly as `assistant eval`
asks it. Documents are split in two by a hash of their id: the model is fitted on one half
of each set's documents and every figure printed for "held-out" comes from the other half,
never trained on. The seed corpus's dev questions (../shared/eval/dev_qa.jsonl) are never
trained on either.

The model: a pairwise logistic regression (an excerpt holding the answer against one that
does not, within one question) over assistant/answer/features.FEATURES, then a one-feature
logistic calibration so that its score reads as a probability; fitted on SQuAD's questions
only (EXCERPT_SETS). The answerability model is fitted on every trainable set. The printed
hit@k figures are over candidate excerpts (the best non-overlapping k); `assistant eval`
gives the end to end ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from assistant.answer.features import ANSWERABILITY, FEATURES  # the package sets the offline switches itself
from assistant.answer.rescorer import DEFAULT_PATH, Rescorer, read_rescorer
from assistant.config import REPO_ROOT, Settings
from assistant.errors import ConfigError
from assistant.evaluation.candidates import CandidateGroup, collect
from assistant.evaluation.sets import QuestionSet, held_out, question_sets, settings_for
from assistant.indexing.embedding import Embedder
from assistant.pipeline import Assistant, build_index, get_embedder

# Features no public set exercises, with the weight (in log-odds) they keep when training sees
# them at 0 throughout: no SQuAD or PolicyQA question asks who wrote a page, and an
# authorship question is answered by the page's byline (answering.candidates); none asks who
# signed a text, answered by its signature block (features.signature_windows).
HAND_SET = {"byline": 3.0, "signatory": 3.0}

# The sets the excerpt model fits on. PolicyQA marks one span where a policy often holds several
# that answer, so its pairs call good answers wrong: fitted with it, the model did worse on our
# own independent questions and no better on PolicyQA's held-out policies (docs/experiments.md, 2026-12-04).
# PolicyQA still trains the answerability model.
EXCERPT_SETS = ("squad2", "squad2-open")


def groups_for(qs: QuestionSet, index_root: Path, limit: int | None, embedder: Embedder,
               cache: Path | None = None) -> list[CandidateGroup]:
    """Each question's candidates; read from `cache` when it was written for the same inputs."""
    if cache:
        key = hashlib.sha1(f"{qs}|{limit}|{DEFAULT_PATH.parent}".encode()).hexdigest()[:12]
        cache = cache / f"{qs.name}-{key}.pickle"
        if cache.exists():
            with cache.open("rb") as f:
                return list(pickle.load(f))
    settings = settings_for(qs.corpus, index_root)
    build_index(settings, embedder=embedder)  # incremental: seconds when nothing changed
    assistant = Assistant(settings, embedder)
    questions = qs.read(limit)
    started = time.perf_counter()
    groups = list(collect(assistant.retriever, settings, questions))
    print(f"{qs.name}: {len(groups)} questions, candidates in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as f:
            pickle.dump(groups, f)
    return groups


def load_groups(sets: dict[str, QuestionSet], names: Sequence[str], index_root: Path, limit: int | None,
                cache: Path | None) -> dict[str, list[CandidateGroup]]:
    """Each named set's candidate groups (those whose files exist), each qid prefixed with its
    set's name (set_of, split_key)."""
    embedder = get_embedder(Settings.from_env(progress=False))
    data = {name: groups_for(sets[name], index_root, limit, embedder, cache) for name in names if sets[name].exists()}
    _DOCUMENTS.update({name: sets[name].documents() for name in data})
    return {name: [dataclasses.replace(g, question=dataclasses.replace(g.question, qid=f"{name}:{g.question.qid}"))
                   for g in groups] for name, groups in data.items()}


def pairs(groups: Sequence[CandidateGroup], rng: np.random.Generator,
          per_question: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Feature differences (answer minus non-answer) and their mirror images."""
    diffs = []
    for g in groups:
        pos, neg = np.flatnonzero(g.labels), np.flatnonzero(~g.labels)
        if not len(pos) or not len(neg):
            continue
        for _ in range(min(per_question, len(pos) * len(neg))):
            diffs.append(g.features[rng.choice(pos)] - g.features[rng.choice(neg)])
    x = np.array(diffs)
    return np.vstack([x, -x]), np.concatenate([np.ones(len(x)), np.zeros(len(x))])


def logistic(x: np.ndarray, y: np.ndarray, *, l2: float, intercept: bool = True,
             weight: np.ndarray | None = None, iterations: int = 100) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression by Newton's method (the intercept is not penalised):
    (weights, intercept) minimising sum(weight x log loss) + l2/2 x |weights|^2."""
    rows = np.hstack([x, np.ones((len(x), 1))]) if intercept else x
    weight = np.ones(len(x)) if weight is None else weight
    penalty = np.full(rows.shape[1], l2)
    if intercept:
        penalty[-1] = 0.0
    w = np.zeros(rows.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(rows @ w, -60, 60)))
        gradient = rows.T @ (weight * (p - y)) + penalty * w
        hessian = rows.T @ (rows * (weight * p * (1 - p))[:, None]) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return (w[:-1], float(w[-1])) if intercept else (w, 0.0)


def fit_ranker(groups: Sequence[CandidateGroup], seed: int = 0) -> tuple[list[float], float]:
    """Weights over the groups' feature columns and an intercept: a pairwise logistic regression
    (an excerpt holding the answer against one that does not, within one question), then a
    one-feature logistic calibration so that the score reads as a probability."""
    rng = np.random.default_rng(seed)
    everything = np.vstack([g.features for g in groups if len(g.features)])
    scale = everything.std(axis=0)
    scale[scale == 0] = 1.0
    x, y = pairs(groups, rng)
    w, _ = logistic(x / scale, y, l2=1.0, intercept=False)
    w = w / scale
    # Calibrate: P(excerpt answers | w·x), one slope and one intercept.
    scores = np.concatenate([g.features @ w for g in groups if len(g.features)])
    labels = np.concatenate([g.labels for g in groups if len(g.features)])
    (slope,), intercept = logistic(scores[:, None], labels.astype(np.float64), l2=1e-4)
    return [float(v) for v in slope * w], intercept


def fit(groups: Sequence[CandidateGroup], seed: int = 0) -> Rescorer:
    weights, intercept = fit_ranker(groups, seed)
    everything = np.vstack([g.features for g in groups if len(g.features)])
    for name, prior in HAND_SET.items():
        if not everything[:, FEATURES.index(name)].any():
            weights[FEATURES.index(name)] = prior  # the data never exercise it: keep the hand-set weight
    return Rescorer(tuple(weights), intercept)


def hits_at(groups: Sequence[CandidateGroup], rescorer: Rescorer, ks: Sequence[int] = (1, 3)) -> dict[str, float]:
    """Share of questions whose best k non-overlapping candidates hold the answer (k=1, 3), and the
    share whose candidates hold it at all (the ceiling the pool sets)."""
    found = {k: 0 for k in ks}
    ceiling = 0
    weights = np.array(rescorer.weights)
    for g in groups:
        if not len(g.features):
            continue
        ceiling += bool(g.labels.any())
        order = np.argsort(-(g.features @ weights), kind="stable")
        chosen: list[int] = []
        for i in order:
            chunk, first, last = g.spans[i]
            if any(g.spans[j][0] == chunk and not (last < g.spans[j][1] or first > g.spans[j][2]) for j in chosen):
                continue
            chosen.append(int(i))
            if len(chosen) == max(ks):
                break
        for k in ks:
            found[k] += bool(g.labels[chosen[:k]].any())
    n = max(1, len(groups))
    return {**{f"hit@{k}": round(found[k] / n, 4) for k in ks}, "ceiling": round(ceiling / n, 4),
            "questions": len(groups)}


def set_of(g: CandidateGroup) -> str:
    """The question set a group comes from (main() prefixes each qid with it)."""
    return g.question.qid.split(":", 1)[0]


def split_key(g: CandidateGroup) -> str:
    """The document a question is about (its qid when it names none): what the halves split."""
    name, qid = g.question.qid.split(":", 1)
    docs = _DOCUMENTS.get(name, {}).get(qid) or g.question.doc_ids
    return docs[0] if docs else g.question.qid


_DOCUMENTS: dict[str, dict[str, tuple[str, ...]]] = {}  # set -> qid -> doc ids, filled by main()


def fit_answerable(groups: Sequence[CandidateGroup], excerpt_model: Rescorer) -> tuple[float, ...]:
    """Logistic regression of "the documents answer it" over answering.answerability; each set
    weighs the same in total, and within a set each class does (returns weights..., bias)."""
    x = np.array([g.answerability(best_score(g, excerpt_model)) for g in groups])
    y = np.array([g.question.answerable for g in groups])
    coef, intercept = logistic(x, y.astype(np.float64), l2=0.1, weight=balanced([set_of(g) for g in groups], y))
    return (*(float(v) for v in coef), intercept)


def balanced(sets: Sequence[str], labels: np.ndarray) -> np.ndarray:
    """Per-row weights under which each set weighs the same in total and, within a set, each
    class (answerable or not) does; they sum to the number of rows."""
    weight = np.ones(len(sets))
    for name in set(sets):
        for label in (True, False):
            members = [i for i, (s, a) in enumerate(zip(sets, labels)) if s == name and a == label]
            weight[members] = 1.0 / max(1, len(members))
    return weight * len(sets) / len(set(sets)) / 2


def best_score(g: CandidateGroup, model: Rescorer) -> float:
    return max((model.score(f) for f in g.features), default=0.0)


def refusal(groups: Sequence[CandidateGroup], model: Rescorer, threshold: float) -> dict[str, float | None]:
    """Share of answerable and of unanswerable questions refused at `threshold`."""
    refused = {True: [0, 0], False: [0, 0]}
    for g in groups:
        p = model.answerable(g.answerability(best_score(g, model))) if len(g.features) else 0.0
        refused[g.question.answerable][0] += p < threshold
        refused[g.question.answerable][1] += 1
    return {"answerable_refused": round(refused[True][0] / refused[True][1], 4) if refused[True][1] else None,
            "unanswerable_refused": round(refused[False][0] / refused[False][1], 4) if refused[False][1] else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared", help="the shared/ folder")
    parser.add_argument("--index-root", type=Path, default=REPO_ROOT / "index" / "eval",
                        help="where each corpus's index is built or reused (default: index/eval/<corpus>)")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="model file to write")
    parser.add_argument("--limit", type=int, help="at most this many questions per set (a quick run)")
    parser.add_argument("--cache", type=Path, help="keep each set's candidates in this folder and reuse them "
                        "(delete it after changing features or retrieval)")
    parser.add_argument("--max-refused", type=float, default=0.04,
                        help="the threshold refuses at most this share of the answerable questions of each "
                             "trained-on set (default 0.04)")
    parser.add_argument("--sets", nargs="+", choices=list(question_sets()), default=list(question_sets()),
                        help="question sets to use (default: all; dev and extra_qa are scored, never trained on)")
    parser.add_argument("--report-only", action="store_true", help="score the model in --out; write nothing")
    args = parser.parse_args(argv)

    sets = question_sets(args.shared)
    data = load_groups(sets, args.sets, args.index_root, args.limit, args.cache)
    trainable = {n: gs for n, gs in data.items() if sets[n].trainable}
    train = [g for gs in trainable.values() for g in gs if not held_out(split_key(g))]
    current = None
    if args.out.exists():
        try:
            current = read_rescorer(args.out)
        except ConfigError as exc:  # features changed since it was written: no "before" column
            if args.report_only:
                parser.error(str(exc))
            print(f"note: {exc}; fitting without a comparison", file=sys.stderr)
    threshold = Settings().abstain_below
    if args.report_only and current:
        model = current
    else:
        labelled = [g for g in train if g.question.answerable and g.labels.any() and not g.labels.all()]
        if not labelled or all(g.question.answerable for g in train):
            parser.error("nothing to fit: --sets needs answerable questions with evidence and unanswerable ones "
                         f"among the trainable sets ({', '.join(n for n in sets if sets[n].trainable)})")
        excerpt_model = fit([g for g in train if g.question.answerable and set_of(g) in EXCERPT_SETS])
        *weights, bias = fit_answerable(train, excerpt_model)
        model = dataclasses.replace(excerpt_model, answerable_weights=tuple(weights), answerable_bias=bias)
        # The threshold: the highest that refuses at most --max-refused of each trained-on set's answerable.
        probabilities = {n: sorted(model.answerable(g.answerability(best_score(g, model))) if len(g.features)
                                   else 0.0 for g in gs if g.question.answerable and not held_out(split_key(g)))
                         for n, gs in trainable.items()}
        threshold = min(ps[int(args.max_refused * len(ps))] for ps in probabilities.values() if ps)
        # Stored as a bias shift, so that Settings.abstain_below (0.5) stays the documented cut.
        shift = float(np.log(threshold / (1 - threshold)))
        model = dataclasses.replace(model, answerable_bias=model.answerable_bias - shift)
        threshold = 0.5

    report: dict[str, dict[str, object]] = {}
    print(f"{'set':34} {'model':7} {'hit@1':>7} {'hit@3':>7} {'ceiling':>8} {'refused ans':>12} "
          f"{'refused unans':>14} {'n':>6}")
    parts = [(f"{n} held-out", [g for g in gs if held_out(split_key(g))]) for n, gs in trainable.items()]
    parts += [(f"{n} trained-on", [g for g in gs if not held_out(split_key(g))]) for n, gs in trainable.items()]
    parts += [(f"{n} (never trained on)", gs) for n, gs in data.items() if not sets[n].trainable]
    for name, groups in parts:
        models = {"before": current, "model": model} if current and not args.report_only else {"model": model}
        report[name] = {}
        for label, m in models.items():
            if m is None:
                continue
            cut = Settings().abstain_below if label == "before" else threshold
            answerable = [g for g in groups if g.question.answerable]
            r = {**hits_at(answerable, m), **refusal(groups, m, cut)}
            report[name][label] = r
            refused = [r[k] if r[k] is not None else "-" for k in ("answerable_refused", "unanswerable_refused")]
            print(f"{name:34} {label:7} {r['hit@1']:7.3f} {r['hit@3']:7.3f} {r['ceiling']:8.3f} "
                  f"{refused[0]!s:>12} {refused[1]!s:>14} {len(groups):6}")
    print("excerpt weights:", json.dumps({k: round(v, 3) for k, v in zip(FEATURES, model.weights)}),
          f"bias {model.bias:.3f}")
    print("answerable weights:", json.dumps({k: round(v, 3) for k, v in zip(ANSWERABILITY, model.answerable_weights)}),
          f"bias {model.answerable_bias:.3f}")
    if args.report_only:
        return 0
    held = {n: sorted({key for key in map(split_key, gs) if held_out(key) and key in documents})
            for n, gs in trainable.items() for documents in [{d for ds in _DOCUMENTS[n].values() for d in ds}]}
    out = {**model.to_json(),
           "trained": {"on": "the documents (or, for sets without documents, the questions) of "
                             + ", ".join(trainable) + " that are not held out; the excerpt model on "
                             + ", ".join(n for n in trainable if n in EXCERPT_SETS) + " only",
                       "held_out_documents": {n: d for n, d in held.items() if d},
                       "date": date.today().isoformat(), "script": "scripts/train_rescorer.py",
                       "limit": args.limit, "max_refused": args.max_refused},
           "report": report}
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
