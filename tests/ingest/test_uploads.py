"""Uploads: type by content, size limit, safe names, never an overwrite; each file read as a
build reads it, so that what every rebuild would fail on, or what is too long, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.ingest.documents import discover
from assistant.ingest.uploads import (
    MAX_UPLOAD_CHARS,
    MAX_UPLOAD_PASSAGES,
    estimated_passages,
    safe_name,
    save_upload,
    sniff,
)

from ..conftest import DATA, SHARED

PDF = (DATA / "pdfs" / "crazyones.pdf").read_bytes()
SCAN = DATA / "pdfs" / "007-imagemagick-images_imagemagick-lzw.pdf"  # one image, no text layer
ENCRYPTED = DATA / "pdfs" / "crazyones-encrypted-256.pdf"
POLICY_PDF = SHARED / "testdata" / "pdfs" / "policy" / "NIST.AI.100-1.pdf"
EXTRA = SHARED / "corpus-extra"
NOTE = b"Some notes about AI policy, long enough to be a passage of their own."
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
    ("Déclaration franco\u2011allemande \u2013 IA.pdf", "Declaration-franco-allemande-IA.pdf"),
    ("Rapport\u00a0annuel\u2003 2024.pdf", "Rapport-annuel-2024.pdf"),  # no-break and em spaces
    ("Stratégie—numérique.md", "Strategie-numerique.md"),  # an em dash
    ("\ufb01nal \uff32\uff45\uff50\uff4f\uff52\uff54.txt", "final-Report.txt"),  # a ligature, full-width letters
    ("人工智能 2024 报告.pdf", "2024.pdf"),  # no ASCII form: a word break
])
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_a_text_file_is_added_and_then_indexable(tmp_path: Path) -> None:
    result = save_upload(tmp_path, "notes.txt", NOTE)
    assert result.saved_as == "notes.txt" and "added" in result.message
    files, skipped = discover(tmp_path)
    assert [f.relpath for f in files] == ["notes.txt"] and skipped == []


def test_a_taken_name_gets_a_new_one_never_an_overwrite(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("The first version of the notes.")
    result = save_upload(tmp_path, "notes.txt", b"The second version of the notes.")
    assert result.saved_as == "notes-2.txt" and "notes.txt is taken" in result.message
    assert (tmp_path / "notes.txt").read_text() == "The first version of the notes."
    # A name that differs only in case or punctuation would give the same document id.
    assert save_upload(tmp_path, "Notes.TXT", b"The third version of the notes.").saved_as == "Notes-3.txt"
    assert save_upload(tmp_path, "notes.md", b"The fourth version of the notes.").saved_as == "notes-4.md"


def test_the_same_bytes_are_not_added_twice(tmp_path: Path) -> None:
    save_upload(tmp_path, "a.txt", NOTE)
    result = save_upload(tmp_path, "b.txt", NOTE)
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
    ("menu.txt", b"Home", "no passages left after removing navigation"),  # what every build would say
    ("half.pdf", PDF[:len(PDF) // 2], r"unreadable PDF \(PdfStreamError: Stream has ended unexpectedly\)"),
    ("secret.pdf", ENCRYPTED.read_bytes(), "encrypted PDF that needs a password"),
])
def test_refusals_name_the_file_and_the_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(CorpusError, match=reason) as info:
        save_upload(tmp_path, name, data)
    assert str(info.value).startswith(name)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_size_limit_in_megabytes_of_2_to_the_20_bytes(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"^big\.txt: 1\.1 MB is over the 1 MB limit$"):
        save_upload(tmp_path, "big.txt", b"x" * (2**20 + 1), max_bytes=2**20)
    # 21,000,000 bytes are 20.03 MB of 2**20 bytes: shown rounded up, never as the limit itself.
    with pytest.raises(CorpusError, match=r"^big\.pdf: 20\.1 MB is over the 20 MB limit$"):
        save_upload(tmp_path, "big.pdf", b"%PDF-1.7\n" + bytes(21_000_000 - 9))
    assert save_upload(tmp_path, "edge.txt", NOTE, max_bytes=len(NOTE)).saved_as == "edge.txt"


def test_a_real_pdf_is_accepted(tmp_path: Path) -> None:
    assert save_upload(tmp_path, "paper.PDF", PDF).saved_as == "paper.pdf"


def test_a_pdf_without_a_text_layer_is_accepted_for_ocr_at_build_time(tmp_path: Path) -> None:
    assert save_upload(tmp_path, "scan.pdf", SCAN.read_bytes()).saved_as == "scan.pdf"


@pytest.mark.skipif(not POLICY_PDF.exists(), reason=f"{POLICY_PDF} not found")
def test_the_first_half_of_a_real_policy_pdf_is_refused_with_the_readers_reason(tmp_path: Path) -> None:
    data = POLICY_PDF.read_bytes()
    with pytest.raises(CorpusError) as info:
        save_upload(tmp_path, "NIST.AI.100-1.pdf", data[:len(data) // 2])
    assert str(info.value) == ("NIST.AI.100-1.pdf: unreadable PDF "
                               "(PdfStreamError: Stream has ended unexpectedly)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not EXTRA.exists(), reason=f"{EXTRA} not found")
def test_the_longest_real_documents_pass_the_text_and_passage_limits(tmp_path: Path) -> None:
    for name in ("ep_ai_act_amendments_2023-06-14.html", "eu_ai_act_2024_1689_articles.txt"):
        assert save_upload(tmp_path, name, (EXTRA / name).read_bytes()).saved_as == name
    files, _ = discover(tmp_path)
    from assistant.ingest.documents import load_document

    page = load_document(next(f for f in files if f.relpath.endswith(".html")))
    assert len(page.text) > 500_000 and estimated_passages(page) < MAX_UPLOAD_PASSAGES / 4


@pytest.mark.skipif(not EXTRA.exists(), reason=f"{EXTRA} not found")
def test_a_text_over_the_character_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    law = (EXTRA / "eu_ai_act_2024_1689_articles.txt").read_bytes()  # 288,918 characters
    data = b"\n\n".join([law] * 6)
    with pytest.raises(CorpusError) as info:
        save_upload(tmp_path, "six-acts.txt", data)
    chars = len(data.decode("utf-8"))
    assert str(info.value) == (f"six-acts.txt: {chars:,} characters of text, over the {MAX_UPLOAD_CHARS:,} "
                               "one document may hold; split it into parts")
    assert list(tmp_path.iterdir()) == []


def test_an_html_text_over_the_character_limit_is_refused_once_read(tmp_path: Path) -> None:
    paragraph = "<p>" + "The partners agree to share evaluation methods for frontier models. " * 10 + "</p>\n"
    page = f"<html><head><title>Long</title></head><body><article>{paragraph * 2_300}</article></body></html>"
    with pytest.raises(CorpusError, match=r"^long\.html: 1,[0-9,]+ characters of text, over the 1,500,000 "):
        save_upload(tmp_path, "long.html", page.encode("utf-8"))


def test_passages_are_estimated_per_paragraph_without_the_model(tmp_path: Path) -> None:
    from assistant.ingest.documents import load_document

    long_paragraph = "The operator shall keep records of every evaluation it runs. " * 25  # 1,525 characters
    (tmp_path / "rules.md").write_text(f"# Duties\n\n{long_paragraph}\n\nShort one.\n\nAnother short one.\n")
    files, _ = discover(tmp_path)
    assert estimated_passages(load_document(files[0])) == 3 + 1 + 1  # 1,525 / 600 -> 3, then 1 each


def test_a_file_of_too_many_passages_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit made small: a real file of 10,000 separate paragraphs takes long to segment.
    monkeypatch.setattr("assistant.ingest.uploads.MAX_UPLOAD_PASSAGES", 40)
    duty = "Duty {i}\n\nThe operator shall keep record {i} of its evaluations for ten years.\n\n"
    sections = "".join(duty.format(i=i) for i in range(41))
    with pytest.raises(CorpusError, match=r"^rules\.md: about 41 passages, over the 40 one document may add; "):
        save_upload(tmp_path, "rules.md", sections.encode("utf-8"))
    assert list(tmp_path.iterdir()) == []
