"""PDFium (pypdfium2) is not thread-safe, not even across documents: every use of it, the
build's OCR rendering (ocr.py) and the page view (pageview/), holds this lock. A web rebuild
parses in a thread of the server while the chat draws page images in others."""

from __future__ import annotations

import threading

LOCK = threading.RLock()  # re-entrant: the page view of a scan renders it for OCR while holding it
