"""Page images of cited quotes: how long the first image of a quote's page takes (render, find
the quote's characters, draw, encode, keep) and how long it takes again (from the cache).

Quotes are sentences of the PDF's indexed text drawn at random (seeded); each is made once
(first) and then asked for again (cached: the PDF's hash checked, the image read back), as
`pipeline.quote_pages` does, without the index lookups (a few SQLite reads). Prints figures,
asserts nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from _common import REPO_ROOT, print_header, print_table, summary, write_json

DEFAULT_PDF = REPO_ROOT.parent / "shared" / "testdata" / "pdfs" / "policy" / "NIST.AI.100-1.pdf"  # 48 pages


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF, help="the PDF (default: %(default)s)")
    parser.add_argument("--quotes", type=int, default=20, help="quotes drawn at random (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from assistant.ingest.documents import discover, file_sha256, load_document
    from assistant.ingest.textnorm import sentence_spans
    from assistant.pageview.cache import PageImageCache
    from assistant.pageview.highlight import highlight_quote
    from assistant.pageview.pdfpage import SCALE

    args = parse_args(argv)
    print_header(f"Page images of quotes: {args.pdf.name}")
    files, _ = discover(args.pdf.parent)
    doc = load_document(next(f for f in files if f.path.name == args.pdf.name), ocr="off")
    spans = [span for block in doc.blocks if block.role == "body"
             for span in sentence_spans(doc.text, block.start, block.end, True)]
    quotes = random.Random(args.seed).sample(spans, min(args.quotes, len(spans)))
    first_s, cached_s, boxed = [], [], 0
    with tempfile.TemporaryDirectory(prefix="bench-page-images-") as folder:
        cache = PageImageCache(Path(folder))
        for start, end in quotes:
            started = time.perf_counter()
            pages = cache.get_or_make(cache.key(file_sha256(args.pdf), start, end, SCALE),
                                      partial(highlight_quote, args.pdf, doc.text, doc.pages, start, end))
            first_s.append(time.perf_counter() - started)
            boxed += all(p.boxed for p in pages)
            started = time.perf_counter()
            again = cache.get(cache.key(file_sha256(args.pdf), start, end, SCALE))
            cached_s.append(time.perf_counter() - started)
            assert again is not None and [p.png for p in again] == [p.png for p in pages]
    first, cached = summary(first_s), summary(cached_s)
    print_table(["", "median ms", "p95 ms", "max ms"],
                [[name, s["median_ms"], s["p95_ms"], s["max_ms"]] for name, s in (("first image", first),
                                                                                 ("cached", cached))])
    print(f"\n{len(quotes)} quotes from {len(doc.pages)} pages; {boxed} boxed on every page they touch")
    write_json(args.json, {"pdf": args.pdf.name, "pages": len(doc.pages), "quotes": len(quotes), "boxed": boxed,
                           "first": first, "cached": cached})


if __name__ == "__main__":
    main()
