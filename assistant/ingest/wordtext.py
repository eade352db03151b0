"""A Word document (.docx) -> text, blocks and what its core properties say, with python-docx.

The text is the body in reading order: each paragraph, heading or table row is one block,
separated from the next by a blank line, so blocks and paragraph numbers work as for text
files. Headings are known from their styles (Title, Heading 1-9) or outline level, not guessed.
A table row is its cells joined by " | " (a merged cell once). A footnote or endnote keeps
its mark in the text where it is referenced ("[1]" for footnotes, "[i]" for endnotes, as
Word numbers them by default), and the notes themselves follow the body under a "Notes"
heading, each its own block, so a note can be found and cited like any paragraph.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorpusError
from ..types import Block

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted .docx is an OLE compound file
# What python-docx's own blank template says; not the document's author or date.
_TEMPLATE_AUTHOR = "python-docx"
_TEMPLATE_CREATED = "2013-12-23"
NOTES_HEADING = "Notes"


@dataclass
class WordText:
    """A .docx read: its text, its blocks, and metadata its core properties give."""

    text: str
    blocks: tuple[Block, ...]
    title: str = ""
    author: str = ""
    date: str = ""


@dataclass
class _Writer:
    """Accumulates blocks into one text, a blank line between blocks."""

    parts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    pos: int = 0

    def add(self, text: str, role: str) -> None:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.pos += 2
        self.parts.append(text)
        self.blocks.append(Block(self.pos, self.pos + len(text), role))
        self.pos += len(text)


class _Notes:
    """Footnote and endnote texts by id, and the marks given to them in order of reference."""

    def __init__(self, document: Any) -> None:
        from docx.opc.constants import RELATIONSHIP_TYPE as RT

        self.texts = {"footnote": self._read(document, RT.FOOTNOTES, "footnote"),
                      "endnote": self._read(document, RT.ENDNOTES, "endnote")}
        self.marks: dict[tuple[str, str], str] = {}  # (kind, id) -> "1" or "i"

    @staticmethod
    def _read(document: Any, reltype: str, tag: str) -> dict[str, str]:
        from docx.oxml import parse_xml

        part = next((rel.target_part for rel in document.part.rels.values()
                     if rel.reltype == reltype and not rel.is_external), None)
        if part is None:
            return {}
        out: dict[str, str] = {}
        for note in parse_xml(part.blob).iter(f"{_W}{tag}"):
            if note.get(f"{_W}type") in (None, "normal"):
                text = " ".join(_run_text(p, None) for p in note.iter(f"{_W}p"))
                out[note.get(f"{_W}id", "")] = " ".join(text.split())
        return out

    def mark(self, kind: str, note_id: str) -> str:
        key = (kind, note_id)
        if key not in self.marks:
            count = sum(1 for k, _ in self.marks if k == kind) + 1
            self.marks[key] = str(count) if kind == "footnote" else _roman(count)
        return self.marks[key]

    def write(self, out: _Writer) -> None:
        listed = [(mark, self.texts[kind].get(note_id, "")) for (kind, note_id), mark in self.marks.items()]
        listed = [(mark, text) for mark, text in listed if text]
        if listed:
            out.add(NOTES_HEADING, "heading")
            for mark, text in listed:
                out.add(f"[{mark}] {text}", "body")


def _roman(number: int) -> str:
    numerals = (("m", 1000), ("cm", 900), ("d", 500), ("cd", 400), ("c", 100), ("xc", 90),
                ("l", 50), ("xl", 40), ("x", 10), ("ix", 9), ("v", 5), ("iv", 4), ("i", 1))
    out = ""
    for letters, value in numerals:
        while number >= value:
            out += letters
            number -= value
    return out


def _run_text(paragraph: Any, notes: _Notes | None) -> str:
    """A paragraph element's text: runs, hyperlinks, tabs, breaks and note marks, in order."""
    out: list[str] = []
    for element in paragraph.iter():
        tag = element.tag
        if tag == f"{_W}t":
            out.append(element.text or "")
        elif tag in (f"{_W}tab", f"{_W}ptab"):
            out.append(" ")
        elif tag in (f"{_W}br", f"{_W}cr"):
            out.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            out.append("-")
        elif notes is not None and tag in (f"{_W}footnoteReference", f"{_W}endnoteReference"):
            kind = "footnote" if tag == f"{_W}footnoteReference" else "endnote"
            out.append(f"[{notes.mark(kind, element.get(f'{_W}id', ''))}]")
    return "".join(out)


def _is_heading(paragraph: Any) -> bool:
    try:
        name = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError):  # a style id the styles part does not define
        name = ""
    if name == "Title" or name.startswith("Heading"):
        return True
    level = paragraph._p.find(f"{_W}pPr/{_W}outlineLvl")
    value = level.get(f"{_W}val", "9") if level is not None else "9"
    return value.isdigit() and int(value) < 9


def _table_rows(table: Any, notes: _Notes) -> list[str]:
    rows = []
    for row in table._tbl.findall(f"{_W}tr"):
        cells: list[str] = []
        for cell in row.findall(f"{_W}tc"):  # a merged cell is one element; continuations are empty
            text = " ".join(" ".join(_run_text(p, notes) for p in cell.iter(f"{_W}p")).split())
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def read_docx(path: Path, rel: str) -> WordText:
    """Parse one .docx; raises CorpusError naming the file and the reason."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    head = path.read_bytes()[:8] if path.stat().st_size else b""
    if not head:
        raise CorpusError(f"{rel}: empty file")
    if head == _OLE_MAGIC:
        raise CorpusError(f"{rel}: password-protected (encrypted) Word document, or an old .doc file "
                          "renamed; save a copy without a password as .docx")
    try:
        document = docx.Document(str(path))
        notes = _Notes(document)
        out = _Writer()
        for item in document.iter_inner_content():
            if hasattr(item, "rows"):
                for row in _table_rows(item, notes):
                    out.add(row, "body")
            else:
                out.add(_run_text(item._p, notes), "heading" if _is_heading(item) else "body")
        notes.write(out)
        properties = document.core_properties
        title, author, created = properties.title or "", properties.author or "", properties.created
    except CorpusError:
        raise
    except (PackageNotFoundError, zipfile.BadZipFile) as exc:
        raise CorpusError(f"{rel}: unreadable Word document (not a .docx package: {exc})") from exc
    except Exception as exc:  # a broken part: say which file and why
        raise CorpusError(f"{rel}: unreadable Word document ({type(exc).__name__}: {exc})") from exc
    date = created.date().isoformat() if created is not None else ""
    return WordText(
        text="".join(out.parts), blocks=tuple(out.blocks), title=" ".join(title.split()),
        author="" if author == _TEMPLATE_AUTHOR else " ".join(author.split()),
        date="" if date == _TEMPLATE_CREATED else date,
    )
