"""The versions of an index folder: which one is served, opening it, publishing a new one,
and removing those no reader can still be using.

    CURRENT          name of the version folder being served (replaced atomically)
    v-<time>-<id>/   one version (its files: records.py; manifest.json is written last)
    .tmp-<id>/       a build in progress (removed by the next build)
    .build.lock      held while a build runs

A build writes a whole new version folder, then swaps CURRENT, so a build that fails or is
killed at any moment leaves the previous version serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...atomic import write_atomically
from ...errors import IndexError_, IndexMismatchError
from .reader import IndexStore
from .records import CURRENT_FILE, FORMAT_VERSION, MANIFEST_FILE, IndexIdentity


def current_version(index_dir: Path) -> Path | None:
    """The version folder CURRENT names (None: nothing built yet, or the folder is gone)."""
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = index_dir / name
    return path if name and path.is_dir() else None


def load(index_dir: Path, expected: IndexIdentity | None = None, exact: bool = False,
         probe: int = 0) -> IndexStore:
    """Open the version CURRENT names (a whole version; layered.load opens overlays too); refuse
    one built with other settings.

    `exact` searches every vector even where the build wrote an approximate index; `probe`
    overrides how many of its lists a query reads.
    """
    version = current_version(index_dir)
    if version is None:
        raise IndexError_(f"{index_dir}: no index built yet; run `assistant index`")
    return open_version(version, expected, exact, probe)


def read_manifest(version: Path, expected: IndexIdentity | None = None,
                  formats: tuple[int, ...] = (FORMAT_VERSION,)) -> dict[str, Any]:
    """A version's manifest; IndexMismatchError when its format or identity is not the one wanted."""
    try:
        manifest: dict[str, Any] = json.loads((version / MANIFEST_FILE).read_text(encoding="utf-8"))
        found = IndexIdentity(**manifest["identity"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexError_(f"{version}: index files are unreadable ({exc}); "
                          "run `assistant index --full`") from exc
    if manifest.get("format") not in formats:
        raise IndexMismatchError(f"{version}: index format {manifest.get('format')} is not "
                                 f"{' or '.join(map(str, formats))}; run `assistant index --full`")
    if expected is not None and found != expected:
        raise IndexMismatchError(
            f"{version.parent}: the index was built with {found.describe()}, but the settings ask "
            f"for {expected.describe()}; run `assistant index --full` to rebuild it")
    return manifest


def open_version(version: Path, expected: IndexIdentity | None = None, exact: bool = False, probe: int = 0,
                 manifest: dict[str, Any] | None = None) -> IndexStore:
    """Open one version folder's own files (an overlay's without its base)."""
    manifest = read_manifest(version, expected) if manifest is None else manifest
    try:
        store = IndexStore(version, manifest, exact=exact, probe=probe)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, sqlite3.Error) as exc:
        raise IndexError_(f"{version}: index files are unreadable ({exc}); "
                          "run `assistant index --full`") from exc
    if len(store.excerpt_starts) != store.size + 1 or len(store.chunk_docs) != store.size:
        raise IndexError_(f"{version}: the chunk tables do not match the manifest; run `assistant index --full`")
    return store


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder (a second one fails at once)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexError_(f"{index_dir}: another build is running; wait for it to finish") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(index_dir: Path, folder: Path) -> Path:
    """Make a finished build folder (its files synced, its manifest written last) the served
    version: renamed to a version name, then CURRENT swapped to it and the index folder synced,
    so that after a crash CURRENT names either the old version or the new one, complete."""
    version = index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    os.rename(folder, version)
    write_atomically(index_dir / CURRENT_FILE, f"{version.name}\n".encode(), sync_folder=True)
    remove_old_versions(index_dir, keep={version.name})
    return version


def remove_abandoned_builds(index_dir: Path) -> None:
    """The folders and CURRENT files left by builds that were killed before they finished."""
    for path in index_dir.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT_FILE}.*"):
        path.unlink(missing_ok=True)


def remove_old_versions(index_dir: Path, keep: set[str], keep_previous: int = 1) -> None:
    """Keep the new version and the one before it (a reader may still be using it), and the base
    versions either is layered over."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=finished_at)
    older = [p for p in versions if p.name not in keep]
    kept = {p.name for p in versions} - {p.name for p in older[: max(0, len(older) - keep_previous)]}
    kept |= {base for name in kept if (base := base_of(index_dir / name))}
    for path in versions:
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)


def finished_at(version: Path) -> tuple[float, str]:
    """When a version was finished (its manifest is written last): names alone do not order two
    builds made within the same second."""
    try:
        return (version / MANIFEST_FILE).stat().st_mtime, version.name
    except OSError:
        return 0.0, version.name


def base_of(version: Path) -> str | None:
    """The version an overlay version is layered over (None: a whole version, or unreadable)."""
    try:
        manifest = json.loads((version / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    overlay = manifest.get("overlay")
    return str(overlay["base"]) if isinstance(overlay, dict) and overlay.get("base") else None
