"""Prints answer quality end to end on every question set: hit@1/3, abstention, citations per answer.

    .venv/bin/python benchmarks/answer_quality.py                  # all sets, ~6-10 min on 2 cores
    .venv/bin/python benchmarks/answer_quality.py --sets dev policyqa --limit 300
    .venv/bin/python benchmarks/answer_quality.py --reader both   # with and without the reading model

Each question goes through Assistant.ask exactly as `assistant eval` asks it (within its
`doc` when the line names one). Sets: the seed corpus's dev questions and our own held-out
ones; PolicyQA (3,809 questions over 20 privacy policies) and SQuAD 2.0 (6,078 over 16
Wikipedia articles, half unanswerable), each question within its document; and our own
unanswerable questions over the seed corpus, ../shared/corpus-extra and PolicyQA's policies
(eval/unanswerable/); CUAD's clause questions over the contracts the reader held out. For the
sets of documents the fits may train on (PolicyQA, SQuAD, CUAD) the "held-out" rows count only
the half of the documents that the rescorer and the reader's blend are never fitted on
(evaluation.sets.held_out; rescorer.json lists them) and, when there is a reading model in
Settings.reader_dir, that it did not train on either (its reader.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import add_question_set_arguments, print_header, question_sets_with_assistants

from assistant.answer.reader import CARD, read_card
from assistant.config import Settings
from assistant.evaluation.questions import EvalResult, evaluate, summarize
from assistant.evaluation.sets import held_out, reader_held_out


def reader_card(folder: Path) -> dict[str, Any]:
    """The reading model's card in `folder` ({} when there is none)."""
    return read_card(folder) if (folder / CARD).exists() else {}


def row(name: str, reader: str, results: Sequence[EvalResult]) -> dict[str, object]:
    summary = summarize(results)
    unanswerable = [r for r in results if not r.question.answerable]
    refused = round(sum(r.abstained for r in unanswerable) / len(unanswerable), 4) if unanswerable else None
    return {"set": name, "reader": reader, "questions": len(results), "hit@1": summary["hit@1"],
            "hit@3": summary["hit@3"],
            "false_abstention": summary["false_abstention"], "unanswerable_refused": refused,
            "mean_citations": summary["mean_citations"], "mean_quoted_words": summary["mean_quoted_words"],
            "marked": summary["marked"], "marked_f1": summary["marked_f1"], "median_ms": summary["median_ms"]}


def with_reader(assistant: Any, mode: str) -> Iterator[tuple[str, Any]]:
    """(reader mode, an Assistant answering that way) for `mode`: "settings", "off", "on" or "both"."""
    from assistant.pipeline import Assistant

    modes = [assistant.settings.reader] if mode == "settings" else ["off", "on"] if mode == "both" else [mode]
    for reader in modes:
        if reader == assistant.settings.reader:
            yield reader, assistant
        else:
            yield reader, Assistant(assistant.settings.with_overrides(reader=reader), assistant.embedder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_question_set_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--reader", choices=["settings", "off", "on", "both"], default="settings",
                        help="answer with the reading model off, on, or each way side by side (default: as "
                             "the settings say, ASSISTANT_READER; ASSISTANT_READER_DIR picks the model)")
    args = parser.parse_args(argv)
    print_header("answer quality")

    by_reader = reader_held_out(reader_card(Settings.from_env().reader_dir))
    rows: list[dict[str, object]] = []
    for qs, assistant in question_sets_with_assistants(args.sets, args.index_root):
        name = qs.name
        questions = qs.read(args.limit)
        documents = qs.documents()
        for reader, asker in with_reader(assistant, args.reader):
            started = time.perf_counter()
            results = list(evaluate(questions, asker.ask, time.perf_counter))
            rows.append(row(name, reader, results))
            if qs.trainable and any(documents.values()):
                rows.append(row(f"{name} held-out", reader,
                                [r for r in results if all(map(held_out, documents[r.question.qid]))
                                 and qs.unseen_by_reader(documents[r.question.qid], by_reader)]))
            done = rows[-2] if qs.trainable and any(documents.values()) else rows[-1]
            print(f"{name} (reader {reader}): {len(results)} questions in {time.perf_counter() - started:.0f} s; "
                  f"hit@1 {done['hit@1']}, hit@3 {done['hit@3']}, refused {done['unanswerable_refused']}",
                  file=sys.stderr, flush=True)

    keys = ["reader", "questions", "hit@1", "hit@3", "false_abstention", "unanswerable_refused", "mean_citations",
            "mean_quoted_words", "marked", "marked_f1", "median_ms"]
    print(f"{'set':28}" + "".join(f"{k:>21}" for k in keys))
    for r in rows:
        print(f"{r['set']!s:28}" + "".join(f"{'-' if r[k] is None else r[k]!s:>21}" for k in keys))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
