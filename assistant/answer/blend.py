"""With the reader on, the second stage: the rescorer's probability and the reader's reading of
each excerpt it read, weighed together by a logistic model, and the same for whether the
documents answer the question at all.

The weights are fitted on public question sets by `scripts/fit_blend.py --reader DIR` and
kept in DIR/blend.json, beside the reader's weights (a retrained reader needs a refit).
Without that file the blend is EVEN_BLEND: the two log-odds averaged.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .reader import Reading
from .rescorer import ordered_weights, sigmoid

BLEND = "blend.json"
SPAN_CLIP = 20.0  # a span margin's magnitude past this says nothing more

EXCERPT = (
    "rescorer",  # the log-odds of the rescorer's probability that the excerpt answers
    "reader",    # the reader's answer logit for the excerpt
    "span",      # how much the reader prefers its best span to marking nothing (clipped)
)
QUESTION = (
    "answerable",   # the log-odds of the rescorer's probability that the documents answer
    "best_reader",  # the highest reader logit among the excerpts read
    "best",         # the highest blended log-odds among them
)


def log_odds(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Blend:
    """Two logistic models: does this excerpt answer (over EXCERPT), and do the documents
    answer the question (over QUESTION)."""

    weights: tuple[float, ...]
    bias: float
    answerable_weights: tuple[float, ...]
    answerable_bias: float
    # The cuts relative to the best excerpt (Settings.cite_within, extend_within) times this, when
    # the blend ranks: its probabilities are sharper than the rescorer's, so the same share of
    # the best one keeps fewer excerpts; fitted so that as many are kept as the rescorer keeps.
    within: float = 1.0

    def logit(self, evidence: Sequence[float]) -> float:
        return self.bias + sum(w * x for w, x in zip(self.weights, evidence))

    def answerable(self, evidence: Sequence[float]) -> float:
        """P(the documents answer the question), from question_evidence."""
        return sigmoid(self.answerable_bias + sum(w * x for w, x in zip(self.answerable_weights, evidence)))

    def to_json(self) -> dict[str, object]:
        return {"weights": dict(zip(EXCERPT, self.weights)), "bias": self.bias,
                "answerable": {"weights": dict(zip(QUESTION, self.answerable_weights)),
                               "bias": self.answerable_bias}, "within": self.within}


EVEN_BLEND = Blend((0.5, 0.5, 0.0), 0.0, (0.0, 0.0, 1.0), 0.0)
"""Rescorer and reader alike; the documents answer as surely as the best excerpt does."""


def excerpt_evidence(rescorer_probability: float, reading: Reading) -> tuple[float, ...]:
    """One excerpt's values, in the order of EXCERPT."""
    return (log_odds(rescorer_probability), reading.score, max(-SPAN_CLIP, min(SPAN_CLIP, reading.span_score)))


def question_evidence(answerable_probability: float, readings: Sequence[Reading],
                      logits: Sequence[float]) -> tuple[float, ...]:
    """The question's values, in the order of QUESTION (`logits`: each excerpt's blended log-odds)."""
    return (log_odds(answerable_probability), max((r.score for r in readings), default=-SPAN_CLIP),
            max(logits, default=-SPAN_CLIP))


def read_blend(path: Path) -> Blend:
    """The blend in `path`; its names must be exactly today's EXCERPT and QUESTION."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Blend(ordered_weights(data["weights"], EXCERPT), float(data["bias"]),
                     ordered_weights(data["answerable"]["weights"], QUESTION), float(data["answerable"]["bias"]),
                     float(data.get("within", 1.0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a reader blend ({exc}); run scripts/fit_blend.py") from exc


@functools.cache
def blend_at(folder: Path) -> Blend:
    """The blend fitted for the reader in `folder`, or EVEN_BLEND when none was."""
    path = folder / BLEND
    return read_blend(path) if path.exists() else EVEN_BLEND
