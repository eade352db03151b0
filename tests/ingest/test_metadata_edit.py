"""Editing one entry of corpus/metadata.json (the web chat's details form)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.ingest.documents import META_FIELDS, discover, load_metadata
from assistant.ingest.metadata_edit import EDITABLE_FIELDS, check_date, read_entry, update_entry

DECLARATION = "us-uk-ai-rd-declaration-2020.txt"
ARTICLE = "us-eu-ai-safety-collaboration-article.txt"


def raw(corpus: Path) -> dict[str, dict[str, str]]:
    return json.loads((corpus / "metadata.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_fields_are_set_stripped_and_empties_removed(corpus_copy: Path) -> None:
    before = raw(corpus_copy)
    entry = update_entry(corpus_copy, ARTICLE, {"author": "  Jane  Doe ", "date": " 2023-05 ", "publisher": "",
                                                "url": "https://example.org/a"})
    after = raw(corpus_copy)
    assert after[ARTICLE] == entry == {
        "title": before[ARTICLE]["title"], "author": "Jane Doe", "type": "news article",
        "notes": before[ARTICLE]["notes"], "date": "2023-05", "url": "https://example.org/a"}
    # Every other entry is exactly as it was, in the same order.
    assert list(after) == list(before)
    assert {k: v for k, v in after.items() if k != ARTICLE} == {k: v for k, v in before.items() if k != ARTICLE}
    # The documents read it back as written.
    files, _ = discover(corpus_copy)
    assert next(f for f in files if f.relpath == ARTICLE).meta["author"] == "Jane Doe"


def test_an_emptied_field_is_removed_and_an_empty_entry_goes(corpus_copy: Path) -> None:
    update_entry(corpus_copy, ARTICLE, {"author": ""})
    assert "author" not in raw(corpus_copy)[ARTICLE]
    update_entry(corpus_copy, ARTICLE, {name: "" for name in EDITABLE_FIELDS})
    assert ARTICLE not in raw(corpus_copy)


def test_the_file_is_written_readably_and_atomically(corpus_copy: Path) -> None:
    update_entry(corpus_copy, DECLARATION, {"title": "Déclaration — “AI”"})
    text = (corpus_copy / "metadata.json").read_text(encoding="utf-8")
    assert "Déclaration — “AI”" in text and text.startswith('{\n  "')  # ensure_ascii=False, indent=2
    assert sorted(p.name for p in corpus_copy.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_a_document_without_an_entry_gets_one(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Some notes.", encoding="utf-8")
    assert read_entry(tmp_path, "notes.txt") == {}
    assert update_entry(tmp_path, "notes.txt", {"title": "My notes", "date": "2024"}) == \
        {"title": "My notes", "date": "2024"}
    assert load_metadata(tmp_path) == {"notes.txt": {"title": "My notes", "date": "2024"}}


@pytest.mark.parametrize("value", ["2020", "2020-09", "2020-09-25", "2024-02-29"])
def test_good_dates(value: str) -> None:
    assert check_date(value) == value


@pytest.mark.parametrize("value", ["25/09/2020", "September 2020", "2020-9-25", "2020-13", "2023-02-29",
                                   "20200925", "2020-09-25T10:00", "0000"])
def test_bad_dates_are_refused_and_nothing_is_written(corpus_copy: Path, value: str) -> None:
    before = (corpus_copy / "metadata.json").read_bytes()
    with pytest.raises(CorpusError, match="YYYY, YYYY-MM or YYYY-MM-DD"):
        update_entry(corpus_copy, DECLARATION, {"author": "Someone", "date": value})
    assert (corpus_copy / "metadata.json").read_bytes() == before


@pytest.mark.parametrize("field, reason", [("colour", "unknown field"), ("password", "cannot be changed from here")])
def test_unknown_and_protected_fields_are_refused(corpus_copy: Path, field: str, reason: str) -> None:
    before = (corpus_copy / "metadata.json").read_bytes()
    with pytest.raises(CorpusError, match=reason):
        update_entry(corpus_copy, DECLARATION, {field: "x"})
    assert (corpus_copy / "metadata.json").read_bytes() == before


def test_the_password_is_kept_and_never_shown(corpus_copy: Path) -> None:
    data = raw(corpus_copy)
    data[DECLARATION]["password"] = "s3cret"
    (corpus_copy / "metadata.json").write_text(json.dumps(data), encoding="utf-8")
    assert "password" not in read_entry(corpus_copy, DECLARATION)
    assert "password" not in update_entry(corpus_copy, DECLARATION, {"author": "New author"})
    assert raw(corpus_copy)[DECLARATION]["password"] == "s3cret"
    assert "password" in META_FIELDS and "password" not in EDITABLE_FIELDS


@pytest.mark.parametrize("content", ['{"a.txt": {"title": "x",}', '["not", "an", "object"]',
                                     '{"a.txt": {"colour": "red"}}', "\udcff"])
def test_an_unusable_metadata_file_is_reported_and_never_overwritten(corpus_copy: Path, content: str) -> None:
    path = corpus_copy / "metadata.json"
    data = content.encode("utf-8", "surrogateescape")
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=r"metadata\.json"):
        update_entry(corpus_copy, DECLARATION, {"author": "Someone"})
    assert path.read_bytes() == data


@pytest.mark.parametrize("relpath", ["missing.txt", "metadata.json", "../corpus/us-uk-ai-rd-declaration-2020.txt"])
def test_only_documents_in_the_corpus_can_be_described(corpus_copy: Path, relpath: str) -> None:
    with pytest.raises(CorpusError, match="no such document"):
        update_entry(corpus_copy, relpath, {"author": "Someone"})
