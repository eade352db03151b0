"""Scores answers against a question file (the format of shared/eval/dev_qa.jsonl)."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssistantError
from ..ingest.textnorm import normalize_for_match
from ..types import Answer


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    question: str
    evidence: tuple[str, ...]
    answerable: bool
    kind: str = ""  # "offtopic" or "neartopic" for unanswerable questions
    doc_ids: tuple[str, ...] = ()  # asked only within these documents (the line's "doc"), as `ask --doc`


@dataclass(frozen=True)
class EvalResult:
    question: EvalQuestion
    abstained: bool
    first_hit: int | None  # 1-based position of the first citation holding the evidence
    seconds: float
    citations: int = 0
    first_excerpt: str = ""
    quoted_words: int = 0  # words in all the answer's excerpts together
    marked: str | None = None  # the answer the reader marked in the first quote, if any

    def to_json(self) -> dict[str, object]:
        """One line of `assistant eval --per-question FILE`."""
        q = self.question
        return {"id": q.qid, "question": q.question, "answerable": q.answerable, "kind": q.kind,
                "doc": list(q.doc_ids), "first_hit": self.first_hit, "abstained": self.abstained,
                "citations": self.citations, "quoted_words": self.quoted_words, "first_excerpt": self.first_excerpt,
                "marked": self.marked, "ms": round(1000 * self.seconds, 1)}


def read_questions(path: Path) -> list[EvalQuestion]:
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            out.append(EvalQuestion(str(item["id"]), item["question"], tuple(item.get("evidence", [])),
                                    bool(item.get("answerable", True)), _kind(item.get("kind")),
                                    _doc_ids(item.get("doc"))))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise AssistantError(f"{path}:{number}: not a question line ({exc})") from exc
    return out


KINDS = ("offtopic", "neartopic")


def _kind(value: object) -> str:
    """A line's optional "kind", spelled as the file likes ("near-topic", "Near topic")."""
    if value is None or value == "":
        return ""
    kind = "".join(ch for ch in str(value).lower() if ch.isalpha())
    if kind not in KINDS:
        raise ValueError(f'"kind" must be one of {", ".join(KINDS)}, not {value!r}')
    return kind


def _doc_ids(value: object) -> tuple[str, ...]:
    """A line's optional "doc": one document id or a list of them."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError('"doc" must be a document id or a list of them')


def wanted_evidence(evidence: Sequence[str]) -> list[str]:
    """The evidence strings as they are compared: normalize_for_match(excerpt) must contain one."""
    return [normalize_for_match(e) for e in evidence if e.strip()]


def first_evidence_position(answer: Answer, evidence: Sequence[str]) -> int | None:
    wanted = wanted_evidence(evidence)
    for citation in answer.citations:
        excerpt = normalize_for_match(citation.excerpt)
        if any(w in excerpt for w in wanted):
            return citation.n
    return None


Ask = Callable[[str, "Collection[str] | None"], Answer]
"""Answers a question, within the given documents when they are not None (Assistant.ask)."""


def evaluate(questions: Iterable[EvalQuestion], ask: Ask, clock: Callable[[], float]) -> Iterator[EvalResult]:
    """Asks each question (within its documents, when the line names some) and scores the answer."""
    for q in questions:
        started = clock()
        answer = ask(q.question, q.doc_ids or None)
        seconds = clock() - started
        first = answer.citations[0] if answer.citations else None
        yield EvalResult(q, answer.abstained, first_evidence_position(answer, q.evidence), seconds,
                         len(answer.citations), first.excerpt if first else "",
                         sum(len(c.excerpt.split()) for c in answer.citations),
                         first.answer.text if first and first.answer else None)


def summarize(results: Sequence[EvalResult]) -> dict[str, float | int | None]:
    answerable = [r for r in results if r.question.answerable]
    offtopic = [r for r in results if not r.question.answerable and r.question.kind != "neartopic"]
    neartopic = [r for r in results if not r.question.answerable and r.question.kind == "neartopic"]

    def hit_at(k: int) -> float | None:
        if not answerable:
            return None
        return round(sum(1 for r in answerable if r.first_hit is not None and r.first_hit <= k)
                     / len(answerable), 4)

    def rate(items: Sequence[EvalResult]) -> float | None:
        return round(sum(r.abstained for r in items) / len(items), 4) if items else None

    mrr = (round(sum(1 / r.first_hit for r in answerable if r.first_hit) / len(answerable), 4)
           if answerable else None)
    marked = [r for r in answerable if r.marked is not None and r.question.evidence]
    latencies = sorted(r.seconds for r in results)
    answered = [r for r in results if not r.abstained]
    return {
        "hit@1": hit_at(1), "hit@3": hit_at(3), "hit@5": hit_at(5), "mrr": mrr,
        "false_abstention": rate(answerable), "offtopic_abstained": rate(offtopic),
        "neartopic_abstained": rate(neartopic),
        "questions": len(results), "answerable": len(answerable),
        "median_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "mean_citations": round(sum(r.citations for r in answered) / len(answered), 3) if answered else None,
        "mean_quoted_words": round(sum(r.quoted_words for r in answered) / len(answered), 1) if answered else None,
        # The answer marked in the first quote against the evidence strings (SQuAD's normalisation):
        # the share of answerable questions with one, and its exact match and token F1 where there is one.
        "marked": round(len(marked) / len(answerable), 4) if answerable else None,
        "marked_em": _mean([max(exact_match(r.marked or "", e) for e in r.question.evidence) for r in marked]),
        "marked_f1": _mean([max(token_f1(r.marked or "", e) for e in r.question.evidence) for r in marked]),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def squad_normal(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_match(marked: str, gold: str) -> float:
    """SQuAD's exact match of a marked answer against a gold one: 1.0 or 0.0."""
    return float(squad_normal(marked) == squad_normal(gold))


def token_f1(marked: str, gold: str) -> float:
    """SQuAD's token F1 of a marked answer against a gold one."""
    a, b = squad_normal(marked).split(), squad_normal(gold).split()
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)
