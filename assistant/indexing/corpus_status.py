"""What changed in the corpus folder since the index was built (files and their metadata)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ..ingest.documents import SourceFile


@dataclass(frozen=True)
class IndexedFile:
    """What the index remembers of a file it read: its bytes' hash and its metadata entry."""

    sha256: str
    meta: Mapping[str, str]


@dataclass(frozen=True)
class CorpusChanges:
    """Files added, changed or removed since the build (paths relative to the corpus)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self) -> str:
        """One line, e.g. "2 added (a.txt, b.pdf), 1 changed (c.md)"."""
        parts = []
        for label, paths in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            if paths:
                shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
                parts.append(f"{len(paths)} {label} ({shown})")
        return ", ".join(parts) or "no changes"


def compare(files: Sequence[SourceFile], indexed: Mapping[str, IndexedFile], failed: Collection[str],
            built_at: float, modified: Mapping[str, float]) -> CorpusChanges:
    """Corpus files on disk against the index.

    The index keeps no hash of a file its build could not read (`failed`): such a file
    counts as changed when it was modified after the build (`modified` gives each file's
    mtime, `built_at` the build's, both in seconds since the epoch), else as known.
    """
    on_disk = {f.relpath: f for f in files}
    added = [p for p in on_disk if p not in indexed and p not in failed]
    changed = [p for p, f in on_disk.items() if p in indexed
               and (indexed[p].sha256 != f.sha256 or dict(indexed[p].meta) != dict(f.meta))]
    changed += [p for p in on_disk if p in failed and modified.get(p, 0.0) > built_at]
    removed = [p for p in indexed if p not in on_disk]
    return CorpusChanges(tuple(sorted(added)), tuple(sorted(changed)), tuple(sorted(removed)))
