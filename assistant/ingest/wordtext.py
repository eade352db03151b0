"""A Word document (.docx) -> text, blocks and what its core properties say, with python-docx.

The text is the body in reading order: each paragraph, heading or table row is one block,
separated from the next by a blank line, so blocks and paragraph numbers work as for text
files. Headings are known from their styles (Title, Heading 1-9) or outline level, not guessed.
A table row is its cells joined by " | " (a merged cell once). A footnote or endnote keeps
its mark in the text where it is referenced ("[1]" for footnotes, "[i]" for endnotes, as
Word numbers them by default), and the notes themselves follow the body under a "Notes"
heading, each its own block, so a note can be found and cited like any paragraph.

A .docx is a ZIP package, and a small one can unpack to gigabytes (a zip bomb): before
python-docx opens one, check_package refuses a package that lists too many files or unpacks
to more than MAX_UNPACKED_BYTES, reading at most one chunk of it into memory at a time.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import CorpusError
from ..types import Block

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted .docx is an OLE compound file
# What python-docx's own blank template says; not the document's author or date.
_TEMPLATE_AUTHOR = "python-docx"
_TEMPLATE_CREATED = "2013-12-23"
NOTES_HEADING = "Notes"

MAX_UNPACKED_BYTES = 64 * 2**20
"""Most bytes a .docx may unpack to, all its files together. The AI Act's 560,000 characters
as a .docx unpack to 1.4 MB (python-docx's markup; Word's is a few times larger) and images
unpack to about their packed size, so a real document within the 20 MB upload limit needs
far less; python-docx holds every part in memory, so more is refused before it is opened."""
MAX_MEMBERS = 5_000
"""Most files a .docx package may hold: a Word document has a dozen parts plus one per image
or embedded object; thousands more only make opening it slow and its file list large."""
MAX_DIRECTORY_BYTES = 2**20
"""Largest list of files (the ZIP central directory) read to count them: MAX_MEMBERS entries
of about 70 bytes take 350 KB. zipfile turns each entry into an object several times its
size, so a list of hundreds of thousands of files is refused before zipfile reads it."""
_UNPACK_CHUNK = 2**20  # bytes decompressed at a time while counting, then discarded
_EOCD = b"PK\x05\x06"  # the ZIP end record, 22 bytes plus a comment of up to 65,535 (APPNOTE 4.3.16)
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"  # 20 bytes just before the end record (APPNOTE 4.3.15)
_ZIP64_EOCD = b"PK\x06\x06"  # 56 bytes just before the locator (APPNOTE 4.3.14)
# What zipfile raises for a broken package or member (RuntimeError: an encrypted member).
_BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError,
               struct.error)


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


def megabytes(count: int) -> str:
    """A size in MB of 2**20 bytes, as the limits are set ("20 MB", "476.9 MB"); rounded up,
    so that a size just over a limit never reads as the limit itself."""
    tenths = math.ceil(count * 10 / 2**20)
    return f"{tenths // 10:,} MB" if tenths % 10 == 0 else f"{tenths / 10:,.1f} MB"


def check_package(source: Path | bytes, rel: str) -> None:
    """Refuse, before python-docx opens it, a .docx that is empty, encrypted (or an old .doc
    renamed) or too large unpacked; `source` is the file or its bytes, `rel` names it in the
    CorpusError."""
    with _opened(source) as handle:
        head = handle.read(len(_OLE_MAGIC))
    if not head:
        raise CorpusError(f"{rel}: empty file")
    if head == _OLE_MAGIC:
        raise CorpusError(f"{rel}: password-protected (encrypted) Word document, or an old .doc file "
                          "renamed; save a copy without a password as .docx")
    check_unpacked_size(source, rel)


def check_unpacked_size(source: Path | bytes, rel: str, limit: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse a ZIP package that lists too many files or unpacks to more than `limit` bytes.

    First by what the package declares (the size of its file list, the number of files, the
    sum of their unpacked sizes), then by unpacking every file a chunk at a time, discarding
    it and stopping as soon as the running total passes `limit`, since declared sizes can lie.
    zipfile itself stops a file at its declared size and then finds its CRC wrong, so a file
    that declares less than it holds is refused as unreadable. Memory stays at one chunk.
    """
    with _opened(source) as handle:
        listed = _directory_size(handle)
        if listed > MAX_DIRECTORY_BYTES:
            raise CorpusError(f"{rel}: its list of files takes {megabytes(listed)}, over the "
                              f"{megabytes(MAX_DIRECTORY_BYTES)} limit for a Word document")
        try:
            package = zipfile.ZipFile(handle)
        except _BROKEN_ZIP as exc:
            raise CorpusError(f"{rel}: unreadable Word document (not a .docx package: {exc})") from exc
        with package:
            members = package.infolist()
            if len(members) > MAX_MEMBERS:
                raise CorpusError(f"{rel}: {len(members):,} files in the package, over the "
                                  f"{MAX_MEMBERS:,} a Word document may hold")
            declared = sum(member.file_size for member in members)
            if declared > limit:
                raise CorpusError(f"{rel}: unpacks to {megabytes(declared)} ({len(members)} files), over "
                                  f"the {megabytes(limit)} limit for a Word document")
            unpacked = 0
            for member, size in _unpacked_chunks(package, members, rel):
                unpacked += size
                if unpacked > limit:
                    raise CorpusError(f"{rel}: unpacks to more than {megabytes(limit)} (counted up to "
                                      f"{member}, whatever its declared sizes say), over the "
                                      f"{megabytes(limit)} limit for a Word document")


@contextmanager
def _opened(source: Path | bytes) -> Iterator[BinaryIO]:
    """A file object over `source` without copying it: the file itself, or its bytes in memory."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with open(source, "rb") as handle:
            yield handle


def _directory_size(handle: BinaryIO) -> int:
    """The size of a ZIP's file list as its end record states it: what zipfile will read
    whole and turn into objects. 0 when there is no end record (zipfile then says why)."""
    end = handle.seek(0, io.SEEK_END)
    start = max(0, end - _EOCD_SIZE - 0xFFFF)
    handle.seek(start)
    tail = handle.read()
    # Found the way zipfile finds it: a record without a comment at the very end, else the last one.
    if tail[-_EOCD_SIZE:-_EOCD_SIZE + 4] == _EOCD and tail[-2:] == b"\0\0":
        at = len(tail) - _EOCD_SIZE
    else:
        at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return 0
    size: int = struct.unpack_from("<I", tail, at + 12)[0]
    locator = start + at - 20
    if locator >= 56:  # a ZIP64 record, when there is one, is what zipfile reads instead
        handle.seek(locator - 56)
        record = handle.read(76)
        if record[56:60] == _ZIP64_LOCATOR and record[:4] == _ZIP64_EOCD:
            size = max(size, struct.unpack_from("<Q", record, 40)[0])
    return size


def _unpacked_chunks(package: zipfile.ZipFile, members: list[zipfile.ZipInfo], rel: str) -> Iterator[tuple[str, int]]:
    """(member name, bytes) for each chunk of each member as it is decompressed; CorpusError
    when a member cannot be read (a wrong CRC, broken compressed data)."""
    for member in members:
        try:
            with package.open(member) as stream:
                while chunk := stream.read(_UNPACK_CHUNK):
                    yield member.filename, len(chunk)
        except _BROKEN_ZIP as exc:
            raise CorpusError(f"{rel}: unreadable Word document ({member.filename}: {exc})") from exc


def read_docx(path: Path, rel: str) -> WordText:
    """Parse one .docx; raises CorpusError naming the file and the reason."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_package(path, rel)
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
