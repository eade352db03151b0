"""What a build takes from the served version, and whether it writes a whole version or an overlay.

An unchanged document keeps its chunks, vectors and terms: its rows are copied as they are, or
(when the corpus now defines acronyms it did not) its terms are made again. A large index whose
changes are small gets an overlay holding only what changed (layered.py); otherwise the build
writes a whole version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ...config import Settings
from ...errors import IndexError_, IndexMismatchError
from ...ingest.textnorm import GlueSplitter
from .. import store as index_store
from ..keyword import AVERAGE_DRIFT, chunk_keyword_terms
from ..layered import LayeredStore, ServedLayers, load_layers, overlay_over
from ..store import DocumentEntry, IndexIdentity, IndexStore, Overlay, VersionWriter
from .batches import QueuedDocument


@dataclass(frozen=True)
class ServedVersion:
    """The served version a build reuses: its documents by path when its settings match
    (`reuse_documents`), the vectors of texts it embedded always."""

    layers: ServedLayers
    reuse_documents: bool

    @property
    def store(self) -> IndexStore | LayeredStore:
        """The served version, as answering reads it."""
        return self.layers.served


def open_served(settings: Settings, identity: IndexIdentity, full: bool,
                progress: Callable[[str], None]) -> ServedVersion | None:
    """The served version, opened for reuse (None for a full build or none usable)."""
    if full or index_store.current_version(settings.index_dir) is None:
        return None
    try:
        return ServedVersion(load_layers(settings.index_dir, identity, exact=True), True)
    except IndexMismatchError as exc:
        progress(f"rebuilding everything: {exc}".split("; run")[0])
        try:
            old = load_layers(settings.index_dir, exact=True)
        except IndexError_:
            return None
        found = old.served.identity
        if (found.model, found.dimension) != (identity.model, identity.dimension):
            return None
        # Same model: every document is parsed and chunked again, but any text embedded
        # before keeps its vector (an upgrade of the chunking re-embeds only what changed).
        progress("reusing the vectors of texts embedded before")
        return ServedVersion(old, False)
    except IndexError_ as exc:
        progress(f"rebuilding everything: the old index is unusable ({exc})")
        return None


@dataclass(frozen=True)
class PlannedDocument:
    """A document of the version being written: parsed now, or `kept` from the served one (its
    entry in `holder`, the version folder that holds it)."""

    doc_id: str
    kept: DocumentEntry | None = None
    holder: IndexStore | None = None


@dataclass
class VersionPlan:
    """What a build writes: a whole version (unchanged documents' rows copied from `copy_from`), or
    an overlay over `base` holding only what changed (documents the base still serves unchanged,
    `left_in_base`, are not written)."""

    copy_from: IndexStore | None
    base: IndexStore | None = None
    left_in_base: set[str] = field(default_factory=set)

    def keep(self, writer: VersionWriter, served: ServedVersion, entry: DocumentEntry,
             planned: list[PlannedDocument]) -> None:
        """An unchanged document: left in the base, copied from `copy_from`, or written again from
        the layer that holds it (its vectors and terms reused)."""
        found = served.layers.layer(entry.doc_id)
        assert found is not None
        layer, local = found
        if layer is self.base:
            self.left_in_base.add(entry.doc_id)
            return
        if layer is self.copy_from:
            writer.copy_document(layer, local)
        else:
            writer.add_document(layer.documents[local.doc_id])
        planned.append(PlannedDocument(local.doc_id, local, layer))

    def overlay(self, stale_terms: bool = False) -> Overlay | None:
        """What the overlay records (None: a whole version); `stale_terms`: the base's passages kept
        terms made before the corpus defined new acronyms (the next build writes whole)."""
        if self.base is None:
            return None
        return overlay_over(self.base, (d for d in self.base.entries if d not in self.left_in_base), stale_terms)


def plan_version(settings: Settings, served: ServedVersion | None, kept: Iterable[str] | None = None,
                 changed: int = 0, overlays: bool = True) -> VersionPlan:
    """Whether this build writes an overlay: the served index is large (settings.overlay_above),
    the build keeps its settings, and what changed (the `kept` documents known, `changed` files to
    read) plus any earlier overlay stays within settings.overlay_share of the base."""
    if served is None:
        return VersionPlan(None)
    layers = served.layers
    base = layers.base
    whole = VersionPlan(base)
    if not overlays or not served.reuse_documents or settings.store or settings.overlay_share <= 0 \
            or base.size <= settings.overlay_above:
        return whole
    layered = layers.layered
    if layered is not None and (layered.drift >= AVERAGE_DRIFT or layered.stale_terms
                                or layers.overlay_rows > settings.overlay_share * base.size):
        return whole
    if kept is not None:
        kept = set(kept)
        staying = {d for d in kept if (found := layers.layer(d)) and found[0] is base}
        replaced = sum(e.end_row - e.first_row for d, e in base.entries.items() if d not in staying)
        copied = sum(e.end_row - e.first_row for d, e in served.store.entries.items()
                     if d in kept and d not in staying)
        if replaced + copied > settings.overlay_share * base.size \
                or changed > settings.overlay_share * len(base.entries):
            return whole
    return VersionPlan(layered.overlay if layered is not None else None, base)


def reused_rows(item: PlannedDocument, copy_from: IndexStore | None, retokenise: bool, acronyms: dict[str, str],
                splitter: GlueSplitter) -> DocumentEntry | QueuedDocument | None:
    """An unchanged document's rows, to copy as they are from `copy_from`, or its chunks and vectors
    read from the version that holds it (terms made again, `retokenise`, when the corpus defines
    new acronyms); None: not kept."""
    if item.kept is None or item.holder is None:
        return None
    entry, old = item.kept, item.holder
    if old is copy_from and not retokenise:
        return entry
    chunks = old.chunks.of_document(entry)
    first, end = entry.first_row, entry.end_row
    terms = [chunk_keyword_terms(c, entry.meta.title, acronyms, splitter) for c in chunks] if retokenise \
        else [list(old.chunk_terms(row)) for row in range(first, end)]
    excerpts = old.excerpt_vectors[int(old.excerpt_starts[first]):int(old.excerpt_starts[end])] \
        if len(old.excerpt_vectors) else None
    return QueuedDocument(item.doc_id, chunks, terms, np.asarray(old.vectors[first:end]),
                          None if excerpts is None else np.asarray(excerpts))
