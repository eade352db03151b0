"""Taking documents out of the corpus: kept in corpus/.removed/, never outside the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.indexing.corpus_status import CorpusChanges
from assistant.ingest import metadata_edit
from assistant.ingest.documents import discover, document_ids, load_metadata
from assistant.ingest.removal import Removed, remove_document
from assistant.pipeline import Assistant, build_index

from ..conftest import REPO, make_settings

DECLARATION = "us-uk-ai-rd-declaration-2020.txt"
DECLARATION_ID = "us-uk-ai-rd-declaration-2020"
ARTICLE = "us-eu-ai-safety-collaboration-article.txt"
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
STAMP = "20250102T030405Z"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones too) and its bytes: what "nothing changed" compares."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_document_ids_are_the_ids_discover_gives(corpus_copy: Path) -> None:
    (corpus_copy / "notes.md").write_text("# Notes\n\nSome notes.\n", encoding="utf-8")
    (corpus_copy / "notes.txt").write_text("Other notes.\n", encoding="utf-8")  # the same slug: both ids change
    (corpus_copy / "image.png").write_bytes(b"\x89PNG")
    files, _ = discover(corpus_copy)
    assert document_ids(corpus_copy) == {f.relpath: f.doc_id for f in files}
    assert document_ids(corpus_copy)["notes.md"] == "notes-md"


def test_removing_by_id_moves_the_file_and_its_metadata(corpus_copy: Path) -> None:
    original = (corpus_copy / DECLARATION).read_bytes()
    entry = load_metadata(corpus_copy)[DECLARATION]
    others = {k: v for k, v in json.loads((corpus_copy / "metadata.json").read_text("utf-8")).items()
              if k != DECLARATION}

    result = remove_document(corpus_copy, DECLARATION_ID, now=WHEN)

    kept = f".removed/{STAMP}-{DECLARATION}"
    assert result == Removed(DECLARATION, kept, f"removed {DECLARATION} (kept as {kept}; move it back to restore it)")
    assert not (corpus_copy / DECLARATION).exists()
    assert (corpus_copy / kept).read_bytes() == original
    assert json.loads((corpus_copy / "metadata.json").read_text("utf-8")) == others
    assert json.loads((corpus_copy / f"{kept}.metadata.json").read_text("utf-8")) == {DECLARATION: entry}
    # The hidden folder is invisible to the corpus: neither a document nor a skipped file.
    files, skipped = discover(corpus_copy)
    assert DECLARATION_ID not in {f.doc_id for f in files} and len(files) == 4
    assert skipped == []


def test_removing_by_path_a_file_that_failed_to_index(corpus_copy: Path) -> None:
    (corpus_copy / "drafts").mkdir()
    (corpus_copy / "drafts" / "broken.pdf").write_bytes(b"%PDF-1.4 not really a PDF")
    metadata_edit.update_entry(corpus_copy, "drafts/broken.pdf", {"title": "Broken"})

    result = remove_document(corpus_copy, "drafts/broken.pdf", now=WHEN)

    assert result.path == "drafts/broken.pdf"
    assert result.kept_as == f".removed/drafts/{STAMP}-broken.pdf"  # sub-folders mirror the corpus's
    assert (corpus_copy / result.kept_as).read_bytes() == b"%PDF-1.4 not really a PDF"
    assert "drafts/broken.pdf" not in load_metadata(corpus_copy)
    # The same name removed again in the same second is kept beside the first, not over it.
    (corpus_copy / "drafts" / "broken.pdf").write_bytes(b"second")
    again = remove_document(corpus_copy, "./drafts/broken.pdf", now=WHEN)
    assert again.kept_as == f".removed/drafts/{STAMP}-2-broken.pdf"
    assert (corpus_copy / result.kept_as).read_bytes() == b"%PDF-1.4 not really a PDF"


@pytest.mark.parametrize("which", ["../outside.txt", "../corpus/" + DECLARATION, "drafts/../../outside.txt",
                                   "ABSOLUTE_INSIDE", "ABSOLUTE_OUTSIDE", "/etc/passwd"])
def test_paths_outside_the_folder_are_refused_and_nothing_changes(corpus_copy: Path, which: str) -> None:
    outside = corpus_copy.parent / "outside.txt"
    outside.write_text("not part of the corpus", encoding="utf-8")
    which = {"ABSOLUTE_INSIDE": str(corpus_copy / DECLARATION), "ABSOLUTE_OUTSIDE": str(outside)}.get(which, which)
    before = tree(corpus_copy.parent)

    with pytest.raises(CorpusError, match="refused") as caught:
        remove_document(corpus_copy, which)

    assert "\n" not in str(caught.value)
    assert tree(corpus_copy.parent) == before
    assert not (corpus_copy / ".removed").exists()


def test_links_that_lead_outside_the_folder_are_refused(corpus_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("outside the corpus", encoding="utf-8")
    (corpus_copy / "link.txt").symlink_to(elsewhere / "secret.txt")
    (corpus_copy / "shared").symlink_to(elsewhere, target_is_directory=True)
    before = tree(tmp_path)

    for which in ("link.txt", "link"):  # the link's path, its document id
        with pytest.raises(CorpusError, match="link to a file outside the corpus folder"):
            remove_document(corpus_copy, which)
    # Discovery does not follow a folder link (so nothing under it is a document); were it
    # to, the resolved path would still be refused.
    with pytest.raises(CorpusError):
        remove_document(corpus_copy, "shared/secret.txt")
    assert tree(tmp_path) == before
    assert (elsewhere / "secret.txt").read_text(encoding="utf-8") == "outside the corpus"


def test_a_removed_folder_that_is_a_link_is_refused(corpus_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (corpus_copy / ".removed").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(CorpusError, match="not a folder"):
        remove_document(corpus_copy, DECLARATION_ID)

    assert (corpus_copy / DECLARATION).is_file() and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("which", ["no-such-document", "metadata.json", ".removed", "", "  "])
def test_unknown_names_are_refused_with_where_to_find_ids(corpus_copy: Path, which: str) -> None:
    before = tree(corpus_copy)

    with pytest.raises(CorpusError) as caught:
        remove_document(corpus_copy, which)

    message = str(caught.value)
    assert "\n" not in message and "doc_id" in message and "Documents tab" in message
    assert tree(corpus_copy) == before


def test_a_failed_metadata_write_puts_the_file_back(corpus_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree(corpus_copy)

    def full_disk(path: Path, data: bytes) -> None:
        if path.name == "metadata.json":
            raise OSError(28, "No space left on device")
        path.write_bytes(data)

    monkeypatch.setattr(metadata_edit, "write_atomically", full_disk)
    with pytest.raises(CorpusError, match=r"not removed: .*No space left on device"):
        remove_document(corpus_copy, DECLARATION_ID, now=WHEN)

    assert tree(corpus_copy) == before  # the file is back, the metadata as it was, nothing kept


@pytest.mark.slow
def test_after_removing_and_building_the_index_no_longer_holds_it(corpus_copy: Path, tmp_path: Path,
                                                                  embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    remove_document(corpus_copy, DECLARATION_ID)
    assert Assistant(settings, embedder).corpus_changes() == CorpusChanges(removed=(DECLARATION,))

    report = build_index(settings, embedder=embedder)

    assert report.removed == (DECLARATION,) and report.added == () and report.failed == ()
    assistant = Assistant(settings, embedder)
    assert DECLARATION_ID not in assistant.store.documents
    assert len(assistant.store.documents) == 4
    assert not assistant.corpus_changes()  # the kept file in .removed/ is no new document
    signed = assistant.ask("Which UK ministers signed the US-UK AI declaration?")
    assert all(c.doc_id != DECLARATION_ID for c in signed.citations + signed.closest)
    answer = assistant.ask("What does the OECD AI Policy Observatory bring together?")
    assert not answer.abstained and answer.citations


@pytest.mark.slow
def test_cli_removes_each_and_reports_errors(corpus_copy: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "remove", DECLARATION_ID, "../outside.txt", ARTICLE, "--no-index",
         "--corpus", str(corpus_copy), "--index", str(tmp_path / "index"), "-q"],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"})

    assert result.returncode == 1  # one of the three failed
    out = result.stdout.splitlines()
    assert [line.split(" (kept as")[0] for line in out] == [f"removed {DECLARATION}", f"removed {ARTICLE}"]
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ../outside.txt: refused")
    assert sorted(p.name.split("-", 1)[1] for p in (corpus_copy / ".removed").iterdir()
                  if not p.name.endswith(".metadata.json")) == sorted([ARTICLE, DECLARATION])
    assert not (tmp_path / "index").exists()  # --no-index: no build
