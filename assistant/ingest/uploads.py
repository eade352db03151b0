"""Documents added from the browser or by URL: type checked by content, safe names, never
overwriting another document.

A file is accepted only when what it holds matches what its name says: a PDF must start
with the %PDF- signature; .txt, .md and .html must be UTF-8 text; a full HTML page may not
pose as .txt or .md. It is then read as a build would read it, so that a file every rebuild
would fail on (a truncated PDF, a zip bomb posing as .docx) or one too long to index in
bounded time is refused now, with the reason. Names keep only letters, digits, '.', '_' and
'-'; a name whose document id is taken gets a -2, -3... suffix, and a file already in the
corpus byte for byte is not added again. A web page added by URL (save_page) is saved as the
HTML the server sent, under its title (else its address's last path segment), with what it
states about itself in metadata.json.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomically, write_synced
from ..errors import CorpusError
from ..types import Document
from .documents import (
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    NoTextLayer,
    SourceFile,
    corpus_files,
    file_sha256,
    load_document,
    load_metadata,
    slugify,
)
from .fetch import FetchedPage, fetch
from .metadata_edit import check_date, update_entry
from .webpage import read_page
from .wordtext import megabytes

MAX_UPLOAD_BYTES = 20 * 2**20
"""Largest file accepted from the browser (the web server refuses bigger ones first): 20 MB
of 2**20 bytes, as the page and the README say."""
MAX_UPLOAD_CHARS = 1_500_000
"""Most characters of text one file may hold once read. The longest real documents indexed
here, the Council's AI Act text of 26 January 2024 (272 pages, 618,322 characters) and the
European Parliament's AI Act amendments page (568,101), fit 2.4 times over; every character
is embedded again on each full rebuild, so a longer file is refused (split it)."""
CHARS_PER_PASSAGE = 600
"""Characters of text in a full passage: one holds at most 160 word pieces of text, and the
real documents above average 470 to 755 characters per passage."""
MAX_UPLOAD_PASSAGES = 10_000
"""Most passages one file may add, as estimated_passages counts them without the model. It
says 1,980 for the Council's AI Act text and 2,122 for the Parliament's page (builds make
1,030 and 1,029); a file of many tiny paragraphs under distinct headings, each a passage of
its own, would cost far more embedding than its length suggests, and is refused."""
# Which content each file name may hold: "pdf", "docx", plain "text", or a whole "html" page.
_ACCEPTS = {".pdf": {"pdf"}, ".docx": {"docx"}, ".txt": {"text"}, ".md": {"text"}, ".markdown": {"text"},
            ".html": {"html", "text"}, ".htm": {"html", "text"}}
_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
                         re.IGNORECASE | re.DOTALL)
_KIND_NAMES = {"pdf": "a PDF", "docx": "a Word document", "html": "an HTML page", "text": "plain text"}
_KIND_SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "text": ".txt"}
# A .docx is a ZIP package; a password-protected one an OLE compound file (read_docx says so).
_DOCX_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_PDF_SEARCH_BYTES = 1024  # the PDF signature may follow a little junk (ISO 32000-1, 7.5.2)
_MAX_STEM = 80
_MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class Upload:
    """What happened to one uploaded file."""

    original: str  # the name it was uploaded with
    saved_as: str  # its path relative to the corpus folder; "" when it was not added
    message: str  # one line for the user


def sniff(data: bytes) -> str:
    """The content type by its bytes: "pdf", "docx", "html" or "text"; CorpusError otherwise."""
    if not data.strip():
        raise CorpusError("empty file")
    if b"%PDF-" in data[:_PDF_SEARCH_BYTES]:
        return "pdf"
    if data.startswith(_DOCX_MAGIC):
        return "docx"
    if b"\x00" in data:
        raise CorpusError("binary file (it holds NUL bytes), not text, PDF or Word")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"neither a PDF nor UTF-8 text (invalid byte 0x{data[exc.start]:02x} "
                          f"at offset {exc.start})") from exc
    return "html" if _HTML_START.match(text[:4096]) else "text"


def safe_name(name: str) -> str:
    """A plain file name from whatever the browser sent: no folders, no hidden files, ASCII
    only, with its word breaks kept ("Déclaration franco‑allemande – IA.pdf" ->
    "Declaration-franco-allemande-IA.pdf")."""
    base = _ascii_words(re.split(r"[/\\]", name)[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip("-_")[:_MAX_STEM].strip("-_") or "document"
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix).lower()
    return f"{stem}.{suffix}" if suffix else stem


def _ascii_words(text: str) -> str:
    """`text` in ASCII: accents dropped (é -> e), and a dash or space of any script, or any
    other character with no ASCII form, turned into '-' so that words stay apart."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            continue
        out.append("-" if unicodedata.category(char) in ("Pd", "Zs") or not char.isascii() else char)
    return "".join(out)


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> Upload:
    """Check one file and write it into the corpus folder; CorpusError says why it was refused."""
    shown = re.split(r"[/\\]", name)[-1] or "(no name)"
    if len(data) > max_bytes:
        raise CorpusError(f"{shown}: {megabytes(len(data))} is over the {megabytes(max_bytes)} limit")
    clean = safe_name(name)
    suffix = Path(clean).suffix
    if suffix not in _ACCEPTS:
        raise CorpusError(f"{shown}: unsupported file type {suffix or '(none)'}; "
                          f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        kind = sniff(data)
    except CorpusError as exc:
        raise CorpusError(f"{shown}: {exc}") from exc
    if kind not in _ACCEPTS[suffix]:
        raise CorpusError(f"{shown}: the content is {_KIND_NAMES[kind]} but the name says {suffix}; "
                          f"rename it to {_KIND_SUFFIX[kind]}")
    check_text(shown, suffix, data)  # a .docx is checked for a zip bomb there, before it is unpacked
    corpus_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    existing = corpus_files(corpus_dir)
    for path in existing:
        if path.stat().st_size == len(data) and file_sha256(path) == digest:
            shown_path = path.relative_to(corpus_dir).as_posix()
            return Upload(shown, "", f"{shown}: already in the corpus as {shown_path}; not added again")
    target = _write_new(corpus_dir, clean, data, _taken_ids(corpus_dir, existing))
    note = "" if target.name == clean else f" ({clean} is taken)"
    return Upload(shown, target.name, f"{shown}: added as {target.name}{note}")


def check_text(shown: str, suffix: str, data: bytes) -> None:
    """Read a file's text as a build would (OCR off) and refuse, with the reader's reason, a
    file the build would fail on, or one whose text is over MAX_UPLOAD_CHARS or would make
    more than MAX_UPLOAD_PASSAGES passages. A PDF without a text layer passes: OCR reads it at
    build time. `shown` names the file in the CorpusError; `suffix` says how to read `data`."""
    if TEXT_SUFFIXES.get(suffix) in ("text", "markdown") and len(data) > MAX_UPLOAD_CHARS:
        _check_length(shown, len(data.decode("utf-8-sig")))  # the file is its text: counted before it is read
    with tempfile.TemporaryDirectory(prefix="assistant-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            document = load_document(SourceFile(path, shown, "upload", "", {}), ocr="off")
        except NoTextLayer:
            return
    _check_length(shown, len(document.text))
    passages = estimated_passages(document)
    if passages > MAX_UPLOAD_PASSAGES:
        raise CorpusError(f"{shown}: about {passages:,} passages, over the {MAX_UPLOAD_PASSAGES:,} one "
                          "document may add; split it into parts")


def _check_length(shown: str, chars: int) -> None:
    if chars > MAX_UPLOAD_CHARS:
        raise CorpusError(f"{shown}: {chars:,} characters of text, over the {MAX_UPLOAD_CHARS:,} one "
                          "document may hold; split it into parts")


def estimated_passages(document: Document) -> int:
    """About how many passages a build makes of `document`, without the model: each paragraph
    one per CHARS_PER_PASSAGE characters, at least one. It counts high, as short paragraphs
    under one heading share a passage, but never misses a paragraph that stands alone."""
    return sum(-(-(block.end - block.start) // CHARS_PER_PASSAGE)
               for block in document.blocks if block.role in ("body", "byline"))


def save_page(corpus_dir: Path, url: str, fetcher: Callable[[str], FetchedPage] = fetch) -> Upload:
    """Fetch a web page into the corpus as `<its title>.html`, with what the page states about
    itself (title, author, publisher, date, its address) and the day it was retrieved in
    metadata.json. A page added before (same address) is updated in place when its text
    changed: the same document, not a second copy. CorpusError says why not, and then
    nothing was written."""
    shown = url.strip()
    try:
        fetched = fetcher(shown)
    except CorpusError as exc:
        raise CorpusError(f"{shown}: {exc}") from exc
    page = read_page(fetched.html, fetched.url)
    if not page.text.strip():
        raise CorpusError(f"{shown}: no text found in the page")
    data = fetched.html.encode("utf-8")
    stated = {"title": page.title, "author": page.author, "publisher": page.publisher,
              "date": _checked_date(page.date), "url": fetched.url, "type": "web page"}
    addresses = {shown, fetched.url, page.url}
    metadata = load_metadata(corpus_dir)
    before = next((rel for rel, entry in metadata.items()
                   if entry.get("url") in addresses and (corpus_dir / rel).is_file()), None)
    if before is not None:
        path = corpus_dir / before
        previous = path.read_bytes()
        if previous == data:
            return Upload(shown, "", f"{shown}: unchanged since it was added as {before}")
        kept = {k for k, v in metadata[before].items() if v}  # the analyst's edits stay
        write_atomically(path, data)
        try:
            update_entry(corpus_dir, before, {**{k: v for k, v in stated.items() if k not in kept and v},
                                              "retrieved": fetched.retrieved})
        except CorpusError:
            write_atomically(path, previous)
            raise
        return Upload(shown, before, f"{shown}: updated {before} (its text changed)")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    clean = safe_name(f"{page.title or _address_name(fetched.url)}.html")
    target = _write_new(corpus_dir, clean, data, _taken_ids(corpus_dir, corpus_files(corpus_dir)))
    try:
        update_entry(corpus_dir, target.name, {**{k: v for k, v in stated.items() if v},
                                               "retrieved": fetched.retrieved})
    except CorpusError:
        target.unlink(missing_ok=True)
        raise
    return Upload(shown, target.name, f"{shown}: added as {target.name}")


def _address_name(url: str) -> str:
    """A name for a page that states no title: its address's last path segment without its
    extension (".../notes/model-cards.html" -> "model-cards"), else its host."""
    parts = urllib.parse.urlsplit(url)
    segment = next((s for s in reversed(parts.path.split("/")) if s), "")
    stem = urllib.parse.unquote(segment).rpartition(".")[0] or urllib.parse.unquote(segment)
    return stem.strip() or parts.hostname or "page"


def _taken_ids(corpus_dir: Path, files: list[Path]) -> set[str]:
    """Document ids are slugs of the path without its suffix: the ones a new file must not take."""
    return {slugify(p.relative_to(corpus_dir).with_suffix("").as_posix()) for p in files}


def _checked_date(value: str) -> str:
    try:
        return check_date(value) if value else ""
    except CorpusError:
        return ""  # not a date we can cite: left empty, never guessed


def _write_new(corpus_dir: Path, clean: str, data: bytes, taken: set[str]) -> Path:
    """Write under the first free name; a name is free when no file has its document id."""
    stem, suffix = Path(clean).stem, Path(clean).suffix
    tmp = corpus_dir / f".upload-{uuid.uuid4().hex}"  # hidden: discover() skips it
    try:
        write_synced(tmp, data, new=True)
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            candidate = f"{stem}{'' if attempt == 1 else f'-{attempt}'}"
            if slugify(candidate) in taken:
                continue
            target = corpus_dir / f"{candidate}{suffix}"
            try:
                os.link(tmp, target)  # fails if the name exists: never overwrites
            except FileExistsError:
                continue
            return target
    finally:
        tmp.unlink(missing_ok=True)
    raise CorpusError(f"{clean}: {_MAX_ATTEMPTS} files with this name already exist; rename it")
