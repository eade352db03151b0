"""HTML -> readable text: blocks on their own lines; no scripts, styles or navigation."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside",
         "form", "button", "select", "iframe", "object", "head", "menu"}
_BLOCK = {"p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "td", "th",
          "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "br", "hr", "dd", "dt", "dl",
          "figcaption", "caption", "address", "title"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source",
         "track", "wbr", "param"}
_NAV_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "complementary"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipping)
        self._in_title = False

    @property
    def skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: (v or "") for k, v in attrs}
        hidden = ("hidden" in attributes or attributes.get("aria-hidden") == "true"
                  or attributes.get("role", "").lower() in _NAV_ROLES)
        skipping = self.skipping or tag in _SKIP or hidden
        if tag == "title":
            self._in_title = True
        if tag in _BLOCK:
            self.parts.append("\n\n" if tag not in {"br", "td", "th"} else "\n")
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and not skipping:
            self.parts.append("\n\n")
        if tag == "li" and not skipping:
            self.parts.append("• ")
        if tag not in _VOID:
            self._stack.append((tag, skipping))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        # Pop to the matching open tag; HTML in the wild leaves tags unclosed.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if not self.skipping:
            self.parts.append(data)


def html_to_text(source: str) -> tuple[str, str]:
    """(title, text) of an HTML page; text has one block per paragraph."""
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    raw = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join(html.unescape("".join(parser.title_parts)).split())
    return title, text + "\n" if text else ""
