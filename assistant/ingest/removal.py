"""Take a document out of the corpus without losing it: the file moves into corpus/.removed/.

A document is named by its id (as the index and `assistant ask --json` give it) or by its
path relative to the corpus folder (a file that failed to index has only that). Nothing
outside the corpus folder is ever touched: absolute paths, '..' and links that lead out of
the folder are refused. The file is moved, not deleted, into the hidden folder .removed/
(discover() skips hidden folders, so the next build drops the document) under a name that
starts with the UTC time of its removal; its metadata.json entry moves beside it. Moving
the file back (and its entry into metadata.json) restores the document.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from ..errors import CorpusError
from .documents import METADATA_FILE, corpus_files, document_ids
from .metadata_edit import remove_entry

REMOVED_DIR = ".removed"
"""Hidden folder inside the corpus that keeps removed files (and their metadata entries)."""
_HOW_TO_NAME = ("give a document id (`assistant ask --json` shows each citation's doc_id; the web chat's "
                "Documents tab lists them) or the file's path relative to the corpus folder")


@dataclass(frozen=True)
class Removed:
    """A document taken out of the corpus."""

    path: str  # where it was, relative to the corpus folder
    kept_as: str  # where the file is now, relative to the corpus folder (inside .removed/)
    message: str  # one line for the user


def remove_document(corpus_dir: Path, which: str, now: datetime | None = None) -> Removed:
    """Move the document `which` (an id, or a path relative to corpus_dir) into
    corpus_dir/.removed/ and drop its metadata.json entry; the index keeps it until the
    next build.

    Raises CorpusError, changing nothing, for an unknown id or path, for a path that is
    absolute, holds '..' or leads outside the folder, and when the move or the metadata
    update fails (the file is then moved back). `now` (UTC) names the kept file; it is the
    present moment unless given.
    """
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: corpus folder not found (set --corpus or ASSISTANT_CORPUS)")
    relpath = _locate(corpus_dir, which)
    root = corpus_dir.resolve()
    source = corpus_dir / relpath
    if not source.resolve().is_relative_to(root):
        raise CorpusError(f"{relpath}: it is a link to a file outside the corpus folder; refused "
                          "(remove the link by hand)")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    target = _kept_path(corpus_dir, root, relpath, stamp)
    try:
        os.rename(source, target)
    except OSError as exc:
        raise CorpusError(f"{relpath}: cannot move it into {REMOVED_DIR}/ ({exc.strerror}); "
                          "it was left in place") from exc
    try:
        remove_entry(corpus_dir, relpath, keep_in=target.with_name(f"{target.name}.metadata.json"))
    except CorpusError as exc:
        os.rename(target, source)
        raise CorpusError(f"{relpath}: not removed: {exc}") from exc
    kept_as = target.relative_to(corpus_dir).as_posix()
    return Removed(relpath, kept_as, f"removed {relpath} (kept as {kept_as}; move it back to restore it)")


def _locate(corpus_dir: Path, which: str) -> str:
    """The relative path of the file `which` names: a document id first, else a path."""
    name = which.strip()
    if not name:
        raise CorpusError(f"no document named; {_HOW_TO_NAME}")
    ids = document_ids(corpus_dir)
    by_id = {doc_id: rel for rel, doc_id in ids.items()}
    if name in by_id:
        return by_id[name]
    path = PurePosixPath(name)
    if path.is_absolute() or Path(name).is_absolute() or ".." in path.parts:
        raise CorpusError(f"{name}: refused: name a file inside the corpus folder by its path relative "
                          "to it (no absolute paths, no '..')")
    relpath = path.as_posix()
    # Any file discover() sees may be removed: a document, or one it skipped or failed to read.
    known = {p.relative_to(corpus_dir).as_posix() for p in corpus_files(corpus_dir)} - {METADATA_FILE}
    if relpath not in known:
        raise CorpusError(f"{name}: no such document in {corpus_dir}; {_HOW_TO_NAME}")
    return relpath


def _kept_path(corpus_dir: Path, root: Path, relpath: str, stamp: str) -> Path:
    """A free name for the removed file in .removed/ (its sub-folders mirror the corpus's)."""
    kept = corpus_dir / REMOVED_DIR
    if kept.is_symlink() or (kept.exists() and not kept.is_dir()):
        raise CorpusError(f"{kept}: not a folder; move it away so removed documents can be kept there")
    rel = PurePosixPath(relpath)
    folder = kept.joinpath(*rel.parent.parts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"{folder}: cannot create it ({exc.strerror}); nothing was removed") from exc
    if not folder.resolve().is_relative_to(root / REMOVED_DIR):
        raise CorpusError(f"{folder}: leads outside the corpus folder; refused")
    for n in range(1, 1000):
        target = folder / (f"{stamp}-{rel.name}" if n == 1 else f"{stamp}-{n}-{rel.name}")
        if not target.exists() and not target.is_symlink():
            return target
    raise CorpusError(f"{folder}: no free name for {rel.name}; empty the folder of old removals")
