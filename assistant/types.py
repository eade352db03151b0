"""Plain values that flow between the modules: frozen dataclasses, no I/O.

`DocumentMeta` is the one record of what a document says about itself; citations,
references and fetched web pages carry it whole rather than copying its fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import overload


def one_line(text: str) -> str:
    """The text on one line: each run of whitespace (newlines included) becomes one space."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class DocumentMeta:
    """What a citation needs to know about a document; empty string = unknown.

    Citations, references and web pages carry it as `meta`, so a field added here reaches all of
    them. Indexes store it as `dataclasses.asdict` gives it and read it back with
    `DocumentMeta(**stored)`: a new field needs a default, so that an index built before it loads.
    """

    title: str = ""
    author: str = ""
    publisher: str = ""
    date: str = ""
    source_type: str = ""
    url: str = ""
    notes: str = ""
    retrieved: str = ""  # a web page added by URL: the day it was fetched (YYYY-MM-DD)


class _MetaField:
    """A read-only attribute that reads the field of the same name from the record's `meta`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, record: None, owner: type) -> _MetaField: ...
    @overload
    def __get__(self, record: HasMeta, owner: type | None = None) -> str: ...
    def __get__(self, record: HasMeta | None, owner: type | None = None) -> _MetaField | str:
        return self if record is None else getattr(record.meta, self.name)


class HasMeta:
    """A record that carries a document's metadata as `meta`; `record.title` reads
    `record.meta.title`, and so on for each field named here."""

    meta: DocumentMeta
    title = _MetaField()
    author = _MetaField()
    publisher = _MetaField()
    date = _MetaField()
    source_type = _MetaField()
    url = _MetaField()
    notes = _MetaField()
    retrieved = _MetaField()


@dataclass(frozen=True)
class PageSpan:
    """A PDF page's [start, end) range in the document's extracted text."""

    number: int
    start: int
    end: int
    ocr: bool = False  # the text was recognised from the page's image (it had no text layer)


@dataclass(frozen=True)
class Block:
    """A structural unit of extracted text: a paragraph, list item or heading.

    `role` is "body", "heading", "byline" (author blurb, answers authorship
    questions only) or "debris" (navigation, footers: never indexed).
    """

    start: int
    end: int
    role: str
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """A corpus file turned into text, with its structure and metadata."""

    doc_id: str
    path: str  # relative to the corpus directory, with forward slashes
    meta: DocumentMeta
    text: str
    content_hash: str  # sha256 of the extracted text
    blocks: tuple[Block, ...]
    pages: tuple[PageSpan, ...] = ()
    kind: str = "text"  # text, markdown, html, pdf or docx

    def read_by_ocr(self, page: int | None) -> bool:
        """Whether that page's text was recognised by OCR."""
        return page is not None and any(p.ocr and p.number == page for p in self.pages)


@dataclass(frozen=True)
class Sentence:
    """A sentence's [start, end) range in its document's text."""

    start: int
    end: int
    paragraph: int
    page: int | None = None


@dataclass(frozen=True)
class Paragraph:
    """A numbered paragraph (body or byline block) of a document: what a passage id names.

    `number` counts through the document, or within the page for PDFs; headings and
    debris are not numbered.
    """

    number: int
    start: int
    end: int
    page: int | None
    role: str
    heading: str
    block_index: int


@dataclass(frozen=True)
class Chunk:
    """A passage that is embedded and retrieved as one unit.

    `text` is exactly `document.text[start:end]`; `embed_text` is what the model
    reads (title and heading prepended, glued words split).
    """

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    embed_text: str
    heading: str
    paragraph: int
    page: int | None
    role: str
    sentences: tuple[Sentence, ...]
    excerpts: tuple[tuple[int, int], ...] = ()  # candidate excerpts as (first, last) sentence positions
    excerpt_texts: tuple[str, ...] = ()  # what the model reads for each excerpt


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its scores (cosine is an inner product of unit vectors)."""

    chunk: Chunk
    score: float
    dense: float
    keyword: float
    rank: int
    coverage: float = 0.0  # share of the question's content terms the chunk contains


@dataclass(frozen=True)
class AnswerSpan:
    """The words of a quote that answer the question (marked by the reading model), as
    [start, end) character offsets into the document's text, like the quote's own."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, init=False)
class Citation(HasMeta):
    """One quoted excerpt, marked [n] in an answer, with its document's metadata."""

    n: int
    chunk_id: str
    doc_id: str
    meta: DocumentMeta
    page: int | None
    paragraph: int | None
    excerpt: str
    start: int
    end: int
    score: float
    path: str = ""
    passage_id: str = ""  # permanent, readable: "<doc_id>#p12@<version>" (see passages.py)
    ocr: bool = False  # the excerpt's page was read by OCR: recognition errors are quoted as read
    answer: AnswerSpan | None = None  # the answer inside the excerpt, when the reader marked one

    def __init__(self, *, n: int, chunk_id: str, doc_id: str, page: int | None, paragraph: int | None,
                 excerpt: str, start: int, end: int, score: float, path: str = "", passage_id: str = "",
                 ocr: bool = False, answer: AnswerSpan | None = None, meta: DocumentMeta | None = None,
                 **meta_fields: str) -> None:
        """`meta` is the document's metadata; a caller that has its fields one by one may
        name them instead (title=..., url=...), and they are set on `meta`."""
        meta = replace(DocumentMeta() if meta is None else meta, **meta_fields)
        values = {"n": n, "chunk_id": chunk_id, "doc_id": doc_id, "meta": meta, "page": page,
                  "paragraph": paragraph, "excerpt": excerpt, "start": start, "end": end, "score": score,
                  "path": path, "passage_id": passage_id, "ocr": ocr, "answer": answer}
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


@dataclass(frozen=True)
class Answer:
    """An answer made only of cited excerpts, or an abstention with closest matches."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    closest: tuple[Citation, ...] = ()
    searched: str = ""  # the query actually sent to retrieval


@dataclass(frozen=True)
class FileFailure:
    """A corpus file that could not be indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class BuildReport:
    """What an index build did."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[FileFailure, ...] = ()
    embedded_chunks: int = 0
    reused_chunks: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    index_dir: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class IndexedDocument:
    """A document as the served index holds it, for listing."""

    doc_id: str
    path: str
    kind: str
    meta: DocumentMeta
    chunks: int


@dataclass(frozen=True)
class IndexSummary:
    """The served index at a glance: when and how fast it was built, what it holds."""

    version: str  # the version folder's name
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    documents: tuple[IndexedDocument, ...]
    chunks: int
    failed: tuple[FileFailure, ...]
