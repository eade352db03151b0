"""Main text of HTML pages: the page as a whole (htmltext.html_to_text, the earlier rules) vs
trafilatura's main content then the same conversion (webpage.read_page, what indexing uses).

For each page: characters of text kept, boilerplate lines found (cookie banners, ads, share
and "most read" boxes, footers: phrases listed below), and milliseconds per page. A good
extractor keeps the content's characters and finds no boilerplate. Prints figures, asserts
nothing. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from _common import REPO_ROOT, print_header, print_table, write_json

PAGES = sorted((REPO_ROOT / "tests" / "data" / "web" / "pages").glob("*.html")) + sorted(
    (REPO_ROOT.parent / "shared" / "corpus-extra").glob("*.html"))
BOILERPLATE = ("cookie", "advertisement", "share this", "most read", "©", "privacy", "subscribe",
               "skip to", "accept all", "follow us", "related articles", "all rights reserved")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, default=PAGES,
                        help="HTML files (default: tests/data/web/pages and ../shared/corpus-extra)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per page (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return parser.parse_args(argv)


def boilerplate_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if any(p in line.lower() for p in BOILERPLATE))


def timed(function, html: str, repeat: int) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(repeat):
        text = function(html)
    return text, (time.perf_counter() - started) / repeat * 1000


def main(argv: Sequence[str] | None = None) -> None:
    from assistant.ingest.htmltext import html_to_text
    from assistant.ingest.webpage import read_page

    args = parse_args(argv)
    print_header("HTML main text: whole page vs trafilatura's main content")
    rows, figures = [], []
    for path in args.pages:
        html = path.read_text(encoding="utf-8", errors="replace")
        whole, whole_ms = timed(lambda h: html_to_text(h)[1], html, args.repeat)
        main_text, main_ms = timed(lambda h: read_page(h).text, html, args.repeat)
        figure = {"page": path.name, "whole_chars": len(whole), "main_chars": len(main_text),
                  "whole_boilerplate": boilerplate_lines(whole), "main_boilerplate": boilerplate_lines(main_text),
                  "whole_ms": round(whole_ms, 1), "main_ms": round(main_ms, 1)}
        figures.append(figure)
        rows.append([path.name[:44], figure["whole_chars"], figure["main_chars"], figure["whole_boilerplate"],
                     figure["main_boilerplate"], figure["whole_ms"], figure["main_ms"]])
    print_table(["page", "chars whole", "chars main", "boilerplate whole", "boilerplate main", "ms whole",
                 "ms main"], rows)
    write_json(args.json, {"pages": figures})


if __name__ == "__main__":
    main()
