"""Corpus files -> Documents: .txt, .md, .html/.htm, .pdf (page by page), metadata beside them."""

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
from ..types import Block, Document, DocumentMeta, PageSpan
from .htmltext import html_to_text
from .structure import segment

METADATA_FILE = "metadata.json"
TEXT_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown",
                 ".html": "html", ".htm": "html"}
SUPPORTED_SUFFIXES = set(TEXT_SUFFIXES) | {".pdf"}
META_FIELDS = {"title", "author", "publisher", "date", "type", "url", "notes", "password"}


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


def load_document(source: SourceFile) -> Document:
    """Parse one file; raises CorpusError naming the file and the reason."""
    suffix = source.path.suffix.lower()
    if suffix == ".pdf":
        text, pages, pdf_title = _read_pdf(source)
        kind, fallback_title = "pdf", pdf_title
    else:
        kind = TEXT_SUFFIXES[suffix]
        text = _read_text(source.path, source.relpath)
        fallback_title = ""
        pages = ()
        if kind == "html":
            fallback_title, text = html_to_text(text)
    if not text.strip():
        raise CorpusError(f"{source.relpath}: no text in the file")
    blocks = segment(text, pages, pdf=kind == "pdf")
    if pages and not _has_passages(blocks):
        # Every line recurs on most pages (one label on each page), so all of it looked
        # like running headers; with nothing else in the file, those lines are its text.
        blocks = tuple(Block(b.start, b.end, b.role, _page_at(pages, b.start))
                       for b in segment(text, (), pdf=True))
    if not _has_passages(blocks):
        raise CorpusError(f"{source.relpath}: no passages left after removing navigation and footers")
    meta = _document_meta(source, text, blocks, fallback_title)
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


def _has_passages(blocks: tuple[Block, ...]) -> bool:
    return any(b.role in {"body", "byline"} for b in blocks)


def _page_at(pages: tuple[PageSpan, ...], pos: int) -> int | None:
    return next((p.number for p in pages if p.start <= pos < p.end), None)


# "CHAPTER I", "Article 5", "Whereas:": the first line of a legal text names a part of it,
# not the document; the file name is the better title then.
_SECTION_LABEL = re.compile(r"(?i)^(?:(?:chapter|section|part|title|article|annex|appendix|schedule)"
                            r"\s+[0-9IVXLC]+\b.*|whereas:?)$")


def _document_meta(source: SourceFile, text: str, blocks: Any, fallback_title: str) -> DocumentMeta:
    entry = source.meta
    title = entry.get("title") or fallback_title
    if not title:
        first = next((b for b in blocks if b.role in {"heading", "body"}), None)
        candidate = text[first.start:first.end].strip() if first else ""
        if candidate and "\n" not in candidate and len(candidate.split()) <= 20 \
                and not _SECTION_LABEL.match(candidate.strip("#*_ ")):
            title = candidate.strip("#*_ ")
    if not title:
        title = Path(source.relpath).stem.replace("-", " ").replace("_", " ")
    return DocumentMeta(
        title=title,
        author=entry.get("author", ""),
        publisher=entry.get("publisher", ""),
        date=entry.get("date", ""),
        source_type=entry.get("type", "") or ("PDF document" if source.path.suffix.lower() == ".pdf" else ""),
        url=entry.get("url", ""),
        notes=entry.get("notes", ""),
    )


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


def _read_pdf(source: SourceFile) -> tuple[str, tuple[PageSpan, ...], str]:
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
        page_errors: list[str] = []
        page_texts = list(_page_texts(reader, page_errors))
        title = ""
        try:
            info = reader.metadata
            title = " ".join(str(info.title).split()) if info and info.title else ""
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

    parts: list[str] = []
    pages: list[PageSpan] = []
    pos = 0
    for number, page_text in enumerate(page_texts, start=1):
        if not page_text.strip():
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(page_text)
        pages.append(PageSpan(number, pos, pos + len(page_text)))
        pos += len(page_text)
    if not pages and page_errors:
        # Pages that fail to parse are a broken file, not a scanned one: say why.
        more = f" and {len(page_errors) - 1} more page(s)" if len(page_errors) > 1 else ""
        raise CorpusError(f"{rel}: unreadable PDF ({page_errors[0]}{more})")
    if not pages:
        raise CorpusError(f"{rel}: no extractable text (image-only or scanned PDF, "
                          f"{len(page_texts)} page(s); OCR is not supported)")
    return "".join(parts), tuple(pages), title


def _page_texts(reader: Any, errors: list[str]) -> Iterator[str]:
    """Each page's text; a page that fails gives "" and its reason goes to errors."""
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one bad page must not lose the others
            errors.append(f"page {number}: {type(exc).__name__}: {exc}")
            text = ""
        yield text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
