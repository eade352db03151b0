"""Documents added from the browser: type checked by content, safe names, never overwriting.

A file is accepted only when what it holds matches what its name says: a PDF must start
with the %PDF- signature; .txt, .md and .html must be UTF-8 text; a full HTML page may not
pose as .txt or .md. Names keep only letters, digits, '.', '_' and '-'; a name whose
document id is taken gets a -2, -3... suffix, and a file already in the corpus byte for
byte is not added again.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .documents import SUPPORTED_SUFFIXES, corpus_files, file_sha256, slugify

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest file accepted from the browser (the web server refuses bigger ones first)."""
# Which content each file name may hold: "pdf", plain "text", or a whole "html" page.
_ACCEPTS = {".pdf": {"pdf"}, ".txt": {"text"}, ".md": {"text"}, ".markdown": {"text"},
            ".html": {"html", "text"}, ".htm": {"html", "text"}}
_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
                         re.IGNORECASE | re.DOTALL)
_KIND_NAMES = {"pdf": "a PDF", "html": "an HTML page", "text": "plain text"}
_KIND_SUFFIX = {"pdf": ".pdf", "html": ".html", "text": ".txt"}
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
    """The content type by its bytes: "pdf", "html" or "text"; CorpusError otherwise."""
    if not data.strip():
        raise CorpusError("empty file")
    if b"%PDF-" in data[:_PDF_SEARCH_BYTES]:
        return "pdf"
    if b"\x00" in data:
        raise CorpusError("binary file (it holds NUL bytes), not text or PDF")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"neither a PDF nor UTF-8 text (invalid byte 0x{data[exc.start]:02x} "
                          f"at offset {exc.start})") from exc
    return "html" if _HTML_START.match(text[:4096]) else "text"


def safe_name(name: str) -> str:
    """A plain file name from whatever the browser sent: no folders, no hidden files."""
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:_MAX_STEM].strip("-_") or "document"
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix).lower()
    return f"{stem}.{suffix}" if suffix else stem


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> Upload:
    """Check one file and write it into the corpus folder; CorpusError says why it was refused."""
    shown = re.split(r"[/\\]", name)[-1] or "(no name)"
    if len(data) > max_bytes:
        raise CorpusError(f"{shown}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
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
    corpus_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    existing = corpus_files(corpus_dir)
    for path in existing:
        if path.stat().st_size == len(data) and file_sha256(path) == digest:
            shown_path = path.relative_to(corpus_dir).as_posix()
            return Upload(shown, "", f"{shown}: already in the corpus as {shown_path}; not added again")
    # Document ids are slugs of the path without its suffix: keep them unique.
    taken = {slugify(p.relative_to(corpus_dir).with_suffix("").as_posix()) for p in existing}
    target = _write_new(corpus_dir, clean, data, taken)
    note = "" if target.name == clean else f" ({clean} is taken)"
    return Upload(shown, target.name, f"{shown}: added as {target.name}{note}")


def _write_new(corpus_dir: Path, clean: str, data: bytes, taken: set[str]) -> Path:
    """Write under the first free name; a name is free when no file has its document id."""
    stem, suffix = Path(clean).stem, Path(clean).suffix
    tmp = corpus_dir / f".upload-{uuid.uuid4().hex}"  # hidden: discover() skips it
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
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
