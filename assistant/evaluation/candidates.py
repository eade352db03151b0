"""Question files -> the candidate excerpts the answer step weighs, with features and labels.

The data scripts/train_rescorer.py fits the rescorer on and scores it with: for each
question, exactly the excerpts Assistant.ask would weigh (same retrieval, same pool), each
labelled by whether it holds the question's evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..answer.answering import answer_pool, answerability, candidates, reads, search_depth
from ..answer.blend import EXCERPT, Blend, excerpt_evidence, log_odds, question_evidence
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


RESCORER = EXCERPT.index("rescorer")


@dataclass(frozen=True)
class ReadCandidates:
    """What the reader made of one question's best candidates, as answering.read reads them."""

    order: np.ndarray  # indices of the candidates read, the rescorer's best first
    evidence: np.ndarray  # (len(order), len(blend.EXCERPT)): each one's blend.excerpt_evidence
    readings: tuple[Reading, ...]
    answerable: float  # the rescorer's P(the documents answer)
    # False where answering.reads skips the reader (a signature block or byline may answer): no readings, the
    # reader's columns of `evidence` are 0, and the rescorer's order and refusal stand.
    read: bool = True

    def question_evidence(self, blend: Blend) -> tuple[float, ...]:
        """blend.question_evidence, with each candidate's log-odds as `blend` weighs it."""
        return question_evidence(self.answerable, self.readings, [blend.logit(e) for e in self.evidence])

    def scores(self, weights: Sequence[float]) -> np.ndarray:
        """Each candidate's score in the order that `weights` over blend.EXCERPT make, as
        Assistant.ask ranks them: by the rescorer's log-odds where the reader is not asked."""
        return self.evidence @ np.asarray(weights) if self.read else self.evidence[:, RESCORER]

    def _rescorer_lets_through(self, abstain_below: float) -> bool:
        """Whether the rescorer, which refuses first, answers (answering.compose's first cut)."""
        return bool(len(self.order)) and self.answerable >= abstain_below

    def blend_lets_through(self, abstain_below: float) -> bool:
        """Whether the blend decides this question's refusal: the reader is asked and the rescorer,
        which refuses first, does not refuse it."""
        return self.read and self._rescorer_lets_through(abstain_below)

    def answered(self, blend: Blend, abstain_below: float) -> float:
        """P(the documents answer) as Assistant.ask weighs it with the reader on: 0 where the
        rescorer refuses first, 1 where the reader is not asked and the rescorer answers, else
        the blend's."""
        if not self._rescorer_lets_through(abstain_below):
            return 0.0
        return blend.answerable(self.question_evidence(blend)) if self.read else 1.0


def read_candidates(group: CandidateGroup, rescorer: Rescorer, reader: Reader, excerpts: int) -> ReadCandidates:
    """The reader's reading of the rescorer's best `excerpts` candidates of `group` (none when the
    group has no candidates; nothing read for a question answering.reads leaves to the rescorer)."""
    scores = np.array([rescorer.score(f) for f in group.features])
    order = np.argsort(-scores, kind="stable")[:excerpts]
    answerable = rescorer.answerable(group.answerability(float(scores.max()))) if len(scores) else 0.0
    question = " ".join(group.question.question.split())
    if not reads(group.features):
        evidence = np.zeros((len(order), len(EXCERPT)))
        evidence[:, RESCORER] = [log_odds(float(scores[i])) for i in order]
        return ReadCandidates(order, evidence, (), answerable, read=False)
    readings = tuple(reader.read(question, [group.texts[i] for i in order]))
    evidence = np.array([excerpt_evidence(float(scores[i]), r) for i, r in zip(order, readings)],
                        dtype=np.float64).reshape(len(order), -1)
    return ReadCandidates(order, evidence, readings, answerable)
