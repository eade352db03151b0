"""Time index builds: a rebuild with nothing changed, and full-build vs raw-encode throughput.

Prints figures, asserts nothing. Targets from the issue: a no-change rebuild <= 1 s (model
already loaded); a full build within 20% of raw encode time on the same chunks.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BUNDLED_CORPUS,
    EXTRA_CORPUS,
    REPO_ROOT,
    TimedEmbedder,
    copy_extra_corpus,
    load_average,
    print_header,
    print_table,
    set_torch_threads,
    torch_threads,
    verdict,
    write_json,
)

from assistant.config import Settings
from assistant.indexing import store as index_store
from assistant.pipeline import build_index, get_embedder

REBUILD_TARGET_S = 1.0
RATIO_TARGET = 1.20  # full build time / raw encode time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark index builds with the model already loaded: a rebuild with nothing "
                    "changed, and a full build against a bare encode of the same chunks. Indexes "
                    "go to temp folders.")
    parser.add_argument("--corpus", type=Path, default=BUNDLED_CORPUS, metavar="DIR",
                        help="first corpus to measure (default: the repo's corpus/)")
    parser.add_argument("--extra", action="store_true",
                        help="also measure a copy of the .txt/.html files of --extra-dir "
                             "(about 2,000 chunks; adds about 3 minutes on 2 cores)")
    parser.add_argument("--extra-dir", type=Path, default=EXTRA_CORPUS, metavar="DIR",
                        help="the larger corpus for --extra (default: %(default)s)")
    parser.add_argument("--extra-only", action="store_true", help="measure only the --extra corpus")
    parser.add_argument("--repeat", type=int, default=3,
                        help="full build + raw encode rounds for the first corpus (default: 3)")
    parser.add_argument("--extra-repeat", type=int, default=1,
                        help="rounds for the --extra corpus (default: 1)")
    parser.add_argument("--rebuilds", type=int, default=5,
                        help="no-change rebuilds timed per corpus (default: 5)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one no-change rebuild and one full build per corpus and print "
                             "the top costs inside the assistant package")
    parser.add_argument("--top", type=int, default=12, help="profile rows to print (default: 12)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the figures as JSON (benchmarks/out/ is git-ignored)")
    args = parser.parse_args(argv)
    if args.extra_only:
        args.extra = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print_header("index build")
    settings = Settings().with_overrides(progress=False)
    started = time.perf_counter()
    embedder = TimedEmbedder(get_embedder(settings))
    embedder.dimension  # noqa: B018 - loads the model now, outside every timing below
    set_torch_threads(args.threads)
    embedder.encode(["warm-up: the first call to the model pays one-off costs"])
    print(f"model load {time.perf_counter() - started:.2f} s (torch import included, not counted "
          f"below), {torch_threads()}\n")

    figures: dict[str, Any] = {"load_average_start": load_average(), "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        corpora: list[tuple[str, Path, int]] = []
        if not args.extra_only:
            corpora.append(("bundled" if args.corpus == BUNDLED_CORPUS else args.corpus.name,
                            args.corpus.resolve(), args.repeat))
        if args.extra:
            extra = Path(tmp) / "corpus-extra"
            names = copy_extra_corpus(args.extra_dir, extra)
            print(f"extra corpus: {', '.join(names)} copied from {args.extra_dir}\n")
            corpora.append(("extra", extra, args.extra_repeat))
        for label, corpus, rounds in corpora:
            settings = Settings().with_overrides(corpus_dir=corpus, index_dir=Path(tmp) / f"index-{label}",
                                                 progress=False)
            figures["corpora"][label] = measure(label, settings, embedder, rounds, args)
    summarize(figures["corpora"])
    figures["load_average_end"] = load_average()
    print(f"\nload avg at the end: {figures['load_average_end']}")
    write_json(args.json, figures)
    return 0


def measure(label: str, settings: Settings, embedder: TimedEmbedder, rounds: int,
            args: argparse.Namespace) -> dict[str, Any]:
    print(f"## {label}: {settings.corpus_dir}")
    builds: list[dict[str, float]] = []
    raws: list[dict[str, float]] = []
    chunks = 0
    documents = 0
    for _ in range(max(1, rounds)):
        # Interleaved, so drift in machine load hits both sides alike.
        embedder.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        report = build_index(settings, full=True, embedder=embedder)
        end, cpu_end = time.perf_counter(), time.process_time()
        first = embedder.first_encode_at or end
        last = embedder.last_encode_end or end
        builds.append({"s": end - wall, "cpu_s": cpu_end - cpu, "before_encode_s": first - wall,
                       "count_tokens_s": embedder.count_tokens_s, "encode_s": embedder.encode_s,
                       "after_encode_s": end - last})
        chunks = report.total_chunks
        documents = len(report.added) + len(report.changed) + len(report.unchanged)
        if report.failed:
            print("  failed: " + "; ".join(f"{f.path}: {f.reason}" for f in report.failed))

        store = index_store.load(settings.index_dir)
        # The build embeds each chunk and its candidate excerpts (deduplicated): the same here.
        texts = list(dict.fromkeys([c.embed_text for c in store.chunks]
                                   + [t for c in store.chunks for t in c.excerpt_texts]))
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.inner.encode(texts, batch_size=settings.batch_size)
        raws.append({"s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu})

    rebuild_s = []
    for _ in range(max(1, args.rebuilds)):
        started = time.perf_counter()
        report = build_index(settings, embedder=embedder)
        rebuild_s.append(time.perf_counter() - started)
        if report.embedded_chunks:
            print(f"  note: a no-change rebuild embedded {report.embedded_chunks} chunks")

    build = {k: statistics.median(b[k] for b in builds) for k in builds[0]}
    raw = {k: statistics.median(r[k] for r in raws) for k in raws[0]}
    ratio = build["s"] / raw["s"]
    cpu_ratio = build["cpu_s"] / raw["cpu_s"]
    print(f"{documents} documents, {chunks} chunks, batch size {settings.batch_size}, "
          f"median of {len(builds)} round(s)\n")
    print_table(["measurement", "seconds", "chunks/s", "cpu s", "runs s"], [
        ["full build (build_index full=True)", f"{build['s']:.2f}", f"{chunks / build['s']:.1f}",
         f"{build['cpu_s']:.2f}", " ".join(f"{b['s']:.2f}" for b in builds)],
        ["raw encode of the same texts", f"{raw['s']:.2f}", f"{chunks / raw['s']:.1f}",
         f"{raw['cpu_s']:.2f}", " ".join(f"{r['s']:.2f}" for r in raws)],
        ["no-change rebuild", f"{statistics.median(rebuild_s):.3f}", "",
         "", " ".join(f"{s:.3f}" for s in rebuild_s)],
    ])
    print(f"\nfull build = before encode {build['before_encode_s']:.2f} s (parse, chunk, splitter; "
          f"token counting {build['count_tokens_s']:.2f} s) + encode {build['encode_s']:.2f} s + "
          f"after encode {build['after_encode_s']:.2f} s (vectors, save)")
    print(f"target full build / raw encode <= {RATIO_TARGET:.2f}: {ratio:.2f}  "
          f"{verdict(ratio, RATIO_TARGET)}  (CPU-time ratio {cpu_ratio:.2f})")
    print(f"target no-change rebuild <= {REBUILD_TARGET_S:.0f} s: median "
          f"{statistics.median(rebuild_s):.3f} s, max {max(rebuild_s):.3f} s  "
          f"{verdict(max(rebuild_s), REBUILD_TARGET_S)}\n")
    if args.profile:
        profile_builds(settings, embedder, args.top)
    return {"documents": documents, "chunks": chunks, "rounds": len(builds), "full_build": build,
            "full_build_runs": builds, "raw_encode": raw, "raw_encode_runs": raws,
            "build_chunks_per_s": chunks / build["s"], "raw_chunks_per_s": chunks / raw["s"],
            "ratio_build_to_raw": ratio, "cpu_ratio_build_to_raw": cpu_ratio,
            "rebuild_no_change_s": rebuild_s}


def profile_builds(settings: Settings, embedder: TimedEmbedder, top: int) -> None:
    for title, full in (("no-change rebuild", False), ("full build", True)):
        profiler = cProfile.Profile()
        profiler.enable()
        build_index(settings, full=full, embedder=embedder)
        profiler.disable()
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer).sort_stats("cumulative")
        stats.print_stats(f"{REPO_ROOT.name}/assistant/", top)  # our own functions only
        lines = [ln.replace(str(REPO_ROOT) + "/", "") for ln in buffer.getvalue().splitlines()
                 if ln.strip()]
        total = next((ln.strip() for ln in lines if "function calls" in ln), "")
        start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
        print(f"### cProfile, {title}, assistant/ functions by cumulative time ({total})")
        print("\n".join(lines[start:]) + "\n")


def summarize(corpora: dict[str, dict[str, Any]]) -> None:
    if len(corpora) < 2:
        return
    print("## summary")
    print_table(["corpus", "chunks", "build chunks/s", "raw chunks/s", "build/raw", "rebuild s"], [
        [label, f["chunks"], f"{f['build_chunks_per_s']:.1f}", f"{f['raw_chunks_per_s']:.1f}",
         f"{f['ratio_build_to_raw']:.2f}", f"{statistics.median(f['rebuild_no_change_s']):.3f}"]
        for label, f in corpora.items()])


if __name__ == "__main__":
    sys.exit(main())
