"""Fit the reader's blend (assistant/answer/blend.py): how the rescorer's probability and the
reading model's reading of an excerpt are weighed together, and when the documents answer.

    .venv/bin/python scripts/fit_blend.py                  # fit, report, write <reader>/blend.json
    .venv/bin/python scripts/fit_blend.py --report-only    # score the blend in place, write nothing

The data are scripts/train_rescorer.py's (same sets, same halves of each set's documents, same
--cache), each question's candidates read as Assistant.ask reads them with the reader on: the
rescorer's best `reader_excerpts`, by the reader at `reader_precision` (Settings, so
ASSISTANT_READER_PRECISION and ASSISTANT_READER_EXCERPTS apply). The blend is fitted on the
half the rescorer trained on, and only on documents the reader did not train on either (its
card, reader.json, lists the PolicyQA policies it held out; it trained on none of the other
sets' documents); every "held-out" figure comes from documents neither model, nor the blend,
trained on. The excerpt model fits on SQuAD as the rescorer's does (--excerpt-sets adds
others); the answerability model on every trainable set, its threshold set so that it refuses
at most --max-refused of each set's answerable questions that the rescorer lets through.
Last, `within`: how much lower the cuts relative to the best excerpt (cite_within,
extend_within) must be under the blend, whose probabilities are sharper, to keep as many
excerpts as the rescorer's keep.
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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_rescorer as rescoring

from assistant.answer.blend import BLEND, EXCERPT, QUESTION, Blend, read_blend
from assistant.answer.reader import WEIGHTS, Reader
from assistant.answer.rescorer import Rescorer, default_rescorer, sigmoid
from assistant.config import REPO_ROOT, Settings
from assistant.evaluation.candidates import CandidateGroup, ReadCandidates, read_candidates
from assistant.evaluation.sets import held_out, question_sets, reader_held_out

Read = list[tuple[CandidateGroup, ReadCandidates]]


def read_sets(data: dict[str, list[CandidateGroup]], reader: Reader, folder: Path, settings: Settings,
              cache: Path | None) -> dict[str, Read]:
    """Each set's groups with the reader's reading of their best candidates (cached per reader)."""
    rescorer = default_rescorer()
    weights = hashlib.sha1((folder / WEIGHTS).read_bytes()).hexdigest()[:10]
    out = {}
    for name, groups in data.items():
        path = None
        if cache:
            key = (f"{weights}|{settings.reader_precision}|{settings.reader_excerpts}|{len(groups)}|{rescorer}"
                   "|answering.reads by features")  # readings made before questions were left unread differ
            path = cache / f"read-{name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.pickle"
            if path.exists():
                with path.open("rb") as f:
                    out[name] = list(zip(groups, pickle.load(f)))
                continue
        started = time.perf_counter()
        read = [read_candidates(g, rescorer, reader, settings.reader_excerpts) for g in groups]
        print(f"{name}: {len(groups)} questions read in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if path:
            with path.open("wb") as f:
                pickle.dump(read, f)
        out[name] = list(zip(groups, read))
    return out


def as_group(g: CandidateGroup, read: ReadCandidates, weights: Sequence[float] | None = None) -> CandidateGroup:
    """The group cut to the candidates read, their blend evidence as features; with `weights`
    (over blend.EXCERPT), the one score each has in that order as Assistant.ask ranks
    (ReadCandidates.scores: the rescorer's where the reader is not asked)."""
    order = read.order
    features = read.evidence if weights is None else read.scores(weights)[:, None]
    return dataclasses.replace(g, features=features, labels=g.labels[order],
                               spans=tuple(g.spans[i] for i in order), texts=tuple(g.texts[i] for i in order))


def fit_answerable(rows: Read, blend: Blend, settings: Settings) -> tuple[tuple[float, ...], float]:
    """Logistic regression of "the documents answer" over blend.QUESTION on the questions the
    rescorer lets through to the blend; each set weighs the same in total, and within it each
    class does."""
    passed = [(g, r) for g, r in rows if lets_through(r, settings)]
    x = np.array([r.question_evidence(blend) for _, r in passed])
    y = np.array([g.question.answerable for g, _ in passed])
    coef, intercept = rescoring.logistic(x, y.astype(np.float64), l2=0.1,
                                         weight=rescoring.balanced([rescoring.set_of(g) for g, _ in passed], y))
    return tuple(float(v) for v in coef), intercept


def lets_through(read: ReadCandidates, settings: Settings) -> bool:
    """Whether the blend decides the question's refusal (ReadCandidates.blend_lets_through)."""
    return read.blend_lets_through(settings.abstain_below)


def threshold_for(trainable: dict[str, Read], blend: Blend, settings: Settings, max_refused: float) -> float:
    """The highest threshold that refuses at most `max_refused` of each set's answerable questions
    that the rescorer lets through (counted apart from the rescorer's own refusals, so that a set
    the rescorer already refuses more of still bounds the blend rather than silencing it)."""
    cuts = []
    for rows in trainable.values():
        ps = sorted(blend.answerable(r.question_evidence(blend)) for g, r in rows
                    if g.question.answerable and lets_through(r, settings))
        if ps:
            cuts.append(ps[int(max_refused * len(ps))])
    return min(cuts)


def within_for(trainable: dict[str, Read], blend: Blend, settings: Settings) -> tuple[float, float, float]:
    """Blend.within: the factor on the cuts relative to the best excerpt under which the blend keeps
    as many candidate excerpts within `cite_within` of the best as the rescorer keeps (those read
    at the blend's probability, the others at the rescorer's, as answering.read leaves them; each
    set with answerable questions weighing the same); with the two counts it matches."""
    rescorer = default_rescorer()

    def kept(probabilities: np.ndarray, cut: float) -> int:
        return int((probabilities >= cut * probabilities.max()).sum())

    def probabilities(g: CandidateGroup, r: ReadCandidates) -> tuple[np.ndarray, np.ndarray]:
        before = np.array([rescorer.score(f) for f in g.features])
        after = before.copy()
        after[r.order] = [sigmoid(blend.logit(e)) for e in r.evidence]
        return before, after

    sets = []
    for rows in trainable.values():
        read = [probabilities(g, r) for g, r in rows if g.question.answerable and lets_through(r, settings)]
        if read:
            sets.append(read)
    if not sets:
        return 1.0, 0.0, 0.0

    def mean_kept(which: int, cut: float) -> float:
        return float(np.mean([np.mean([kept(pair[which], cut) for pair in pairs]) for pairs in sets]))

    target = mean_kept(0, settings.cite_within)
    factors = np.round(np.arange(0.05, 1 / settings.cite_within + 1e-9, 0.01), 2)
    counts = [mean_kept(1, settings.cite_within * k) for k in factors]
    best = min(range(len(factors)), key=lambda i: (abs(counts[i] - target), -factors[i]))
    return float(factors[best]), target, counts[best]


def report(parts: Sequence[tuple[str, Read]], blend: Blend, settings: Settings, threshold: float) -> dict[str, Any]:
    """hit@1/3 among the candidates read in three orders (the rescorer's, the reader's answer logit
    alone, the blend's; the rescorer's where answering.reads leaves the reader out), the share whose
    candidates read hold an answer at all (ceiling), and the refusals of the rescorer and of the
    blend."""
    out: dict[str, Any] = {}
    print(f"{'set':34} {'order':9} {'hit@1':>7} {'hit@3':>7} {'ceiling':>8} {'refused ans':>12} {'refused unans':>14}"
          f" {'n':>6}")
    orders = {"rescorer": (1.0, 0.0, 0.0), "reader": (0.0, 1.0, 0.0), "blend": blend.weights}
    for name, rows in parts:
        refusals = {"rescorer": _refused(rows, [r.answerable < settings.abstain_below for _, r in rows]),
                    "blend": _refused(rows, [r.answered(blend, settings.abstain_below) < threshold for _, r in rows])}
        out[name] = {}
        for label, order in orders.items():
            ranked = [as_group(g, r, order) for g, r in rows if g.question.answerable]
            # The reader alone refuses none.
            row = {**rescoring.hits_at(ranked, Rescorer((1.0,))), **refusals.get(label, {})}
            out[name][label] = row
            cells = ["-" if row.get(k) is None else row[k] for k in ("answerable_refused", "unanswerable_refused")]
            print(f"{name:34} {label:9} {row['hit@1']:7.3f} {row['hit@3']:7.3f} {row['ceiling']:8.3f} {cells[0]!s:>12} "
                  f"{cells[1]!s:>14} {len(rows):6}")
    return out


def _refused(rows: Read, refuse: Sequence[bool]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, want in (("answerable_refused", True), ("unanswerable_refused", False)):
        chosen = [r for (g, _), r in zip(rows, refuse) if g.question.answerable == want]
        out[key] = round(sum(chosen) / len(chosen), 4) if chosen else None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env(progress=False)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared", help="the shared/ folder")
    parser.add_argument("--index-root", type=Path, default=REPO_ROOT / "index" / "eval",
                        help="where each corpus's index is built or reused (default: index/eval/<corpus>)")
    parser.add_argument("--reader", type=Path, default=settings.reader_dir,
                        help="the reader's folder; blend.json is written there (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="at most this many questions per set, spread over it")
    parser.add_argument("--cache", type=Path, help="keep each set's candidates and readings in this folder and "
                        "reuse them (delete it after changing features or retrieval)")
    parser.add_argument("--max-refused", type=float, default=0.05, help="refuse at most this share of each "
                        "trained-on set's answerable questions that the rescorer lets through (default %(default)s)")
    parser.add_argument("--sets", nargs="+", choices=list(question_sets()), default=list(question_sets()),
                        help="question sets (default: all; the seed corpus's are scored, never fitted on)")
    parser.add_argument("--excerpt-sets", nargs="+", choices=list(question_sets()),
                        default=list(rescoring.EXCERPT_SETS),
                        help="the sets whose answerable questions fit the excerpt model (default: %(default)s)")
    parser.add_argument("--report-only", action="store_true", help="score the blend in --reader; write nothing")
    args = parser.parse_args(argv)

    sets = question_sets(args.shared)
    data = rescoring.load_groups(sets, args.sets, args.index_root, args.limit, args.cache)
    reader = Reader(args.reader, settings.reader_precision)
    read = read_sets(data, reader, args.reader, settings, args.cache)
    held_by_reader = reader_held_out(reader.card)

    def unseen(name: str, g: CandidateGroup) -> bool:  # no document the reader trained on
        return sets[name].unseen_by_reader((rescoring.split_key(g),), held_by_reader)

    trainable = {n: [(g, r) for g, r in rows if unseen(n, g) and not held_out(rescoring.split_key(g))]
                 for n, rows in read.items() if sets[n].trainable}
    if args.report_only:
        blend = read_blend(args.reader / BLEND)
        threshold = settings.reader_abstain_below
    else:
        ranking = [as_group(g, r) for n, rows in trainable.items() if n in args.excerpt_sets
                   for g, r in rows if g.question.answerable and r.read]
        if not ranking or all(g.question.answerable for rows in trainable.values() for g, _ in rows):
            parser.error("nothing to fit: --sets needs answerable questions of "
                         + " or ".join(args.excerpt_sets) + " and unanswerable ones among the trainable sets")
        weights, bias = rescoring.fit_ranker(ranking)
        blend = Blend(tuple(weights), bias, (0.0,) * len(QUESTION), 0.0)
        answerable_weights, answerable_bias = fit_answerable([row for rows in trainable.values() for row in rows],
                                                             blend, settings)
        blend = dataclasses.replace(blend, answerable_weights=answerable_weights, answerable_bias=answerable_bias)
        cut = threshold_for(trainable, blend, settings, args.max_refused)
        # Stored as a bias shift, so that Settings.reader_abstain_below (0.5) stays the documented cut.
        blend = dataclasses.replace(blend, answerable_bias=answerable_bias - float(np.log(cut / (1 - cut))))
        threshold = 0.5
        within, kept_before, kept_after = within_for(trainable, blend, settings)
        blend = dataclasses.replace(blend, within=within)
        print(f"within: {within} (candidates kept within cite_within {settings.cite_within} of the best: "
              f"rescorer {kept_before:.2f}, blend {kept_after:.2f})")

    parts = [(f"{n} held-out", [(g, r) for g, r in rows if unseen(n, g) and held_out(rescoring.split_key(g))])
             for n, rows in read.items() if sets[n].trainable]
    parts += [(f"{n} (never fitted on)", rows) for n, rows in read.items() if not sets[n].trainable]
    figures = report([(n, rows) for n, rows in parts if rows], blend, settings, threshold)
    print("excerpt weights:", json.dumps({k: round(v, 3) for k, v in zip(EXCERPT, blend.weights)}),
          f"bias {blend.bias:.3f}")
    print("answerable weights:", json.dumps({k: round(v, 3) for k, v in zip(QUESTION, blend.answerable_weights)}),
          f"bias {blend.answerable_bias:.3f}")
    if args.report_only:
        return 0
    out = {**blend.to_json(),
           "trained": {"on": "the documents of " + ", ".join(trainable) + " that the rescorer trained on and the "
                             "reader did not; the excerpt model on " + ", ".join(
                                 n for n in trainable if n in args.excerpt_sets) + " only",
                       "date": date.today().isoformat(), "script": "scripts/fit_blend.py", "limit": args.limit,
                       "max_refused": args.max_refused, "reader_precision": settings.reader_precision,
                       "reader_excerpts": settings.reader_excerpts},
           "report": figures}
    (args.reader / BLEND).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.reader / BLEND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
