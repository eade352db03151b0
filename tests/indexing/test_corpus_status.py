"""What changed in the corpus folder since the build: added, changed (bytes or metadata), removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assistant.indexing.corpus_status import CorpusChanges, IndexedFile, compare
from assistant.ingest.documents import SourceFile
from assistant.pipeline import Assistant, build_index

from ..conftest import make_settings


def source(relpath: str, sha: str, meta: dict[str, str] | None = None) -> SourceFile:
    return SourceFile(Path(relpath), relpath, relpath.split(".")[0], sha, meta or {})


def test_compare_sees_added_changed_and_removed() -> None:
    indexed = {"a.txt": IndexedFile("1", {}), "b.txt": IndexedFile("2", {}), "c.txt": IndexedFile("3", {"title": "C"}),
               "gone.txt": IndexedFile("4", {})}
    files = [source("a.txt", "1"), source("b.txt", "changed"), source("c.txt", "3", {"title": "New title"}),
             source("new.md", "5"), source("bad.pdf", "6"), source("bad2.pdf", "7")]
    changes = compare(files, indexed, failed={"bad.pdf", "bad2.pdf"}, built_at=100.0,
                      modified={"bad.pdf": 50.0, "bad2.pdf": 150.0})
    assert changes == CorpusChanges(added=("new.md",), changed=("b.txt", "bad2.pdf", "c.txt"), removed=("gone.txt",))
    assert changes.describe() == "1 added (new.md), 3 changed (b.txt, bad2.pdf, c.txt), 1 removed (gone.txt)"


def test_nothing_changed_is_falsy() -> None:
    assert not compare([source("a.txt", "1")], {"a.txt": IndexedFile("1", {})}, set(), 0.0, {})
    assert CorpusChanges().describe() == "no changes"


@pytest.mark.slow
def test_assistant_reports_changes_on_disk(corpus_copy: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_copy, tmp_path / "index")
    build_index(settings, embedder=embedder)
    assistant = Assistant(settings, embedder)
    assert not assistant.corpus_changes()

    (corpus_copy / "new-note.md").write_text("# New\n\nA new note about AI cooperation.\n", encoding="utf-8")
    with (corpus_copy / "us-international-ai-cooperation.txt").open("a", encoding="utf-8") as handle:
        handle.write("\nOne more sentence.\n")
    os.remove(corpus_copy / "eu-international-alliance-human-centric-ai-project.txt")
    metadata = json.loads((corpus_copy / "metadata.json").read_text(encoding="utf-8"))
    metadata["us-uk-ai-rd-declaration-2020.txt"]["date"] = "2020-09-26"
    (corpus_copy / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")

    changes = assistant.corpus_changes()
    assert changes.added == ("new-note.md",)
    assert changes.changed == ("us-international-ai-cooperation.txt", "us-uk-ai-rd-declaration-2020.txt")
    assert changes.removed == ("eu-international-alliance-human-centric-ai-project.txt",)

    build_index(settings, embedder=embedder)
    assert assistant.reload_if_changed()
    assert not assistant.corpus_changes()
    summary = assistant.summary()
    assert "new-note.md" in [d.path for d in summary.documents]
    assert summary.chunks == sum(d.chunks for d in summary.documents) and summary.build_seconds > 0
