"""Prints the abstention trade-off: the share of unanswerable questions refused against the
share of answerable ones refused, per question set, as the threshold moves.

    .venv/bin/python benchmarks/abstention_margin.py                       # every set, ~15 min on 2 cores
    .venv/bin/python benchmarks/abstention_margin.py --sets dev seed-unanswerable
    .venv/bin/python benchmarks/abstention_margin.py --reader    # also the reading model's trade-off

For each question, the probability that the documents answer it is the rescorer's
answerability model (assistant/answer/rescorer.json) over the evidence Assistant.ask sees;
the assistant refuses below Settings.abstain_below (0.5). The sets are those of
benchmarks/answer_quality.py: the seed corpus's dev and extra questions, our own
unanswerable ones over three corpora (eval/unanswerable/), PolicyQA (all answerable) and
SQuAD 2.0 (half unanswerable), each question within its `doc`. For the dev set it also
prints the margin: the lowest answerable and the highest unanswerable probability.

With --reader it also prints the reading model's trade-off (ASSISTANT_READER=on): a question the
rescorer lets through is refused when the reader's blend (blend.json beside its weights) gives
the documents a probability of answering below Settings.reader_abstain_below, having read the
rescorer's best `reader_excerpts` excerpts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from _common import add_question_set_arguments, print_header, question_sets_with_assistants

from assistant.answer.blend import blend_at
from assistant.answer.reader import Reader, reader_at
from assistant.answer.rescorer import default_rescorer
from assistant.config import Settings
from assistant.evaluation.candidates import collect, read_candidates
from assistant.pipeline import Assistant

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
READER_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
Rows = list[tuple[float, bool, str]]


def probabilities(assistant: Assistant, questions: list) -> list[tuple[float, bool, str]]:  # type: ignore[type-arg]
    """(P(answerable), answerable, question) for each question, as Assistant.ask weighs it."""
    model = default_rescorer()
    rows = []
    for group in collect(assistant.retriever, assistant.settings, questions):
        best = max((model.score(f) for f in group.features), default=0.0)
        p = model.answerable(group.answerability(best)) if len(group.features) else 0.0
        rows.append((p, group.question.answerable, group.question.question))
    return rows


def reader_probabilities(assistant: Assistant, questions: list, reader: Reader) -> Rows:  # type: ignore[type-arg]
    """(P(answerable) with the reader on, answerable, question) for each question, as
    Assistant.ask weighs it (answering.read, the blend in Settings.reader_dir); 0 where the
    rescorer refuses first, 1 where it answers a question the reader is not asked (ReadCandidates.answered)."""
    model, settings = default_rescorer(), assistant.settings
    blend = blend_at(settings.reader_dir)
    rows = []
    for group in collect(assistant.retriever, settings, questions):
        read = read_candidates(group, model, reader, settings.reader_excerpts)
        rows.append((read.answered(blend, settings.abstain_below), group.question.answerable, group.question.question))
    return rows


def print_trade_off(results: dict[str, Rows], thresholds: Sequence[float], cut: float, name: str) -> None:
    print(f"{'threshold':>10}  " + "".join(f"{set_name[:26]:>28}" for set_name in results))
    for threshold in sorted({*thresholds, cut}):
        mark = f" <- {name}" if threshold == cut else ""
        cells = [f"{refused(rows, True, threshold)} / {refused(rows, False, threshold)}" for rows in results.values()]
        print(f"{threshold:>10.2f}  " + "".join(f"{c:>28}" for c in cells) + mark)


def refused(rows: Sequence[tuple[float, bool, str]], answerable: bool, threshold: float) -> str:
    chosen = [p for p, a, _ in rows if a == answerable]
    return f"{sum(p < threshold for p in chosen) / len(chosen):.3f}" if chosen else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_question_set_arguments(parser)
    parser.add_argument("--list", action="store_true", help="also list every dev question with its probability")
    parser.add_argument("--reader", action="store_true", help="also the reading model's trade-off "
                        "(the model in Settings.reader_dir; ASSISTANT_READER_DIR picks another)")
    args = parser.parse_args(argv)
    print_header("abstention trade-off")

    results: dict[str, Rows] = {}
    read: dict[str, Rows] = {}
    settings = Settings.from_env()
    reader = reader_at(settings.reader_dir, settings.reader_precision) if args.reader else None
    for qs, assistant in question_sets_with_assistants(args.sets, args.index_root):
        questions = qs.read(args.limit)
        results[qs.name] = probabilities(assistant, questions)
        if reader is not None:
            read[qs.name] = reader_probabilities(assistant, questions, reader)

    print("share refused at each threshold: answerable / unanswerable ('-': the set has none)")
    print_trade_off(results, THRESHOLDS, settings.abstain_below, "abstain_below")
    if read:
        print("\nwith the reader on (rescorer at abstain_below, then the reader's best probability):")
        print_trade_off(read, READER_THRESHOLDS, settings.reader_abstain_below, "reader_abstain_below")
    cut = settings.abstain_below
    dev = results.get("dev", [])
    if args.list:
        for p, answerable, question in sorted(dev):
            print(f"{p:.3f}  {'answerable  ' if answerable else 'not covered '}  {question}")
    if any(a for _, a, _ in dev) and any(not a for _, a, _ in dev):
        low = min(p for p, a, _ in dev if a)
        high = max(p for p, a, _ in dev if not a)
        print(f"\ndev: lowest answerable {low:.3f}, highest unanswerable {high:.3f}, threshold {cut:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
