"""Pure: a document's numbered paragraphs and their permanent, readable passage ids.

A passage id names one paragraph of one version of a document:

    us-uk-ai-rd-declaration-2020#p19@a3f9c2     paragraph 19 (text, Markdown, HTML)
    oecd-recommendation#page4-p2@0b61de          page 4, paragraph 2 (PDF)

The part after `@` is the document version: a hash of its extracted text and of where
its paragraphs lie, so it is the same on every rebuild of an unchanged document and
different after any edit that could move a paragraph. `archive.py` keeps every version
an index has seen, so an id still resolves after its document has changed or gone.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from ..errors import PassageIdError
from ..types import Document, Paragraph

_LABEL = re.compile(r"^(?:p(?P<para>\d+)|page(?P<page>\d+)-p(?P<ppara>\d+))$")


@dataclass(frozen=True)
class PassageRef:
    """A parsed passage id; `version` is empty when the id was given without one."""

    doc_id: str
    page: int | None
    paragraph: int
    version: str = ""

    @property
    def label(self) -> str:
        return paragraph_label(self.page, self.paragraph)

    def __str__(self) -> str:
        return format_passage_id(self.doc_id, self.page, self.paragraph, self.version)


def numbered_paragraphs(doc: Document) -> tuple[Paragraph, ...]:
    """Body and byline blocks in order, numbered through the document (within the page
    for PDFs), each with the heading it falls under. Chunking numbers sentences by these."""
    text = doc.text
    heading = ""
    number = 0
    page: int | None = None
    after_heading = False
    out: list[Paragraph] = []
    for index, block in enumerate(doc.blocks):
        if block.page != page:
            page = block.page
            if doc.kind == "pdf":
                number = 0
        if block.role == "heading":
            title = " ".join(text[block.start:block.end].strip("*#_ \t").split())
            # "Article 5" then "Prohibited AI practices": one heading, "Article 5 — Prohibited AI practices".
            heading = f"{heading} — {title}" if after_heading and len(heading.split()) <= 4 else title
            after_heading = True
            continue
        after_heading = False
        if block.role == "debris":
            continue
        number += 1
        out.append(Paragraph(number, block.start, block.end, block.page, block.role, heading, index))
    return tuple(out)


@functools.lru_cache(maxsize=64)  # every citation asks; numbering a long document takes ms
def document_version(doc: Document) -> str:
    """Six hex digits that change whenever the text or its paragraphs change."""
    layout = ";".join(f"{p.start}-{p.end}-{'' if p.page is None else p.page}" for p in numbered_paragraphs(doc))
    return hashlib.sha256(f"{doc.content_hash}|{layout}".encode()).hexdigest()[:6]


def paragraph_label(page: int | None, paragraph: int) -> str:
    return f"p{paragraph}" if page is None else f"page{page}-p{paragraph}"


def format_passage_id(doc_id: str, page: int | None, paragraph: int, version: str = "") -> str:
    suffix = f"@{version}" if version else ""
    return f"{doc_id}#{paragraph_label(page, paragraph)}{suffix}"


def passage_id(doc: Document, page: int | None, paragraph: int) -> str:
    """The permanent id of a paragraph of this document version."""
    return format_passage_id(doc.doc_id, page if doc.kind == "pdf" else None, paragraph,
                             document_version(doc))


def parse_passage_id(text: str) -> PassageRef:
    """`doc#p12@abc123`, `doc#page3-p2@abc123`, or either without `@version`."""
    raw = text.strip()
    doc_id, hash_sign, rest = raw.partition("#")
    label, _at, version = rest.partition("@")
    match = _LABEL.match(label)
    if not hash_sign or not doc_id or match is None or (version and not re.fullmatch(r"[0-9a-f]{6}", version)):
        raise PassageIdError(
            f"{raw!r} is not a passage id; ids look like `us-uk-ai-rd-declaration-2020#p19@a3f9c2` "
            "(a PDF's: `report#page4-p2@0b61de`); the part from `@` may be left out")
    if match.group("para"):
        return PassageRef(doc_id, None, int(match.group("para")), version)
    return PassageRef(doc_id, int(match.group("page")), int(match.group("ppara")), version)


def find_paragraph(paragraphs: tuple[Paragraph, ...], page: int | None, number: int) -> Paragraph | None:
    for paragraph in paragraphs:
        if paragraph.number == number and (page is None or paragraph.page == page):
            return paragraph
    return None


def paragraph_at(paragraphs: tuple[Paragraph, ...], offset: int) -> Paragraph | None:
    """The paragraph holding a character offset (or the first one after it)."""
    for paragraph in paragraphs:
        if offset < paragraph.end:
            return paragraph
    return None
