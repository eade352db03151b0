"""Encode the same texts in float32 and in bfloat16 (autocast): time and closeness.

Prints figures, asserts nothing. Texts: SciFact abstracts when ../shared/eval/scifact is
there (the largest encode job this project has), else the bundled corpus's paragraphs.
`precision = "auto"` (assistant/config.py) picks bfloat16 only on CPUs that do it natively.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from _common import BUNDLED_CORPUS, REPO_ROOT, load_average, print_header, print_table

from assistant.indexing.embedding import SentenceTransformerEmbedder, cpu_has_native_bfloat16

SCIFACT = REPO_ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


def sample_texts(limit: int) -> tuple[str, list[str]]:
    if SCIFACT.exists():
        with SCIFACT.open(encoding="utf-8") as handle:
            docs = [json.loads(line) for _, line in zip(range(limit), handle)]
        return "SciFact abstracts", [f"{d['title']}\n{d['text']}" for d in docs]
    paragraphs = [p for f in sorted(BUNDLED_CORPUS.glob("*.txt"))
                  for p in f.read_text(encoding="utf-8").split("\n\n") if len(p.split()) > 8]
    return "bundled corpus paragraphs", paragraphs[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400, help="how many texts (default 400)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per precision (default 3)")
    args = parser.parse_args()
    label, texts = sample_texts(args.texts)
    print_header(f"float32 vs bfloat16 encoding: {len(texts)} {label}")
    print(f"native bfloat16 on this CPU: {cpu_has_native_bfloat16()}; load average {load_average()}")
    vectors, rows = {}, []
    for precision in ("float32", "bfloat16"):
        embedder = SentenceTransformerEmbedder(precision=precision)
        embedder.encode(texts[:16])  # load and warm up
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            vectors[precision] = embedder.encode(texts, batch_size=64)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        rows.append([precision, f"{median:.2f}", f"{len(texts) / median:.1f}"])
    cosines = np.sum(vectors["float32"] * vectors["bfloat16"], axis=1)
    print_table(["precision", "median s", "texts/s"], rows)
    speedup = float(rows[0][1]) / float(rows[1][1])
    print(f"\nbfloat16 speed-up {speedup:.2f}x; cosine(float32, bfloat16) min {cosines.min():.6f}, "
          f"mean {cosines.mean():.6f}")


if __name__ == "__main__":
    main()
