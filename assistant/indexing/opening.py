"""Which backend serves the index (Settings.store), and opening, following and publishing it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..config import Settings
from . import store as index_store
from .archive import ArchivedVersions, ArchiveFolder
from .layered import load as load_served
from .milvus.location import parse_location
from .passage_store import PassageStore
from .store import IndexIdentity


def open_store(settings: Settings, expected: IndexIdentity | None = None) -> PassageStore:
    """The served version: the embedded index in settings.index_dir, or the Milvus one settings.store names."""
    location = parse_location(settings.store)
    if location is None:
        return load_served(settings.index_dir, expected, exact=settings.vector_index == "flat",
                           probe=settings.ivf_probe)
    from .milvus.reader import open_milvus

    return open_milvus(location, expected)


def served_version(settings: Settings, opened: PassageStore | None = None) -> str | None:
    """The name of the version being served now (None: nothing built or published yet); asked
    through `opened`'s connection when it is a Milvus store."""
    location = parse_location(settings.store)
    if location is None:
        version = index_store.current_version(settings.index_dir)
        return version.name if version else None
    from .milvus.publish import served_collection
    from .milvus.reader import MilvusStore
    from .milvus.reader import served_version as milvus_version

    if isinstance(opened, MilvusStore):
        return served_collection(opened.client, location.collection)
    return milvus_version(location)


def finished_at(settings: Settings, opened: PassageStore) -> float:
    """When the opened version was finished, in seconds since the epoch: the time its manifest was
    written in the index folder, or what a Milvus manifest records (built at + build seconds)."""
    if parse_location(settings.store) is None:
        return (settings.index_dir / opened.version / "manifest.json").stat().st_mtime
    return datetime.fromisoformat(str(opened.manifest["built_at"])).timestamp() + \
        float(opened.manifest.get("build_seconds", 0.0))


def where_served(settings: Settings) -> str:
    """The index's place, as messages name it."""
    return settings.store or str(settings.index_dir)


def publish_if_asked(settings: Settings, progress: Callable[[str], None], full: bool = False) -> None:
    """After a build: publish the version just staged in settings.index_dir to settings.store
    (`full`: every collection written anew, not only the documents that changed)."""
    location = parse_location(settings.store)
    if location is None:
        return
    from .milvus.publish import publish

    staged = index_store.load(settings.index_dir)
    try:
        large = staged.size > settings.ann_above and settings.vector_index != "flat"
        publish(staged, location, progress, dense_index="HNSW" if large else "FLAT",
                kept=ArchiveFolder(settings.index_dir), full=full)
    finally:
        staged.close()


def archive_for(settings: Settings, opened: PassageStore) -> ArchivedVersions:
    """Where earlier document versions are kept for the served index: its folder's archive, or
    the one published beside the Milvus index."""
    location = parse_location(settings.store)
    if location is None:
        return ArchiveFolder(settings.index_dir)
    from .milvus.archive import MilvusArchive
    from .milvus.reader import MilvusStore

    if isinstance(opened, MilvusStore):
        return MilvusArchive(opened.client, location.collection)
    return ArchiveFolder(settings.index_dir)
