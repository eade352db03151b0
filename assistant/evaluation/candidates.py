"""Question files -> the candidate excerpts the answer step weighs, with features and labels.

The data scripts/train_rescorer.py fits the rescorer on and scores it with: for each
question, exactly the excerpts Assistant.ask would weigh (same retrieval, same pool), each
labelled by whether it holds the question's evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..answer.answering import answer_pool, answerability, candidates, search_depth
from ..answer.blend import Blend, excerpt_evidence, question_evidence
from ..answer.reader import Reader, Reading
from ..answer.rescorer import Rescorer
from ..answer.retrieval import Retriever
from ..config import Settings
from ..ingest.textnorm import normalize_for_match
from .questions import EvalQuestion, wanted_evidence


@dataclass(frozen=True)
class CandidateGroup:
    """One question's candidate excerpts."""

    question: EvalQuestion
    features: np.ndarray  # (candidates, len(FEATURES))
    labels: np.ndarray  # bool: the excerpt holds one of the evidence strings
    spans: tuple[tuple[str, int, int], ...]  # (chunk_id, first, last): overlapping excerpts share sentences
    texts: tuple[str, ...]  # each excerpt as it would be quoted
    strength: float  # answering.evidence_strength of the retrieved passages
    dense: float  # the best of the first three passages' cosines
    unknown: float  # retrieval.Query.unknown
    spread: float  # retrieval.Query.spread
    unknown_name: float  # retrieval.Query.unknown_name, as 0 or 1

    def answerability(self, best: float) -> tuple[float, ...]:
        """answering.answerability, given the best excerpt's probability."""
        return (self.strength, best, self.dense, self.unknown, self.spread, self.unknown_name)


def collect(retriever: Retriever, settings: Settings, questions: Iterable[EvalQuestion]) -> Iterator[CandidateGroup]:
    """The candidates of each question, as Assistant.ask(question, doc_ids) weighs them (Assistant.retriever)."""
    store = retriever.store
    for q in questions:
        query = retriever.analyse(" ".join(q.question.split()), q.doc_ids or None)
        hits = retriever.search(query, search_depth(query, settings), q.doc_ids or None)
        found = candidates(query, answer_pool(query, hits, settings), store.document, store.excerpt_vectors_of,
                           retriever.coverage)
        wanted = wanted_evidence(q.evidence)
        labels = [any(w in normalize_for_match(c.text) for w in wanted) for c in found]
        spans = [(c.hit.chunk.chunk_id, c.first, c.last) for c in found]
        features = np.array([c.features for c in found], dtype=np.float64).reshape(len(found), -1)
        strength, _, dense, unknown, spread, unknown_name = answerability(query, hits, 0.0)
        yield CandidateGroup(q, features, np.array(labels, dtype=bool), tuple(spans), tuple(c.text for c in found),
                             strength, dense, unknown, spread, unknown_name)


@dataclass(frozen=True)
class ReadCandidates:
    """What the reader made of one question's best candidates, as answering.read reads them."""

    order: np.ndarray  # indices of the candidates read, the rescorer's best first
    evidence: np.ndarray  # (len(order), len(blend.EXCERPT)): each one's blend.excerpt_evidence
    readings: tuple[Reading, ...]
    answerable: float  # the rescorer's P(the documents answer)

    def question_evidence(self, blend: Blend) -> tuple[float, ...]:
        """blend.question_evidence, with each candidate's log-odds as `blend` weighs it."""
        return question_evidence(self.answerable, self.readings, [blend.logit(e) for e in self.evidence])


def read_candidates(group: CandidateGroup, rescorer: Rescorer, reader: Reader, excerpts: int) -> ReadCandidates:
    """The reader's reading of the rescorer's best `excerpts` candidates of `group` (none when the
    group has no candidates)."""
    scores = np.array([rescorer.score(f) for f in group.features])
    order = np.argsort(-scores, kind="stable")[:excerpts]
    answerable = rescorer.answerable(group.answerability(float(scores.max()))) if len(scores) else 0.0
    question = " ".join(group.question.question.split())
    readings = tuple(reader.read(question, [group.texts[i] for i in order]))
    evidence = np.array([excerpt_evidence(float(scores[i]), r) for i, r in zip(order, readings)],
                        dtype=np.float64).reshape(len(order), -1)
    return ReadCandidates(order, evidence, readings, answerable)
