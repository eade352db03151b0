"""The question sets the answer step is measured and trained on, and one index per corpus.

Used by scripts/train_rescorer.py, benchmarks/answer_quality.py and
benchmarks/abstention_margin.py. Sets whose files are missing (no ../shared) are skipped by
their callers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..config import REPO_ROOT, Settings
from .questions import EvalQuestion, read_questions

SHARED = REPO_ROOT.parent / "shared"
OWN = REPO_ROOT / "eval"
MADE = REPO_ROOT / "index" / "eval" / "sources"  # sets written from ../shared/train on first use (not committed)


@dataclass(frozen=True)
class QuestionSet:
    name: str
    corpus: Path
    questions: tuple[Path, ...]
    trainable: bool  # scripts/train_rescorer.py may fit on (half of) it
    scoped: bool = True  # each question is asked within its `doc`; False: of the whole corpus
    reader_source: str | None = None  # the reading model's training source over these documents, if any
    made_from: Path | None = None  # a training file the corpus and questions are written from on first use

    def make(self) -> None:
        """Write a made set's corpus and questions (evaluation.contracts) when they are missing
        and its source is there: the documents of the source named like the set that the shipped
        reader's card says it held out (so the reader has seen none of them)."""
        if self.made_from is None or not self.made_from.exists() or self.corpus.exists():
            return
        from ..answer.reader import DEFAULT_DIR, read_card
        from .contracts import write_contract_set

        held = reader_held_out(read_card(DEFAULT_DIR)).get(self.name, set())
        if held:  # a card that names none leaves the set missing, not empty
            write_contract_set(self.made_from, self.corpus.parent, held)

    def unseen_by_reader(self, doc_ids: tuple[str, ...], reader_held_out: dict[str, set[str]]) -> bool:
        """Whether the reading model never trained on these documents: its card's `held_out`
        (source -> documents, reader_held_out) holds them, or it trained on none of this set's."""
        return self.reader_source is None or set(doc_ids) <= reader_held_out.get(self.reader_source, set())

    def exists(self) -> bool:
        """Whether the set can be asked (a made set is written first, when its source is there)."""
        self.make()
        return self.corpus.exists() and all(p.exists() for p in self.questions)

    def read(self, limit: int | None = None) -> list[EvalQuestion]:
        """The set's questions (at most `limit`, spread over it), scoped as the set asks them."""
        questions = sample_evenly([q for path in self.questions for q in read_questions(path)], limit)
        return questions if self.scoped else [dataclasses.replace(q, doc_ids=()) for q in questions]

    def documents(self) -> dict[str, tuple[str, ...]]:
        """Each question's `doc` as its line names it, scoped or not (for splitting by document)."""
        return {q.qid: q.doc_ids for path in self.questions for q in read_questions(path)}


def question_sets(shared: Path = SHARED) -> dict[str, QuestionSet]:
    """Every set by name. The seed corpus's dev questions and our own over it are never trained on."""
    seed = REPO_ROOT / "corpus"
    policies = shared / "eval" / "policyqa" / "corpus"
    sets = [
        QuestionSet("dev", seed, (shared / "eval" / "dev_qa.jsonl",), False),
        QuestionSet("extra_qa", seed, (OWN / "extra_qa.jsonl",), False),
        # Written by someone who saw only the corpus, never the code or its answers (eval/README.md).
        QuestionSet("independent", seed, (OWN / "independent_qa.jsonl",), False),
        QuestionSet("holdout", seed, (OWN / "holdout_qa.jsonl",), False),
        # Kept unread: only its summary figures are looked at (eval/README.md).
        QuestionSet("fresh", seed, (OWN / "fresh_qa.jsonl",), False),
        QuestionSet("fresh2", seed, (OWN / "fresh2_qa.jsonl",), False),
        QuestionSet("fresh3", seed, (OWN / "fresh3_qa.jsonl",), False),
        QuestionSet("seed-unanswerable", seed, (OWN / "unanswerable" / "seed.jsonl",), True),
        # Answerable questions in a policy analyst's own words, over documents the seed corpus is
        # not: the fits' only answerable questions of that kind (eval/README.md).
        QuestionSet("corpus-extra", shared / "corpus-extra", (OWN / "corpus-extra_qa.jsonl",), True),
        QuestionSet("corpus-extra-unanswerable", shared / "corpus-extra",
                    (OWN / "unanswerable" / "corpus-extra.jsonl",), True),
        QuestionSet("policyqa-unanswerable", policies, (OWN / "unanswerable" / "policyqa.jsonl",), True,
                    reader_source="policyqa"),
        QuestionSet("policyqa", policies, (shared / "eval" / "policyqa" / "dev_qa.jsonl",), True,
                    reader_source="policyqa"),
        QuestionSet("squad2", shared / "eval" / "squad2" / "corpus", (shared / "eval" / "squad2" / "dev_qa.jsonl",),
                    True, reader_source="squad2"),
        # CUAD's clause questions over the 36 contracts the reader held out, each within its contract
        # (evaluation.contracts writes them on first use).
        QuestionSet("cuad", MADE / "cuad" / "corpus", (MADE / "cuad" / "questions.jsonl",), True,
                    made_from=shared / "train" / "cuad-train" / "train.json"),
        # ContractNLI's hypotheses over the 15 NDAs the reader held out: measured, never fitted on.
        QuestionSet("contractnli", MADE / "contractnli" / "corpus", (MADE / "contractnli" / "questions.jsonl",), False,
                    made_from=shared / "train" / "contractnli-dev.json"),
        # The same questions asked of all 16 articles at once, as a user asks the whole corpus:
        # which document holds the answer matters here, as it does on the seed corpus.
        QuestionSet("squad2-open", shared / "eval" / "squad2" / "corpus",
                    (shared / "eval" / "squad2" / "dev_qa.jsonl",), True, scoped=False, reader_source="squad2"),
    ]
    return {s.name: s for s in sets}


def held_out(doc_id: str) -> bool:
    """Half of each set's documents (or, for a set without documents, its questions), fixed by
    their id: the rescorer and the reader's blend are never fitted on them."""
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 2 == 0


def index_name(corpus: Path) -> str:
    """One index per corpus folder: shared/eval/<set>/corpus -> <set>, the repo's corpus -> seed."""
    if corpus.resolve() == (REPO_ROOT / "corpus").resolve():
        return "seed"
    return corpus.parent.name if corpus.name == "corpus" else corpus.name


def settings_for(corpus: Path, index_root: Path) -> Settings:
    """Settings for asking within `corpus`, its index kept in index_root/<index_name(corpus)>."""
    return Settings.from_env(corpus_dir=corpus, index_dir=index_root / index_name(corpus), progress=False)


def sample_evenly(items: list[EvalQuestion], limit: int | None) -> list[EvalQuestion]:
    """At most `limit` items taken at an even stride, so that a sample covers every document."""
    if not limit or len(items) <= limit:
        return items
    return items[:: len(items) // limit][:limit]


def reader_held_out(card: dict[str, object]) -> dict[str, set[str]]:
    """The documents a reading model's card (reader.json) says it held out, by training source."""
    held = card.get("held_out", {})
    return {source: set(row["documents"]) for source, row in held.items()} if isinstance(held, dict) else {}
