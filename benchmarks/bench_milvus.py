"""Scaling out, measured on this machine: the index through a Milvus server vs embedded, and a
build's embedding spread over Ray workers.

1. Ask latency: the same questions (dev set and built-in ones) asked in this process of the
   embedded index and of the same version published to a Milvus server (a local milvus-lite
   one unless --store names one); warm p50/p95 of the full answer path, and whether every
   answer is the same. Target: Milvus p95 <= 2x the embedded index's.
2. Publish: seconds to write the version into new collections and switch the alias; then,
   on a copy of the corpus, seconds to publish a rebuild that changed one document (the
   version before the served one brought up to date: only that document's rows rewritten).
3. Ray: the corpus built with --ray on a local cluster of W workers (each loads the model
   once), for each W in --ray-workers (0: no Ray), passages per second; whether passage ids
   and vectors equal the build without Ray (cosine >= 0.9999).

Prints figures, asserts nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
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
    parser.add_argument("--beir", type=Path, metavar="FOLDER", help="measure the publish of a one-document "
                        "change on this BEIR corpus (corpus.jsonl) instead of --corpus")
    parser.add_argument("--beir-index", type=Path, metavar="DIR", help="an index of the --beir corpus already "
                        "built (by `assistant eval --beir`), copied to start from")
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

                from assistant.distributed.ray_cluster import start_local_cluster

                start_local_cluster(num_cpus=count, include_dashboard=False, logging_level="ERROR",
                                    log_to_driver=False)
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


def publish_one_edit(root: Path, location: Any, embedder: Any, corpus: Path, beir: Path | None = None,
                     built: Path | None = None) -> dict[str, Any] | None:
    """Seconds to publish a rebuild in which one document changed since the served version: two
    documents (of the corpus folder, or of the BEIR corpus.jsonl `beir`) are edited one after the
    other (the first publishes write anew: no version is spare yet). `built`: an index of that
    corpus already built, copied to start from."""
    import hashlib

    from assistant.config import Settings
    from assistant.evaluation.beir import beir_document
    from assistant.indexing import store as index_store
    from assistant.indexing.milvus.publish import publish
    from assistant.pipeline import build_index, build_index_from_documents

    settings = Settings.from_env(corpus_dir=root / "edited", index_dir=root / "edited-index", progress=False)
    if built is not None:
        shutil.copytree(built, settings.index_dir)

    def edit(text: str) -> str:  # one word changed: the document's passages are embedded and written again
        return text.replace(" the ", " this ", 1)

    if beir is not None:
        lines = [json.loads(line) for line in (beir / "corpus.jsonl").read_text("utf-8").splitlines() if line.strip()]
        documents = [d for item in lines if (d := beir_document(str(item["_id"]), item.get("title", ""),
                                                                item.get("text", ""))) is not None]
        editable = [n for n, d in enumerate(documents) if " the " in d.text][:2]

        def build(step: int) -> None:
            if step:
                n = editable[step - 1]
                text = edit(documents[n].text)
                documents[n] = dataclasses.replace(documents[n], text=text,
                                                   content_hash=hashlib.sha256(text.encode()).hexdigest())
            build_index_from_documents(settings, documents, embedder=embedder)
    else:
        shutil.copytree(corpus, settings.corpus_dir)
        editable_files = sorted(p for p in settings.corpus_dir.rglob("*")
                                if p.suffix in (".txt", ".md") and " the " in p.read_text("utf-8"))[:2]
        editable = list(range(len(editable_files)))

        def build(step: int) -> None:
            if step:
                path = editable_files[step - 1]
                path.write_text(edit(path.read_text("utf-8")), encoding="utf-8")
            build_index(settings, embedder=embedder)

    if len(editable) < 2:
        return None
    said: list[str] = []
    seconds = 0.0
    for step in range(3):
        build(step)
        staged = index_store.load(settings.index_dir)
        said.clear()
        started = time.perf_counter()
        publish(staged, location, said.append)
        seconds = time.perf_counter() - started
    how = next((line for line in said if line.startswith("publishing")), "")
    return {"publish_one_edit_s": round(seconds, 2), "publish_one_edit_passages": staged.size,
            "updated": "by updating" in how, "how": how}


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
        edit = publish_one_edit(root, dataclasses.replace(location, collection="bench_edits"), embedder,
                                args.corpus, args.beir, args.beir_index)
        if edit is not None:
            print(f"\none document changed ({edit['publish_one_edit_passages']} passages), published in "
                  f"{edit['publish_one_edit_s']:.2f} s: {edit['how']}")
            figures.update({k: v for k, v in edit.items() if k != "how"})
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
