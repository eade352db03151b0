"""Page images made for quotes, kept on disk so that a page is rendered once.

A quote's pages are stored under a key of (the PDF file's sha256, the quote's start and end,
the scale): a changed file has another hash, so an image is never shown for a file it was not
made from. Each entry is a JSON record of the pages and one PNG per page; the oldest entries
go when there are more than MAX_ENTRIES.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_atomically
from .highlight import PageHighlight
from .pdfpage import Box

MAX_ENTRIES = 2000


class PageImageCache:
    """Quotes' page images in a folder (Settings.index_dir / "page-images")."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(file_sha256: str, start: int, end: int, scale: float) -> str:
        return hashlib.sha256(f"{file_sha256}:{start}:{end}:{scale}".encode()).hexdigest()[:32]

    def get(self, key: str) -> list[PageHighlight] | None:
        try:
            record = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            return [PageHighlight(p["page"], (self.folder / f"{key}-{p['page']}.png").read_bytes(), p["width"],
                                  p["height"], tuple(Box(*b) for b in p["boxes"]), p["found"], p["ocr"])
                    for p in record["pages"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not made yet, or half removed: made again

    def get_or_make(self, key: str, make: Callable[[], list[PageHighlight]]) -> list[PageHighlight]:
        """The pages kept under `key`, else those `make` returns, kept for the next time."""
        pages = self.get(key)
        if pages is None:
            pages = make()
            self.put(key, pages)
        return pages

    def put(self, key: str, pages: list[PageHighlight]) -> None:
        """Keep the pages (best effort: a folder that cannot be written costs a render, not an answer)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for page in pages:
                write_atomically(self.folder / f"{key}-{page.page}.png", page.png)
            record = {"pages": [{"page": p.page, "width": p.width, "height": p.height, "found": p.found, "ocr": p.ocr,
                                 "boxes": [[b.left, b.top, b.right, b.bottom] for b in p.boxes]} for p in pages]}
            write_atomically(self.folder / f"{key}.json", json.dumps(record).encode("utf-8"))
            self._prune()
        except OSError:
            pass

    def _prune(self) -> None:
        records = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for record in records[: max(0, len(records) - MAX_ENTRIES)]:
            for path in self.folder.glob(f"{record.stem}*"):
                path.unlink(missing_ok=True)
