"""Time `ask`: in a warm process (model and index loaded) and as a fresh `python -m assistant ask`.

Prints figures, asserts nothing. Targets from the issue: warm ask median <= 50 ms on the
bundled corpus. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BUNDLED_CORPUS,
    DEV_QA,
    GENERIC_QUESTIONS,
    REPO_ROOT,
    WARM_UP_QUESTION,
    TimedEmbedder,
    load_average,
    load_questions,
    print_header,
    print_table,
    set_torch_threads,
    summary,
    torch_threads,
    verdict,
    write_json,
)

from assistant.config import Settings
from assistant.pipeline import Assistant, build_index, get_embedder

WARM_TARGET_MS = {"off": 50.0, "on": 100.0}  # by reader mode; with the reader, issue 28's target
HEAVY_IMPORTS = ("sentence_transformers", "torch", "transformers", "transformers.modeling_utils",
                 "transformers.configuration_utils", "sklearn", "sklearn.metrics", "scipy.stats",
                 "numpy", "pandas", "tokenizers", "huggingface_hub", "safetensors", "faiss")

# Run in a fresh interpreter: the phases of a cold `ask`, each timed from the inside.
PHASES_SCRIPT = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import assistant.pipeline as pipeline
t1 = time.perf_counter()
import sentence_transformers  # torch and transformers: what the model load pulls in
t2 = time.perf_counter()
from assistant.config import Settings
settings = Settings.from_env(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]), progress=False)
pipeline.get_embedder(settings).dimension  # loads the model
t3 = time.perf_counter()
assistant = pipeline.Assistant(settings)
t4 = time.perf_counter()
assistant.ask(sys.argv[3])
t5 = time.perf_counter()
print(json.dumps({"import assistant.pipeline": t1 - t0, "import sentence_transformers (torch)": t2 - t1,
                  "model load": t3 - t2, "Assistant() (index load)": t4 - t3,
                  "first ask": t5 - t4}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `ask`: warm-process latency (first pass with cold sentence caches, "
                    "then repeats) and cold-process `python -m assistant ask` time with its "
                    "import/model-load share. Builds a throwaway index in a temp folder.")
    parser.add_argument("--corpus", type=Path, default=BUNDLED_CORPUS, metavar="DIR",
                        help="corpus to index (default: the repo's corpus/)")
    parser.add_argument("--questions", type=Path, default=DEV_QA, metavar="FILE.jsonl",
                        help="question file used first, when it exists (default: %(default)s); "
                             "built-in generic questions are added")
    parser.add_argument("-n", "--asks", type=int, default=50,
                        help="timed asks in the warm process, cycling the questions (default: 50)")
    parser.add_argument("--cold-runs", type=int, default=3,
                        help="fresh-process runs per cold measurement (default: 3)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch intra-op threads, in-process and (as OMP_NUM_THREADS) in the "
                             "cold subprocesses (default: torch's own choice)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-process part")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile one first pass; auto: when a median is over the "
                             "warm median target, 50 ms (100 ms with the reader) (default: auto)")
    parser.add_argument("--top", type=int, default=15, help="profile rows to print (default: 15)")
    parser.add_argument("--reader", choices=("off", "on"), default=Settings().reader,
                        help="answer with the reading model (ASSISTANT_READER; default: %(default)s)")
    parser.add_argument("--reader-dir", type=Path, metavar="DIR",
                        help="the reading model's folder (default: the shipped one, Settings.reader_dir)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the figures as JSON (benchmarks/out/ is git-ignored)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print_header("ask latency")
    questions = load_questions(args.questions)
    figures: dict[str, Any] = {"load_average_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp:
        reader = {"reader": args.reader, **({"reader_dir": args.reader_dir.resolve()} if args.reader_dir else {})}
        settings = Settings().with_overrides(corpus_dir=args.corpus.resolve(),
                                             index_dir=Path(tmp) / "index", progress=False, **reader)
        figures["reader"] = args.reader
        figures["warm"] = warm(settings, questions, args)
        if not args.no_cold:
            figures["cold"] = cold(settings, GENERIC_QUESTIONS[0], args.cold_runs, args.threads)
    figures["load_average_end"] = load_average()
    print(f"\nload avg at the end: {figures['load_average_end']}")
    write_json(args.json, figures)
    return 0


def warm(settings: Settings, questions: list[str], args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    embedder = TimedEmbedder(get_embedder(settings))
    embedder.dimension  # noqa: B018 - loads the model now, outside every timing below
    set_torch_threads(args.threads)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    report = build_index(settings, embedder=embedder)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    assistant = Assistant(settings, embedder=embedder)
    open_s = time.perf_counter() - started
    assistant.ask(WARM_UP_QUESTION)
    print(f"## warm process: {report.total_chunks} chunks from {settings.corpus_dir}, reader {settings.reader}")
    print(f"model load {load_s:.2f} s (torch import included), index build {build_s:.2f} s, "
          f"Assistant() {open_s * 1000:.0f} ms, {torch_threads()}")
    print(f"{len(questions)} distinct questions, {args.asks} timed asks after one warm-up ask\n")

    rows: list[dict[str, Any]] = []
    for i in range(args.asks):
        question = questions[i % len(questions)]
        embedder.reset()
        started = time.perf_counter()
        answer = assistant.ask(question)
        wall = time.perf_counter() - started
        rows.append({"question": question, "s": wall, "encode_s": embedder.encode_s,
                     "texts": embedder.encoded_texts, "abstained": answer.abstained})
    first, repeat = rows[: len(questions)], rows[len(questions):]

    table = []
    out: dict[str, Any] = {"chunks": report.total_chunks, "model_load_s": load_s, "asks": args.asks}
    for label, part in (("first pass (cold caches)", first), ("repeat", repeat), ("all", rows)):
        stats = summary([r["s"] for r in part])
        encode = summary([r["encode_s"] for r in part])
        texts = statistics.median([r["texts"] for r in part]) if part else float("nan")
        table.append([label, stats["n"], stats["median_ms"], stats["p95_ms"], stats["max_ms"],
                      encode["median_ms"], float(texts)])
        out[label.split(" (")[0]] = {**stats, "encode_median_ms": encode["median_ms"],
                                     "texts_encoded_median": texts}
    print_table(["asks", "n", "median ms", "p95 ms", "max ms", "encode med ms", "texts encoded"], table)
    abstained = sum(r["abstained"] for r in first)
    print(f"\n(encode = time inside the model's encode calls: the question vector plus any "
          f"sentences not yet cached; {abstained} of {len(first)} first-pass answers abstained)")
    target = WARM_TARGET_MS[settings.reader]
    for label in ("first pass", "repeat"):
        if out[label]["n"]:
            print(f"target warm median <= {target:.0f} ms, {label}: "
                  f"{out[label]['median_ms']:.1f} ms  {verdict(out[label]['median_ms'], target)}")
    slowest = sorted(first, key=lambda r: -r["s"])[:3]
    print("slowest first-pass asks: " + "; ".join(
        f"{r['s'] * 1000:.0f} ms ({r['texts']} texts encoded) {r['question'][:50]!r}" for r in slowest))

    over = any(out[k]["n"] and out[k]["median_ms"] > target for k in ("first pass", "repeat"))
    if args.profile == "always" or (args.profile == "auto" and over):
        profile_first_pass(settings, embedder, questions, args.top)
    return out


def profile_first_pass(settings: Settings, embedder: TimedEmbedder, questions: list[str],
                       top: int) -> None:
    """cProfile each question once on a fresh Assistant (empty sentence cache, model warm)."""
    assistant = Assistant(settings, embedder=embedder)
    assistant.ask(WARM_UP_QUESTION)
    profiler = cProfile.Profile()
    profiler.enable()
    for question in questions:
        assistant.ask(question)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        body = buffer.getvalue()
        # Keep the table, drop pstats' preamble apart from the totals line.
        lines = [ln for ln in body.splitlines() if ln.strip()]
        total = next((ln.strip() for ln in lines if "function calls" in ln), "")
        start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
        print(f"\n## cProfile, first pass over {len(questions)} questions, by {order} ({total})")
        print("\n".join(lines[start:]))


def cold(settings: Settings, question: str, runs: int, threads: int | None) -> dict[str, Any]:
    """Fresh interpreters against the index warm() left in place."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_READER=settings.reader, ASSISTANT_READER_DIR=str(settings.reader_dir))
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    python = sys.executable
    corpus, index = str(settings.corpus_dir), str(settings.index_dir)
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import assistant.pipeline'": [python, "-c", "import assistant.pipeline"],
        "... + import sentence_transformers": [python, "-c",
                                               "import assistant.pipeline, sentence_transformers"],
        "python -m assistant ask Q": [python, "-m", "assistant", "ask", "-q", "--corpus", corpus,
                                      "--index", index, question],
    }
    print(f"\n## cold process: median of {runs} fresh runs each (index already built), Q = {question!r}")
    out: dict[str, Any] = {}
    rows = []
    for label, command in commands.items():
        times = [_run(command, env) for _ in range(runs)]
        out[label] = {"median_s": statistics.median(times), "runs_s": times}
        rows.append([label, f"{statistics.median(times):.2f}", " ".join(f"{t:.2f}" for t in times)])
    print_table(["subprocess", "median s", "runs s"], rows)

    phases = []
    for _ in range(runs):
        started = time.perf_counter()
        stdout = _run_output([python, "-c", PHASES_SCRIPT, corpus, index, question], env)
        wall = time.perf_counter() - started
        inside = json.loads(stdout.strip().splitlines()[-1])
        # What the inner clocks miss: interpreter start and, mostly, teardown after torch.
        inside["start + exit (wall - phases)"] = wall - sum(inside.values())
        phases.append(inside)
    medians = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    total = sum(medians.values())
    cli = out["python -m assistant ask Q"]["median_s"]
    print(f"\nphases of a fresh process answering Q, timed from the inside (median of {runs}; "
          "`python -c pass` takes "
          f"{out['python -c pass']['median_s']:.2f} s):")
    print_table(["phase", "s", "% of sum"],
                [[k, f"{v:.2f}", f"{100 * v / total:.0f}%"] for k, v in medians.items()]
                + [["sum", f"{total:.2f}", ""]])
    startup = medians["import assistant.pipeline"] + \
        medians["import sentence_transformers (torch)"] + medians["model load"]
    print(f"\n`python -m assistant ask` median {cli:.2f} s, of which Python + torch import + model "
          f"load ~{startup:.2f} s ({100 * startup / cli:.0f}%), interpreter start + exit "
          f"~{medians['start + exit (wall - phases)']:.2f} s; the question itself "
          f"{medians['first ask'] * 1000:.0f} ms (first ask in the process)")
    out["phases_median_s"] = medians
    out["import_ms"] = import_breakdown(python, env)
    return out


def import_breakdown(python: str, env: dict[str, str]) -> dict[str, float]:
    """Cumulative first-import time of the heavy packages (`python -X importtime`), one run."""
    result = subprocess.run([python, "-X", "importtime", "-c", "import sentence_transformers"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    found: dict[str, float] = {}
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if name in HEAVY_IMPORTS:
                found[name] = int(parts[1]) / 1000.0
    print("\nfirst-import time of the heavy packages inside `import sentence_transformers` "
          "(cumulative, nested: not additive; one run of python -X importtime):")
    print_table(["package", "ms"], [[k, f"{v:.0f}"] for k, v in
                                    sorted(found.items(), key=lambda kv: -kv[1]) if v >= 1])
    return found


def _run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    _run_output(command, env)
    return time.perf_counter() - started


def _run_output(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... exited {result.returncode}:\n{result.stderr}")
    return result.stdout


if __name__ == "__main__":
    sys.exit(main())
