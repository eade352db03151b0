"""Scaling out, measured on this machine: the index through a Milvus server vs embedded, and a
build's embedding spread over Ray workers.

1. Ask latency: the same questions (dev set and built-in ones) asked in this process of the
   embedded index and of the same version published to a Milvus server (a local milvus-lite
   one unless --store names one); warm p50/p95 of the full answer path, and whether every
   answer is the same. Target: Milvus p95 <= 2x the embedded index's.
2. Publish: seconds to write the version into new collections and switch the alias.
3. Ray: the corpus built with --ray on a local cluster of W workers (each loads the model
   once), for each W in --ray-workers (0: no Ray), passages per second; whether passage ids
   and vectors equal the build without Ray (cosine >= 0.9999).

Prints figures, asserts nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    BUNDLED_CORPUS,
    DEV_QA,
    EXTRA_CORPUS,
    copy_extra_corpus,
    load_questions,
    milvus_lite_server,
    print_header,
    print_table,
    summary,
    verdict,
    write_json,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=BUNDLED_CORPUS, help="documents (default: corpus/)")
    parser.add_argument("--store", default="", help="milvus://HOST:PORT/COLLECTION (default: a local "
                        "milvus-lite server started here)")
    parser.add_argument("--rounds", type=int, default=5, help="times each question is asked, warm (default: 5)")
    parser.add_argument("--ray-workers", type=int, nargs="*", default=[0, 1, 2],
                        help="Ray workers to build with, 0 for none (default: 0 1 2; none: skip)")
    parser.add_argument("--ray-extra", action="store_true", help="build the Ray comparison on a copy of the "
                        "shared extra corpus (about 1,950 passages) instead of --corpus")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return parser.parse_args(argv)


def ask_latency(settings: Any, questions: list[str], rounds: int, embedder: Any) -> tuple[list[float], list[Any]]:
    from assistant.pipeline import Assistant

    assistant = Assistant(settings, embedder)
    answers = [assistant.ask(q) for q in questions]  # warm: caches, first calls
    timings = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            assistant.ask(question)
            timings.append(time.perf_counter() - started)
    return timings, answers


def same_answers(one: list[Any], two: list[Any]) -> bool:
    def key(answer: Any) -> Any:
        return answer.text, answer.abstained, [(c.passage_id, c.start, c.end) for c in answer.citations]

    return [key(a) for a in one] == [key(a) for a in two]


def ray_builds(corpus: Path, workers: list[int], root: Path, embedder: Any) -> list[dict[str, Any]]:
    """The corpus built with each number of Ray workers (0: without Ray), compared with the first."""
    from assistant.config import Settings
    from assistant.indexing import store as index_store
    from assistant.pipeline import build_index

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a cluster on this machine only, gone afterwards
    rows: list[dict[str, Any]] = []
    reference = None
    for count in workers:
        settings = Settings.from_env(corpus_dir=corpus, index_dir=root / f"ray-{count}", progress=False)
        with contextlib.ExitStack() as stack:
            if count:
                import ray

                ray.init(num_cpus=count, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
                stack.callback(ray.shutdown)
                settings = settings.with_overrides(ray="auto")
            started = time.perf_counter()
            report = build_index(settings, full=True, embedder=embedder)
            seconds = time.perf_counter() - started
        built = index_store.load(settings.index_dir)
        ids, vectors = [c.chunk_id for c in built.chunks], np.asarray(built.vectors)
        if reference is None:
            reference = (ids, vectors)
        same = ids == reference[0]
        cosine = float(np.min(np.sum(vectors * reference[1], axis=1))) if same and len(ids) else float("nan")
        rows.append({"workers": count, "passages": report.total_chunks, "seconds": round(seconds, 2),
                     "passages_per_s": round(report.total_chunks / seconds, 1),
                     "same_ids": same, "min_cosine": round(cosine, 6)})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    from assistant.config import Settings
    from assistant.indexing import store as index_store
    from assistant.indexing.milvus import parse_location
    from assistant.indexing.milvus.publish import publish
    from assistant.pipeline import build_index, get_embedder

    args = parse_args(argv)
    print_header("Scaling out: Milvus vs the embedded index, and Ray workers")
    questions = load_questions(DEV_QA)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        store = args.store or f"milvus://{stack.enter_context(milvus_lite_server(root / 'milvus'))}/bench"
        settings = Settings.from_env(corpus_dir=args.corpus, index_dir=root / "index", progress=False)
        embedder = get_embedder(settings)
        report = build_index(settings, embedder=embedder)
        location = parse_location(store)
        assert location is not None
        started = time.perf_counter()
        publish(index_store.load(settings.index_dir), location)
        publish_s = time.perf_counter() - started
        embedded_s, embedded_answers = ask_latency(settings, questions, args.rounds, embedder)
        milvus_s, milvus_answers = ask_latency(settings.with_overrides(store=store), questions, args.rounds, embedder)
        embedded, milvus = summary(embedded_s), summary(milvus_s)
        same = same_answers(embedded_answers, milvus_answers)
        print(f"corpus:  {args.corpus} ({report.total_chunks} passages); {len(questions)} questions x {args.rounds}")
        print(f"milvus:  {store}; published in {publish_s:.2f} s "
              f"({report.total_chunks / publish_s:.0f} passages/s)\n")
        print_table(["index", "ask p50 ms", "ask p95 ms", "max ms"],
                    [["embedded", embedded["median_ms"], embedded["p95_ms"], embedded["max_ms"]],
                     ["milvus", milvus["median_ms"], milvus["p95_ms"], milvus["max_ms"]]])
        print(f"\nsame answers: {same}; milvus p95 <= 2 x embedded p95: "
              f"{verdict(milvus['p95_ms'], 2 * embedded['p95_ms'])} ({milvus['p95_ms'] / embedded['p95_ms']:.2f}x)")
        figures.update({"passages": report.total_chunks, "publish_s": round(publish_s, 2),
                        "embedded_ask_p50_ms": embedded["median_ms"], "embedded_ask_p95_ms": embedded["p95_ms"],
                        "milvus_ask_p50_ms": milvus["median_ms"], "milvus_ask_p95_ms": milvus["p95_ms"],
                        "same_answers": same})
        if args.ray_workers:
            corpus = args.corpus
            if args.ray_extra:
                corpus = root / "extra"
                copy_extra_corpus(EXTRA_CORPUS, corpus)
            rows = ray_builds(corpus, args.ray_workers, root, embedder)
            print(f"\nRay builds of {corpus} (a local cluster of W workers started for each, its start counted)")
            print_table(["ray workers", "passages", "seconds", "passages/s", "same ids", "min cosine"],
                        [[r["workers"] or "none", r["passages"], r["seconds"], r["passages_per_s"], r["same_ids"],
                          r["min_cosine"]] for r in rows])
            figures["ray"] = rows
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
