"""Corpus files -> Documents: .txt, .md, .html/.htm, .pdf (page by page), .docx, metadata beside them."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorpusError
from ..types import Block, Document, DocumentMeta, PageSpan, one_line
from .ocr import missing as ocr_missing
from .ocr import recognise_pages
from .structure import segment
from .webpage import read_page
from .wordtext import read_docx

METADATA_FILE = "metadata.json"
TEXT_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                 ".html": "html", ".htm": "html"}
SUPPORTED_SUFFIXES = set(TEXT_SUFFIXES) | {".pdf", ".docx"}
META_FIELDS = {"title", "author", "publisher", "date", "type", "url", "retrieved", "notes", "password"}


class NoTextLayer(CorpusError):
    """A PDF with no text on any page and none read by OCR: a scan, which a build with OCR
    on may still read."""


@dataclass(frozen=True)
class SourceFile:
    """A corpus file found on disk, before it is parsed."""

    path: Path
    relpath: str
    doc_id: str
    sha256: str
    meta: dict[str, str]


def load_metadata(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """The user-editable metadata file: {relative path: {title, author, ...}}."""
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc}); fix it or delete it") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CorpusError(f"{path}: expected {{\"file name\": {{\"title\": ...}}, ...}}")
    out: dict[str, dict[str, str]] = {}
    for name, entry in data.items():
        unknown = set(entry) - META_FIELDS
        if unknown:
            raise CorpusError(f"{path}: {name}: unknown field(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(sorted(META_FIELDS))})")
        out[name] = {k: "" if v is None else str(v) for k, v in entry.items()}
    return out


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "document"


def discover(corpus_dir: Path) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Supported files under corpus_dir (sorted), and (path, reason) for skipped ones."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: corpus folder not found (set --corpus or ASSISTANT_CORPUS)")
    metadata = load_metadata(corpus_dir)
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    for path in corpus_files(corpus_dir):
        rel = path.relative_to(corpus_dir).as_posix()
        if rel == METADATA_FILE:
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append((rel, f"unsupported file type {path.suffix or '(none)'}; "
                                 f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"))
            continue
        found.append((path, rel))
    ids = _doc_ids([rel for _, rel in found])
    files = [SourceFile(path, rel, ids[rel], file_sha256(path), metadata.get(rel, {}))
             for path, rel in found]
    return files, skipped


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every file under corpus_dir, sorted, except hidden ones (and those in hidden folders)."""
    return [p for p in sorted(corpus_dir.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)]


def document_ids(corpus_dir: Path) -> dict[str, str]:
    """{relative path: document id} of the files discover() would index, without reading them."""
    rels = [p.relative_to(corpus_dir).as_posix() for p in corpus_files(corpus_dir)]
    return _doc_ids([rel for rel in rels if rel != METADATA_FILE
                     and Path(rel).suffix.lower() in SUPPORTED_SUFFIXES])


def _doc_ids(relpaths: list[str]) -> dict[str, str]:
    base = {rel: slugify(rel.rsplit(".", 1)[0]) for rel in relpaths}
    counts: dict[str, int] = {}
    for slug in base.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {rel: slug if counts[slug] == 1 else slugify(rel) for rel, slug in base.items()}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_document(source: SourceFile, ocr: str = "auto") -> Document:
    """Parse one file; raises CorpusError naming the file and the reason.

    `ocr` (Settings.ocr): "auto" reads PDF pages that have no text layer with Tesseract
    when it is installed, "on" requires it, "off" never does.
    """
    suffix = source.path.suffix.lower()
    if suffix == ".docx":
        return _docx_document(source)
    if suffix == ".pdf":
        text, pages, pdf_title = _read_pdf(source, ocr)
        kind, fallback_title = "pdf", pdf_title
    else:
        kind = TEXT_SUFFIXES[suffix]
        text = _read_text(source.path, source.relpath)
        if kind == "html":
            return _html_document(source, text)
        fallback_title, pages = "", ()
    if not text.strip():
        raise CorpusError(f"{source.relpath}: no text in the file")
    blocks = segment(text, pages, pdf=kind == "pdf")
    if pages and not _has_passages(blocks):
        # Every line recurs on most pages (one label on each page), so all of it looked
        # like running headers; with nothing else in the file, those lines are its text.
        blocks = tuple(Block(b.start, b.end, b.role, _page_at(pages, b.start))
                       for b in segment(text, (), pdf=True))
    _require_passages(source, blocks)
    return _document(source, text, blocks, pages, kind, _document_meta(source, text, blocks, fallback_title))


def _html_document(source: SourceFile, html: str) -> Document:
    page = read_page(html, source.meta.get("url", ""))
    if not page.text.strip():
        raise CorpusError(f"{source.relpath}: no text in the page")
    blocks = segment(page.text)
    _require_passages(source, blocks)
    # The page's own title or the file name: never a first line, which may be a table's header.
    stated = page.meta
    meta = _document_meta(source, page.text, blocks, stated.title or _file_title(source.relpath),
                          {"author": stated.author, "publisher": stated.publisher, "date": stated.date,
                           "url": stated.url})
    return _document(source, page.text, blocks, (), "html", meta)


def _docx_document(source: SourceFile) -> Document:
    word = read_docx(source.path, source.relpath)
    if not _has_passages(word.blocks):
        raise CorpusError(f"{source.relpath}: no text in the Word document")
    meta = _document_meta(source, word.text, word.blocks, word.title,
                          {"author": word.author, "date": word.date, "type": "Word document"})
    return _document(source, word.text, word.blocks, (), "docx", meta)


def _document(source: SourceFile, text: str, blocks: tuple[Block, ...], pages: tuple[PageSpan, ...],
              kind: str, meta: DocumentMeta) -> Document:
    return Document(
        doc_id=source.doc_id,
        path=source.relpath,
        meta=meta,
        text=text,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        blocks=blocks,
        pages=pages,
        kind=kind,
    )


def _require_passages(source: SourceFile, blocks: tuple[Block, ...]) -> None:
    if not _has_passages(blocks):
        raise CorpusError(f"{source.relpath}: no passages left after removing navigation and footers")


def _has_passages(blocks: tuple[Block, ...]) -> bool:
    return any(b.role in {"body", "byline"} for b in blocks)


def _page_at(pages: tuple[PageSpan, ...], pos: int) -> int | None:
    return next((p.number for p in pages if p.start <= pos < p.end), None)


# "CHAPTER I", "Article 5", "Whereas:": the first line of a legal text names a part of it,
# not the document; the file name is the better title then.
_SECTION_LABEL = re.compile(r"(?i)^(?:(?:chapter|section|part|title|article|annex|appendix|schedule)"
                            r"\s+[0-9IVXLC]+\b.*|whereas:?)$")


def _document_meta(source: SourceFile, text: str, blocks: Any, fallback_title: str,
                   stated: dict[str, str] | None = None) -> DocumentMeta:
    """metadata.json's fields; where it has none, what the file itself states (`stated`), the
    title found in the text, else the file name."""
    entry = {**(stated or {}), **{k: v for k, v in source.meta.items() if v}}
    title = entry.get("title") or fallback_title
    if not title:
        first = next((b for b in blocks if b.role in {"heading", "body"}), None)
        candidate = text[first.start:first.end].strip() if first else ""
        if candidate and "\n" not in candidate and len(candidate.split()) <= 20 \
                and not _SECTION_LABEL.match(candidate.strip("#*_ ")):
            title = candidate.strip("#*_ ")
    if not title:
        title = _file_title(source.relpath)
    return DocumentMeta(
        title=title,
        author=entry.get("author", ""),
        publisher=entry.get("publisher", ""),
        date=entry.get("date", ""),
        source_type=entry.get("type", "") or ("PDF document" if source.path.suffix.lower() == ".pdf" else ""),
        url=entry.get("url", ""),
        retrieved=entry.get("retrieved", ""),
        notes=entry.get("notes", ""),
    )


def _file_title(relpath: str) -> str:
    return Path(relpath).stem.replace("-", " ").replace("_", " ")


def _read_text(path: Path, rel: str) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise CorpusError(f"{rel}: empty file")
    if b"\x00" in data[:8192]:
        raise CorpusError(f"{rel}: binary file, not text (it holds NUL bytes); "
                          "save it as .txt/.md/.html in UTF-8 or as a PDF")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{rel}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at "
                          f"offset {exc.start}); re-save the file as UTF-8") from exc


def _read_pdf(source: SourceFile, ocr: str = "auto") -> tuple[str, tuple[PageSpan, ...], str]:
    import pypdf  # imported here: only PDF corpora pay for it
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are not the user's problem
    rel = source.relpath
    if source.path.stat().st_size == 0:
        raise CorpusError(f"{rel}: empty file")
    try:
        reader = pypdf.PdfReader(str(source.path), strict=False)
        if reader.is_encrypted:
            password = source.meta.get("password", "")
            if not reader.decrypt(password):
                if password:
                    raise CorpusError(f"{rel}: encrypted PDF; the password in {METADATA_FILE} does not open it")
                raise CorpusError(f"{rel}: encrypted PDF that needs a password; add "
                                  f"\"password\" to its entry in {METADATA_FILE}")
        page_errors: dict[int, str] = {}
        page_texts = list(_page_texts(reader, page_errors))
        title = ""
        try:
            info = reader.metadata
            title = one_line(str(info.title)) if info and info.title else ""
        except Exception:  # noqa: BLE001 - broken /Info must not stop the text
            title = ""
    except CorpusError:
        raise
    except FileNotDecryptedError as exc:
        raise CorpusError(f"{rel}: encrypted PDF that needs a password; add \"password\" "
                          f"to its entry in {METADATA_FILE}") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            AssertionError, RecursionError, OSError, NotImplementedError) as exc:
        raise CorpusError(f"{rel}: unreadable PDF ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:
        raise CorpusError(f"{rel}: unreadable PDF ({type(exc).__name__}: {exc})") from exc

    # Pages without text that pypdf could parse are scans; pages it failed on are broken.
    blank = [n for n, page_text in enumerate(page_texts, start=1) if not page_text.strip() and n not in page_errors]
    recognised: dict[int, str] = {}
    ocr_failures: list[str] = []
    if blank and ocr != "off":
        if ocr_missing():
            if ocr == "on":
                raise CorpusError(f"{rel}: {len(blank)} page(s) without text and OCR is on, but "
                                  f"{ocr_missing()} is not installed (run scripts/setup.sh)")
        else:
            recognised, ocr_failures = recognise_pages(source.path, blank, source.meta.get("password", ""))
    parts: list[str] = []
    pages: list[PageSpan] = []
    pos = 0
    for number, page_text in enumerate(page_texts, start=1):
        by_ocr = not page_text.strip()
        page_text = recognised.get(number, "") if by_ocr else page_text
        if not page_text.strip():
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(page_text)
        pages.append(PageSpan(number, pos, pos + len(page_text), by_ocr))
        pos += len(page_text)
    if not pages and page_errors:
        # Pages that fail to parse are a broken file, not a scanned one: say why.
        first = next(iter(page_errors.values()))
        more = f" and {len(page_errors) - 1} more page(s)" if len(page_errors) > 1 else ""
        raise CorpusError(f"{rel}: unreadable PDF ({first}{more})")
    if not pages:
        if ocr_failures:
            more = f" and {len(ocr_failures) - 1} more page(s)" if len(ocr_failures) > 1 else ""
            raise NoTextLayer(f"{rel}: no extractable text (image-only or scanned PDF; {ocr_failures[0]}{more})")
        if ocr == "off":
            why = "OCR is off (ASSISTANT_OCR=off)"
        elif ocr_missing():
            why = f"OCR needs {ocr_missing()}: run scripts/setup.sh"
        else:
            why = "OCR found no text on them either"
        raise NoTextLayer(f"{rel}: no extractable text (image-only or scanned PDF, "
                          f"{len(page_texts)} page(s); {why})")
    return "".join(parts), tuple(pages), title


def _page_texts(reader: Any, errors: dict[int, str]) -> Iterator[str]:
    """Each page's text; a page that fails gives "" and its reason goes to errors[number]."""
    for number, page in enumerate(reader.pages, start=1):
        try:
            yield pdf_page_text(page)
        except Exception as exc:  # noqa: BLE001 - one bad page must not lose the others
            errors[number] = f"page {number}: {type(exc).__name__}: {exc}"
            yield ""


def pdf_page_text(page: Any) -> str:
    """A pypdf page's text as the index holds it (NULs gone, line breaks as \\n)."""
    text = page.extract_text() or ""
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
