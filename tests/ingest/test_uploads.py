"""Uploads: type by content, size limit, safe names, never an overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.ingest.documents import discover
from assistant.ingest.uploads import safe_name, save_upload, sniff

from ..conftest import DATA

PDF = (DATA / "pdfs" / "crazyones.pdf").read_bytes()
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.7\n...", "pdf"),
    (b"\xef\xbb\xbfPlain text with a BOM", "text"),
    (b"# A heading\n\nSome <b>markdown</b> with a tag", "text"),
    (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "html"),
    (b"  <!-- saved page -->\n<html lang='en'><p>x</p></html>", "html"),
])
def test_sniff_reads_the_content(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize("data, reason", [(b"", "empty"), (b"  \n ", "empty"), (PNG, "NUL"),
                                          (b"caf\xe9 latin-1", "UTF-8")])
def test_sniff_refuses_what_is_not_a_document(data: bytes, reason: str) -> None:
    with pytest.raises(CorpusError, match=reason):
        sniff(data)


@pytest.mark.parametrize("name, safe", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\Brief 2024 (final).MD", "Brief-2024-final.md"),
    (".hidden.txt", "hidden.txt"),
    ("Résumé – politique.html", "Resume-politique.html"),
    ("<script>.txt", "script.txt"),
    ("???.txt", "document.txt"),
])
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_a_text_file_is_added_and_then_indexable(tmp_path: Path) -> None:
    result = save_upload(tmp_path, "notes.txt", b"Some notes about AI policy.")
    assert result.saved_as == "notes.txt" and "added" in result.message
    files, skipped = discover(tmp_path)
    assert [f.relpath for f in files] == ["notes.txt"] and skipped == []


def test_a_taken_name_gets_a_new_one_never_an_overwrite(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("first version")
    result = save_upload(tmp_path, "notes.txt", b"second version")
    assert result.saved_as == "notes-2.txt" and "notes.txt is taken" in result.message
    assert (tmp_path / "notes.txt").read_text() == "first version"
    # A name that differs only in case or punctuation would give the same document id.
    assert save_upload(tmp_path, "Notes.TXT", b"third version").saved_as == "Notes-3.txt"
    assert save_upload(tmp_path, "notes.md", b"fourth version").saved_as == "notes-4.md"


def test_the_same_bytes_are_not_added_twice(tmp_path: Path) -> None:
    save_upload(tmp_path, "a.txt", b"identical")
    result = save_upload(tmp_path, "b.txt", b"identical")
    assert result.saved_as == "" and "already in the corpus as a.txt" in result.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("name, data, reason", [
    ("fake.pdf", b"just text pretending", "content is plain text but the name says .pdf"),
    ("doc.txt", b"%PDF-1.4 ...", r"content is a PDF but the name says \.txt; rename it to \.pdf"),
    ("page.md", b"<!doctype html><html></html>", "content is an HTML page"),
    ("image.pdf", PNG, "NUL bytes"),
    ("tool.exe", b"MZ\x90\x00", "unsupported file type .exe"),
    ("noext", b"text", r"unsupported file type \(none\)"),
    ("empty.txt", b"", "empty file"),
])
def test_refusals_name_the_file_and_the_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(CorpusError, match=reason) as info:
        save_upload(tmp_path, name, data)
    assert str(info.value).startswith(name)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_size_limit(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="over the 1 MB limit"):
        save_upload(tmp_path, "big.txt", b"x" * 1_000_001, max_bytes=1_000_000)


def test_a_real_pdf_is_accepted(tmp_path: Path) -> None:
    assert save_upload(tmp_path, "paper.PDF", PDF).saved_as == "paper.pdf"
