"""The model an index is built and searched with, and what follows from it.

One loaded model per process and settings; the identity a version records (and a reader
checks); the glued-word splitter, which knows the model's words and the corpus's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from ...config import Settings
from ...ingest.chunking import CHUNKING_VERSION
from ...ingest.textnorm import GlueSplitter, words
from ..embedding import Embedder, SentenceTransformerEmbedder
from ..store import IndexIdentity

_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per process, model name, precision and device."""
    key = f"{settings.model}|{settings.precision}|{settings.device}"
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(settings.model, settings.precision, settings.device)
        return _EMBEDDERS[key]


def identity_for(settings: Settings, embedder: Embedder) -> IndexIdentity:
    """What an index built with these settings and this model records, and a reader expects."""
    return IndexIdentity(model=settings.model, dimension=embedder.dimension,
                         chunking_version=CHUNKING_VERSION, max_chunk_tokens=settings.max_chunk_tokens)


def corpus_words(text: str) -> set[str]:
    """The words of a text the glued-word splitter may split into."""
    return {w for w in words(text) if w.isalpha() and len(w) < 20}


def make_splitter(embedder: Embedder, texts: Sequence[str] = (), known: Iterable[str] = ()) -> GlueSplitter:
    """Glued-word splitter knowing the model's words and the corpus's own (from `texts`, or `known`)."""
    found = set(known).union(*(corpus_words(t) for t in texts))
    return GlueSplitter(list(embedder.vocabulary()) + sorted(found))
