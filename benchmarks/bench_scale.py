"""One machine, N passages: build, open, ask and memory figures of an index of N passages of real text.

The passages are the SciFact abstracts and the texts of ../shared/corpus-extra, repeated and
varied (each copy's sentences rotated and tagged) until there are about N. With
`--vectors synthetic`, the model's real vectors of a few thousand of those passages, each
reused with small random noise and renormalised, stand in for encoding every passage, so the
serving path can be measured at a million passages without hours of encoding, while ANN
recall is measured on the geometry real embeddings have. Questions are always encoded by
the real model.

Each phase runs in its own process, so its peak memory is its own:
  build   build_index_from_documents on the generated documents (peak RSS of that process)
  serve   cold open (Assistant() with the model already loaded), warm asks, serving RSS,
          ANN recall@10 against exact search on 200 questions, encode throughput.

Prints figures, asserts nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import DEV_QA, REPO_ROOT, load_questions, print_header, print_table, summary, write_json

SCIFACT = REPO_ROOT.parent / "shared" / "eval" / "scifact"
EXTRA = REPO_ROOT.parent / "shared" / "corpus-extra"
POOL_SIZE = 2000  # real vectors reused by --vectors synthetic; also the encode-throughput sample
NOISE = 0.02  # per-dimension noise added to a reused vector before it is renormalised
TARGETS = {  # (at 13.6k passages, at 1M passages), from the issue
    "open_s": (2.0, 5.0), "ask_p95_ms": (25.0, 100.0), "serve_rss_mb": (700.0, 3000.0),
    "build_peak_rss_mb": (1200.0, 2000.0),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=13_600, metavar="N",
                        help="about how many passages to index (default: %(default)s, SciFact's size)")
    parser.add_argument("--vectors", choices=("model", "synthetic"), default="model",
                        help="model: encode every passage; synthetic: reuse real vectors of "
                             f"{POOL_SIZE} passages with noise (default: %(default)s)")
    parser.add_argument("--asks", type=int, default=100, help="timed warm asks (default: %(default)s)")
    parser.add_argument("--recall-queries", type=int, default=200,
                        help="questions for ANN recall@10 against exact search (default: %(default)s)")
    parser.add_argument("--pool", type=int, default=POOL_SIZE,
                        help="passages encoded for the synthetic vectors and the throughput figure "
                             "(default: %(default)s)")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder (default: %(default)s)")
    parser.add_argument("--extra", type=Path, default=EXTRA, help="extra corpus folder (default: %(default)s)")
    parser.add_argument("--vector-index", choices=("auto", "flat", "ivf"), default="auto",
                        help="Settings.vector_index for the build (default: %(default)s: approximate above "
                             "Settings.ann_above passages)")
    parser.add_argument("--workers", type=int, default=-1,
                        help="Settings.workers for the build: processes that chunk beside the one that "
                             "embeds (default: %(default)s, one per spare core)")
    parser.add_argument("--incremental", action="store_true",
                        help="after the build, rebuild with one document edited and print how long that took "
                             "and how many passages it wrote (the serve phase then serves that version)")
    parser.add_argument("--overlay-above", type=int, default=None, metavar="N",
                        help="Settings.overlay_above: above N passages the incremental build writes only the "
                             "edited document, over the served version (default: the setting's, 50,000)")
    parser.add_argument("--index", type=Path, metavar="DIR",
                        help="index folder to build into and keep (default: a temp folder, removed)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--phase", choices=("build", "serve"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- The passages --------------------------------------------------------------------------

def base_texts(scifact: Path, extra: Path) -> list[tuple[str, str]]:
    """(title, text) of every SciFact abstract and of each section of the extra corpus's texts."""
    found = []
    corpus = scifact / "corpus.jsonl"
    if corpus.exists():
        for line in corpus.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("text", "").strip():
                    found.append((item.get("title", ""), item["text"]))
    if extra.is_dir():
        for path in sorted(extra.glob("*.txt")):
            paragraphs = [p for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if p.strip()]
            for start in range(0, len(paragraphs), 4):
                found.append((path.stem.replace("_", " "), "\n\n".join(paragraphs[start:start + 4])))
    if not found:
        raise SystemExit(f"no texts: neither {corpus} nor {extra}/*.txt exists")
    return found


def varied(text: str, copy: int) -> str:
    """Copy `copy` of a text: its sentences rotated by `copy`, tagged so each copy differs."""
    if copy == 0:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    shift = copy % len(sentences)
    return " ".join(sentences[shift:] + sentences[:shift]) + f" (Copy {copy}.)"


def documents(bases: list[tuple[str, str]], count: int, changed: int = -1) -> Iterator[Any]:
    """`count` documents cycling through the base texts, each cycle varied; document number
    `changed` gets a sentence more (an edit, for the incremental rebuild)."""
    from assistant.evaluation.beir import beir_document

    made = 0
    copy = 0
    while made < count:
        for i, (title, text) in enumerate(bases):
            if made >= count:
                return
            edit = " This sentence was added to the document after it was first indexed." if made == changed else ""
            doc = beir_document(f"d{copy}-{i}", title, varied(text, copy) + edit)
            if doc is not None:
                made += 1
                yield doc
        copy += 1


class SyntheticEmbedder:
    """The real model for everything but encode(): a text's vector is a real vector of the pool
    (picked by the text's hash) plus noise, renormalised."""

    def __init__(self, real: Any, pool: np.ndarray, noise: float = NOISE) -> None:
        self.real = real
        self.name = real.name
        self.pool = pool
        self.noise = noise

    @property
    def dimension(self) -> int:
        return int(self.real.dimension)

    @property
    def max_tokens(self) -> int:
        return int(self.real.max_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.real.count_tokens(texts)

    def token_counter(self) -> Any:
        """What chunking worker processes count with (the build uses workers only when this exists)."""
        return self.real.token_counter()

    def vocabulary(self) -> list[str]:
        return self.real.vocabulary()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        seeds = [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                 for t in texts]
        base = self.pool[[s % len(self.pool) for s in seeds]]
        rng = np.random.default_rng(seeds[0])
        out = base + rng.normal(0, self.noise, size=base.shape).astype(np.float32)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


# -- Phases (each in its own process) ------------------------------------------------------

def rss_mb() -> float:
    match = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_for(args: argparse.Namespace) -> Any:
    from assistant.config import Settings

    overlay = {} if args.overlay_above is None else {"overlay_above": args.overlay_above}
    return Settings().with_overrides(index_dir=args.index, corpus_dir=args.index / "no-corpus", progress=False,
                                     vector_index=args.vector_index, workers=args.workers, **overlay)


def pool_texts(bases: list[tuple[str, str]], size: int) -> list[str]:
    step = max(1, len(bases) // size)
    return [f"{title}\n{text}" for title, text in bases[::step][:size]]


def phase_build(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.indexing.embedding import limit_kernel_cache
    from assistant.pipeline import build_index_from_documents, get_embedder

    limit_kernel_cache()  # as `assistant index` does: this process builds and answers nothing

    settings = settings_for(args)
    bases = base_texts(args.scifact, args.extra)
    real = get_embedder(settings)
    embedder: Any = real
    figures: dict[str, Any] = {}
    if args.vectors == "synthetic":
        started = time.perf_counter()
        pool = real.encode(pool_texts(bases, args.pool), batch_size=settings.batch_size)
        figures["pool_encode_s"] = round(time.perf_counter() - started, 2)
        embedder = SyntheticEmbedder(real, pool)
    real.count_tokens(["warm up"])
    # Passages per document, measured on a sample, sets how many documents make about N passages.
    from assistant.ingest.chunking import ChunkingParams, chunk_document
    from assistant.pipeline import identity_for, make_splitter

    identity_for(settings, real)
    splitter = make_splitter(real)
    sample = list(documents(bases, 300))
    per_doc = sum(len(chunk_document(d, real.count_tokens, splitter,
                                     ChunkingParams(max_tokens=settings.max_chunk_tokens))) for d in sample) / 300
    count = max(1, round(args.passages / per_doc))
    rss_before = rss_mb()
    started = time.perf_counter()
    report = build_index_from_documents(settings.with_overrides(progress=True), documents(bases, count),
                                        embedder=embedder, with_excerpts=True)
    from assistant.indexing.store import current_version

    manifest = json.loads((current_version(args.index) / "manifest.json").read_text(encoding="utf-8"))
    figures.update({"documents": count, "passages": report.total_chunks,
                    "embedded_texts": manifest["counts"]["embedded_texts"],
                    "build_s": round(time.perf_counter() - started, 2),
                    "build_peak_rss_mb": round(peak_rss_mb(), 1), "rss_before_build_mb": round(rss_before, 1)})
    if args.incremental:  # the same documents, one of them edited in the middle of the library
        started = time.perf_counter()
        again = build_index_from_documents(settings, documents(bases, count, changed=count // 2),
                                           embedder=embedder, with_excerpts=True)
        written = current_version(args.index)
        written_manifest = json.loads((written / "manifest.json").read_text(encoding="utf-8"))
        figures.update({"incremental_s": round(time.perf_counter() - started, 2),
                        "incremental_embedded_chunks": again.embedded_chunks,
                        "incremental_written_passages": written_manifest["counts"]["chunks"],
                        "incremental_written_mb": round(disk_mb(written), 1),
                        "incremental_overlay": "overlay" in written_manifest,
                        "incremental_peak_rss_mb": round(peak_rss_mb(), 1)})
    return figures


def phase_serve(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.indexing.layered import load
    from assistant.pipeline import Assistant, get_embedder

    settings = settings_for(args)
    embedder = get_embedder(settings)
    embedder.dimension  # noqa: B018 - the model is loaded before the clock starts
    questions = scifact_questions(args.scifact) + load_questions(DEV_QA)
    started = time.perf_counter()
    assistant = Assistant(settings, embedder)
    open_s = time.perf_counter() - started
    first_started = time.perf_counter()
    assistant.ask(questions[0])
    first_ask_s = time.perf_counter() - first_started
    timings = []
    for i in range(args.asks):
        started = time.perf_counter()
        assistant.ask(questions[(i + 1) % len(questions)])
        timings.append(time.perf_counter() - started)
    asks = summary(timings)
    serve_rss = rss_mb()
    figures: dict[str, Any] = {
        "open_s": round(open_s, 3), "first_ask_ms": round(first_ask_s * 1000, 1),
        "ask_p50_ms": round(asks["median_ms"], 1), "ask_p95_ms": round(asks["p95_ms"], 1),
        "serve_rss_mb": round(serve_rss, 1), "vector_index": assistant.store.manifest["vector_index"],
    }
    # ANN recall@10: the served search against exact search over every vector.
    store = assistant.store
    exact = load(settings.index_dir, exact=True)
    vectors = embedder.encode(questions[: args.recall_queries] or ["x"])
    hits = 0
    for vector in vectors:
        found = {r for r, _ in store.search(vector, 10)}
        truth = {r for r, _ in exact.search(vector, 10)}
        hits += len(found & truth) / max(1, len(truth))
    figures["ann_recall_at_10"] = round(hits / len(vectors), 4)
    figures["recall_queries"] = len(vectors)
    bases = base_texts(args.scifact, args.extra)
    texts = pool_texts(bases, args.pool)
    embedder.encode(texts[:64])
    started = time.perf_counter()
    embedder.encode(texts, batch_size=settings.batch_size)
    figures["encode_passages_per_s"] = round(len(texts) / (time.perf_counter() - started), 1)
    return figures


def scifact_questions(folder: Path) -> list[str]:
    path = folder / "queries.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_phase(phase: str, args: argparse.Namespace, index: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", phase, "--index", str(index), "--passages", str(args.passages),
               "--vectors", args.vectors, "--asks", str(args.asks), "--recall-queries", str(args.recall_queries),
               "--pool", str(args.pool), "--vector-index", args.vector_index, "--workers", str(args.workers),
               *(["--incremental"] if args.incremental else []),
               *(["--overlay-above", str(args.overlay_above)] if args.overlay_above is not None else []),
               "--scifact", str(args.scifact), "--extra", str(args.extra)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"{phase} phase failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase:
        figures = phase_build(args) if args.phase == "build" else phase_serve(args)
        print(json.dumps(figures))
        return 0
    print_header(f"scale: about {args.passages:,} passages, {args.vectors} vectors")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        index = (args.index or Path(tmp) / "index").resolve()
        built = run_phase("build", args, index)
        from assistant.indexing.store import base_of, current_version

        version = current_version(index)
        base = base_of(version) if version else None  # an overlay is served over its base
        disk = disk_mb(version) + (disk_mb(index / base) if base else 0) if version else float("nan")
        served = run_phase("serve", args, index)
    figures = {"passages": built["passages"], "build_s": built["build_s"],
               "build_peak_rss_mb": built["build_peak_rss_mb"],
               "disk_mb": round(disk, 1),
               "open_s": served["open_s"], "ask_p50_ms": served["ask_p50_ms"], "ask_p95_ms": served["ask_p95_ms"],
               "serve_rss_mb": served["serve_rss_mb"], "ann_recall_at_10": served["ann_recall_at_10"],
               "encode_passages_per_s": served["encode_passages_per_s"],
               "vectors": args.vectors, "documents": built["documents"], "vector_index": served["vector_index"],
               "first_ask_ms": served["first_ask_ms"], "recall_queries": served["recall_queries"]}
    incremental = ("incremental_s", "incremental_embedded_chunks", "incremental_written_passages",
                   "incremental_written_mb")
    for key in (*incremental, "incremental_overlay"):
        if key in built:
            figures[key] = built[key]
    if args.vectors == "model":  # texts: the passages and their excerpt windows
        figures["build_vs_raw_encode"] = round(
            built["embedded_texts"] / built["build_s"] / figures["encode_passages_per_s"], 3)
    big = figures["passages"] >= 500_000
    rows = [[key, figures[key], f"<= {TARGETS[key][big]}" if key in TARGETS else ""]
            for key in ("passages", "build_s", "build_peak_rss_mb", "disk_mb", "open_s", "ask_p50_ms",
                        "ask_p95_ms", "serve_rss_mb", "ann_recall_at_10", "encode_passages_per_s",
                        *(k for k in incremental if k in figures))]
    print_table(["measure", "value", "target"], rows)
    print(f"vector index: {figures['vector_index']}; vectors: {args.vectors}; workers: {args.workers}")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
