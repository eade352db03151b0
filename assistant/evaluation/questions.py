"""Scores answers against a question file (the format of shared/eval/dev_qa.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class EvalResult:
    question: EvalQuestion
    abstained: bool
    first_hit: int | None  # 1-based position of the first citation holding the evidence
    seconds: float


def read_questions(path: Path) -> list[EvalQuestion]:
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            out.append(EvalQuestion(str(item["id"]), item["question"], tuple(item.get("evidence", [])),
                                    bool(item.get("answerable", True)), item.get("kind", "")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AssistantError(f"{path}:{number}: not a question line ({exc})") from exc
    return out


def first_evidence_position(answer: Answer, evidence: Sequence[str]) -> int | None:
    wanted = [normalize_for_match(e) for e in evidence if e.strip()]
    for citation in answer.citations:
        excerpt = normalize_for_match(citation.excerpt)
        if any(w in excerpt for w in wanted):
            return citation.n
    return None


def evaluate(questions: Sequence[EvalQuestion], ask: Callable[[str], Answer],
             clock: Callable[[], float]) -> list[EvalResult]:
    results = []
    for q in questions:
        started = clock()
        answer = ask(q.question)
        results.append(EvalResult(q, answer.abstained, first_evidence_position(answer, q.evidence),
                                  clock() - started))
    return results


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
    latencies = sorted(r.seconds for r in results)
    return {
        "hit@1": hit_at(1), "hit@3": hit_at(3), "hit@5": hit_at(5), "mrr": mrr,
        "false_abstention": rate(answerable), "offtopic_abstained": rate(offtopic),
        "neartopic_abstained": rate(neartopic),
        "questions": len(results), "answerable": len(answerable),
        "median_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
    }
