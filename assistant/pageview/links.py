"""Links from a citation to where its quote stands. A PDF's page image: the path the web chat
serves it at (page_image_path). A web page added by URL, at the quote: a URL text fragment (`#:~:text=start,end`)
built from the excerpt's first and last words, which browsers scroll to and mark
(https://wicg.github.io/scroll-to-text-fragment/). A PDF fetched from a URL gets `#page=N`,
which PDF viewers open at; a local file gets no link (the chat shows its stored text).
"""

from __future__ import annotations

from urllib.parse import quote

from ..types import Citation

PAGE_IMAGE_ROUTE = "/page-image/{doc_id}/{start}-{end}.png"
"""Where the web chat serves a PDF quote's page image (web/page_images.py)."""
EDGE_WORDS = 4
"""Words of the excerpt's start and of its end that the fragment names (the whole excerpt when
it is at most twice as long): enough to be unique on a page, few enough to survive the page's
own line breaks and markup."""


def source_link(citation: Citation) -> str | None:
    """The page a citation came from, at the quote; None for a document not added by URL."""
    url = citation.meta.url
    if not (url and citation.meta.retrieved and url.startswith(("http://", "https://"))):
        return None
    base = url.split("#", 1)[0]
    if citation.page is not None:
        return f"{base}#page={citation.page}"
    words = citation.excerpt.split()
    if not words:
        return base
    if len(words) <= 2 * EDGE_WORDS:
        return f"{base}#:~:text={_part(words)}"
    return f"{base}#:~:text={_part(words[:EDGE_WORDS])},{_part(words[-EDGE_WORDS:])}"


def _part(words: list[str]) -> str:
    """Words as one text directive part: percent-encoded, with "-", "," and "&" (the syntax's own
    characters) encoded too."""
    return quote(" ".join(words), safe="").replace("-", "%2D")


def page_image_path(citation: Citation) -> str | None:
    """The path the web chat serves a PDF citation's page image at; None for other documents."""
    if citation.page is None:
        return None
    return PAGE_IMAGE_ROUTE.format(doc_id=quote(citation.doc_id, safe=""), start=citation.start, end=citation.end)
