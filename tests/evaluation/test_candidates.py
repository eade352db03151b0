"""The reader's reading of candidate excerpts, as the benchmarks and scripts/fit_blend.py count
it: the same questions read, ranked and refused as Assistant.ask reads, ranks and refuses them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.answer.answering import reads
from assistant.answer.blend import Blend
from assistant.answer.features import FEATURES
from assistant.answer.reader import Reader
from assistant.answer.rescorer import Rescorer
from assistant.evaluation.candidates import CandidateGroup, read_candidates
from assistant.evaluation.questions import EvalQuestion

from ..conftest import REPO

TEXTS = ("The declaration was agreed in Seoul in May 2024.", "It was signed by the ministers of ten countries.")
# The rescorer prefers the first excerpt; this blend would put the reader's choice first.
RESCORER = Rescorer((1.0,), answerable_bias=10.0)
BLEND = Blend((0.0, 1.0, 5.0), 0.0, (0.0, 0.0, 1.0), 0.0)


def group(question: str, signature_block: bool = False) -> CandidateGroup:
    """Two candidates the rescorer scores 2 and 1 (its first feature); with `signature_block`,
    the second holds one's names (feature signatory, on only for a question about who signed)."""
    features = np.zeros((2, len(FEATURES)))
    features[:, 0] = (2.0, 1.0)
    features[1, FEATURES.index("signatory")] = signature_block
    return CandidateGroup(EvalQuestion(f"set:{question}", question, ("ten countries",), True), features,
                          np.array([False, True]), (("c", 0, 0), ("c", 1, 1)), TEXTS, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_a_signature_block_is_left_to_the_rescorer_as_answers_leave_it(untrained_reader: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import fit_blend

    reader = Reader(untrained_reader)
    question = "Who signed the declaration?"
    assert reads(group(question).features) and not reads(group(question, signature_block=True).features)

    read = read_candidates(group(question), RESCORER, reader, 6)  # no signature block: prose, read
    assert read.read and len(read.readings) == 2 and read.blend_lets_through(0.5)
    assert 0.0 < read.answered(BLEND, 0.5) < 1.0  # the blend's probability

    left = group(question, signature_block=True)
    unread = read_candidates(left, RESCORER, reader, 6)
    assert not unread.read and unread.readings == () and not unread.blend_lets_through(0.5)
    assert unread.answered(BLEND, 0.5) == 1.0  # the rescorer answers: so does the product
    assert read_candidates(left, Rescorer((1.0,), answerable_bias=-10.0), reader, 6).answered(BLEND, 0.5) == 0.0
    # Ranked as answers rank it: by the rescorer's log-odds, whatever the blend's weights.
    ranked = fit_blend.as_group(left, unread, BLEND.weights)
    assert ranked.features[:, 0] == pytest.approx([2.0, 1.0]) and ranked.texts == TEXTS
