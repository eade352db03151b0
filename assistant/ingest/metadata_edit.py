"""Edit one document's entry in corpus/metadata.json, as the web chat's details form does,
or drop it when the document is removed from the corpus.

Only the fields documents.py accepts may be set, and never `password` (a PDF's password
stays in the file, out of reach of the page). Values are stripped; an empty value removes
the field from the entry. The file is rewritten whole through a temporary file and
os.replace, so a reader sees the old file or the new one, never half of one; a file that
cannot be read or parsed is reported and left as it is.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from ..atomic import write_atomically
from ..errors import CorpusError
from ..types import one_line
from .documents import META_FIELDS, METADATA_FILE, load_metadata

PROTECTED_FIELDS = frozenset({"password"})
"""Fields the page may neither see nor change."""
EDITABLE_FIELDS = frozenset(META_FIELDS - PROTECTED_FIELDS)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_LOCK = threading.Lock()  # one read-modify-write at a time within this process


def check_date(value: str) -> str:
    """The date as given when it is YYYY, YYYY-MM or YYYY-MM-DD (a real day); CorpusError otherwise."""
    value = value.strip()
    match = _DATE.match(value)
    if match is None:
        raise CorpusError(f"date {value!r}: write it as YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2020-09-25)")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        date(year or 0, month or 1, day or 1)
    except ValueError as exc:
        raise CorpusError(f"date {value!r}: no such date ({exc}); write it as YYYY, YYYY-MM or YYYY-MM-DD") from exc
    return value


def clean_fields(changes: Mapping[str, str | None]) -> dict[str, str]:
    """The changes stripped and checked: unknown or protected fields and bad dates are refused.
    An empty value ("" after stripping) means "remove this field"."""
    unknown = set(changes) - META_FIELDS
    if unknown:
        raise CorpusError(f"unknown field(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(EDITABLE_FIELDS))})")
    protected = set(changes) & PROTECTED_FIELDS
    if protected:
        raise CorpusError(f"{', '.join(sorted(protected))} cannot be changed from here; "
                          f"edit {METADATA_FILE} in the corpus folder")
    out = {name: one_line(str(value or "")) if name != "notes" else str(value or "").strip()
           for name, value in changes.items()}
    if out.get("date"):
        out["date"] = check_date(out["date"])
    return out


def read_entry(corpus_dir: Path, relpath: str) -> dict[str, str]:
    """The document's current entry, without its protected fields ({} when it has none)."""
    entry = load_metadata(corpus_dir).get(relpath, {})
    return {k: v for k, v in entry.items() if k not in PROTECTED_FIELDS}


def update_entry(corpus_dir: Path, relpath: str, changes: Mapping[str, str | None]) -> dict[str, str]:
    """Apply the changes to relpath's entry and write metadata.json; the new entry (less its
    protected fields) is returned. Fields not named in changes, and every other entry, are
    kept as they are."""
    fields = clean_fields(changes)
    target = corpus_dir / relpath
    if relpath == METADATA_FILE or ".." in Path(relpath).parts or Path(relpath).is_absolute() \
            or not target.is_file():
        raise CorpusError(f"{relpath}: no such document in {corpus_dir}")
    path = corpus_dir / METADATA_FILE
    with _LOCK:
        load_metadata(corpus_dir)  # refuses, with a clear message, a file it could not read back
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(f"{path}: cannot read it ({exc}); it was left unchanged") from exc
        entry = dict(data.get(relpath, {}))
        for name, value in fields.items():
            if value:
                entry[name] = value
            else:
                entry.pop(name, None)
        entry = {k: v for k, v in entry.items() if v not in ("", None)}
        if entry:
            data[relpath] = entry
        else:
            data.pop(relpath, None)
        _write_atomically(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return {k: str(v) for k, v in entry.items() if k not in PROTECTED_FIELDS}


def remove_entry(corpus_dir: Path, relpath: str, keep_in: Path | None = None) -> dict[str, object] | None:
    """Drop relpath's whole entry (protected fields too) from metadata.json, for a document
    taken out of the corpus; the entry removed, or None when it had none (then nothing is
    written).

    With `keep_in`, the entry is first written there as {relpath: entry}, the shape of
    metadata.json, so that putting the document back can restore its metadata. When that or
    the rewrite fails, CorpusError is raised and metadata.json is left as it was.
    """
    path = corpus_dir / METADATA_FILE
    with _LOCK:
        if not path.exists():
            return None
        load_metadata(corpus_dir)  # refuses, with a clear message, a file it could not read back
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(f"{path}: cannot read it ({exc}); it was left unchanged") from exc
        if relpath not in data:
            return None
        entry = data.pop(relpath)
        if keep_in is not None:
            _write_atomically(keep_in, json.dumps({relpath: entry}, ensure_ascii=False, indent=2) + "\n")
        try:
            _write_atomically(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        except CorpusError:
            if keep_in is not None:
                keep_in.unlink(missing_ok=True)  # the entry is still in metadata.json
            raise
    return dict(entry)


def _write_atomically(path: Path, text: str) -> None:
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot write it ({exc.strerror}); it was left unchanged") from exc
