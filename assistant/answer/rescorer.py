"""The excerpt rescorer: a linear model over features.FEATURES, read from rescorer.json.

scripts/train_rescorer.py fits it on public question sets and writes the file, with what it
was trained on and what it scored on held-out documents.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .features import ANSWERABILITY, FEATURES

DEFAULT_PATH = Path(__file__).with_name("rescorer.json")


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Rescorer:
    """Two logistic models: does this excerpt answer (over FEATURES), and is the question
    answered by the documents at all (over ANSWERABILITY)."""

    weights: tuple[float, ...]  # in the order of FEATURES
    bias: float = 0.0
    answerable_weights: tuple[float, ...] = (0.0,) * len(ANSWERABILITY)
    answerable_bias: float = 10.0  # until trained: every question counts as answerable

    def score(self, features: Sequence[float]) -> float:
        """P(the excerpt holds the answer)."""
        return sigmoid(self.bias + sum(w * x for w, x in zip(self.weights, features)))

    def answerable(self, evidence: Sequence[float]) -> float:
        """P(the documents answer the question), from answering.answerability."""
        return sigmoid(self.answerable_bias + sum(w * x for w, x in zip(self.answerable_weights, evidence)))

    def to_json(self) -> dict[str, object]:
        return {"weights": dict(zip(FEATURES, self.weights)), "bias": self.bias,
                "answerable": {"weights": dict(zip(ANSWERABILITY, self.answerable_weights)),
                               "bias": self.answerable_bias}}


def read_rescorer(path: Path) -> Rescorer:
    """The model in `path`; its feature names must be exactly today's FEATURES."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        answerable = data["answerable"]
        return Rescorer(ordered_weights(data["weights"], FEATURES), float(data["bias"]),
                        ordered_weights(answerable["weights"], ANSWERABILITY), float(answerable["bias"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a rescorer model ({exc}); run scripts/train_rescorer.py") from exc


def ordered_weights(weights: dict[str, float], names: Sequence[str]) -> tuple[float, ...]:
    """A model file's weights by name, in the order of `names`, which they must be exactly."""
    if set(weights) != set(names):
        missing, extra = set(names) - set(weights), set(weights) - set(names)
        raise ValueError(f"features differ (missing {sorted(missing)}, unknown {sorted(extra)})")
    return tuple(float(weights[name]) for name in names)


@functools.cache
def default_rescorer() -> Rescorer:
    return read_rescorer(DEFAULT_PATH)
