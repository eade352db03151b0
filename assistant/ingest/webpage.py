"""A web page's main text and what the page says about itself, with trafilatura.

trafilatura finds the main content (dropping navigation, ads, cookie banners, footers and
comments) and returns it as simplified HTML; htmltext.html_to_text then turns that into our
text, one paragraph, list item, heading or table cell per block, as for any HTML file (a
table stays cell by cell, so a quote never mixes two columns). When trafilatura finds no
main content, or much less than the page holds, the whole page is used.

Metadata comes only from what the page states: <title>, OpenGraph, schema.org (JSON-LD),
<meta name="author">, <time> and date meta tags (htmldate without its extensive search, so a
date is never guessed from the text). A site name made up from the URL's host is not taken
for a publisher.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..types import DocumentMeta, HasMeta, one_line
from .htmltext import html_to_text

# Dates in ISO form from the page's own markup only (htmldate's options).
_DATE_OPTIONS = {"extensive_search": False, "original_date": True, "outputformat": "%Y-%m-%d"}
_MIN_MAIN_SHARE = 0.2  # main content shorter than this share of the page's text: use the page


@dataclass(frozen=True)
class WebPage(HasMeta):
    """A page read: its text, and what the page states about itself (title, author,
    publisher, date, address); the rest of `meta` is left empty."""

    text: str
    meta: DocumentMeta


def read_page(html: str, url: str = "") -> WebPage:
    """The main text and stated metadata of an HTML page (`url`: where it was fetched from)."""
    import trafilatura
    from trafilatura.metadata import META_URL, extract_metadata

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("htmldate").setLevel(logging.ERROR)
    own_title, whole = html_to_text(html)
    main_html = trafilatura.extract(html, output_format="html", include_tables=True, include_comments=False,
                                    include_images=False, include_links=False, favor_recall=True,
                                    deduplicate=False)
    text = whole
    if main_html:
        _, main = html_to_text(main_html)
        if len(main.strip()) >= _MIN_MAIN_SHARE * len(whole.strip()):
            text = main
    stated = extract_metadata(html, default_url=url or None, date_config=dict(_DATE_OPTIONS), extensive=False)
    stated_url = stated.url or url
    publisher = stated.sitename or ""
    host = META_URL.match(stated_url) if stated_url else None
    if host and publisher == host[1]:
        publisher = ""  # made up from the host name, not stated by the page
    return WebPage(text, DocumentMeta(title=one_line(stated.title or own_title), author=one_line(stated.author or ""),
                                      publisher=one_line(publisher), date=stated.date or "", url=stated_url))
