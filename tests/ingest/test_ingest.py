"""Ingestion of bad input and real PDFs: each bad file is reported by name with a reason.

pytest runs with warnings as errors, so every test here also checks that nothing pypdf
does on these files escapes as a warning.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.indexing import store as index_store
from assistant.ingest.documents import SourceFile, discover, load_document
from assistant.ingest.htmltext import html_to_text
from assistant.pipeline import build_index, identity_for
from assistant.types import Document, FileFailure

from ..conftest import DATA, REPO, SHARED, make_settings

PDFS = DATA / "pdfs"
TEXT_PDF = PDFS / "crazyones.pdf"
ENCRYPTED_PDF = PDFS / "crazyones-encrypted-256.pdf"  # AES-256, user password "password"
IMAGE_PDF = PDFS / "007-imagemagick-images_imagemagick-lzw.pdf"
BROKEN_PDF = PDFS / "simple1.pdf"
LABEL_PDF = PDFS / "007-imagemagick-images_imagemagick-images.pdf"  # "Background" on 4 of 6 pages
SHARED_PDFS = SHARED / "testdata" / "pdfs"

GOOD_TEXT = ("Export controls\n\nThe agreement sets out how the two governments share research "
             "on the safety of advanced models, and who signs it on their behalf.\n")


def make_corpus(root: Path, files: dict[str, bytes | Path],
                metadata: dict[str, dict[str, str]] | None = None) -> Path:
    """A corpus folder holding files (bytes, or a path to copy) and an optional metadata.json."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)
    if metadata is not None:
        (root / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return root


def source(corpus: Path, rel: str) -> SourceFile:
    files, _skipped = discover(corpus)
    return next(f for f in files if f.relpath == rel)


def load_one(tmp_path: Path, rel: str, content: bytes | Path,
             metadata: dict[str, dict[str, str]] | None = None) -> Document:
    corpus = make_corpus(tmp_path / "corpus", {rel: content}, metadata)
    return load_document(source(corpus, rel))


def corpus_error(tmp_path: Path, rel: str, content: bytes | Path,
                 metadata: dict[str, dict[str, str]] | None = None) -> str:
    with pytest.raises(CorpusError) as caught:
        load_one(tmp_path, rel, content, metadata)
    message = str(caught.value)
    assert message.startswith(f"{rel}: "), message  # names the file first
    return message


def broken_content_stream() -> bytes:
    """crazyones.pdf with the second half of its page's content stream blanked out.

    The file still opens (the xref offsets are unchanged) but its only page fails to parse.
    """
    data = TEXT_PDF.read_bytes()
    header = b"7 0 obj\n<</Filter/FlateDecode/Length 856>>\nstream\n"
    start = data.index(header) + len(header)
    return data[:start + 400] + b" " * 456 + data[start + 856:]


def by_name(cases: list[tuple[str, bytes, str]]) -> list[object]:
    """Parameters whose test id is the file name."""
    return [pytest.param(*case, id=case[0]) for case in cases]


# --- text files ----------------------------------------------------------------------------

@pytest.mark.parametrize(("rel", "content", "reason"), by_name([
    ("empty.txt", b"", "empty file"),
    ("blank.md", b"  \n\t\n\r\n", "empty file"),
    ("binary.txt", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4, "binary file"),
    ("latin1.txt", "Le comité a adopté la résolution.".encode("latin-1"), "not UTF-8 text"),
    ("latin1.html", "<p>Données personnelles</p>".encode("latin-1"), "not UTF-8 text"),
    ("scripts-only.html", b"<html><script>var x = 1;</script><style>p {}</style></html>", "no text"),
    ("nav-only.md", b"[Home](/) > [News](/news)\n\n[Back to top](#)\n", "no passages left"),
]))
def test_bad_text_file_is_reported_by_name_with_reason(tmp_path: Path, rel: str, content: bytes,
                                                       reason: str) -> None:
    assert reason in corpus_error(tmp_path, rel, content)


def test_non_utf8_message_says_where_and_what_to_do(tmp_path: Path) -> None:
    message = corpus_error(tmp_path, "notes.txt", "Café".encode("latin-1"))
    assert message == ("notes.txt: not UTF-8 text (invalid byte 0xe9 at offset 3); "
                       "re-save the file as UTF-8")


def test_utf8_text_with_bom_loads(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "bom.txt", b"\xef\xbb\xbf" + GOOD_TEXT.encode("utf-8"))
    assert doc.text == GOOD_TEXT
    assert doc.kind == "text"


def test_html_drops_scripts_styles_and_navigation(tmp_path: Path) -> None:
    page = b"""<!doctype html><html><head><title>Safety report</title>
<style>body { color: red; } .secret-style {}</style>
<script>var trackingCode = "secret-script";</script></head>
<body><nav><a href="/">Home</a> <a href="/about">About us</a> secret-nav</nav>
<header>secret-header</header>
<main><h1>Safety report</h1>
<p>The institute tested the model against the agreed evaluation suite.</p>
<script>document.write("secret-inline-script")</script>
<p>Results were shared with both governments before release.</p></main>
<footer>secret-footer</footer></body></html>"""
    title, text = html_to_text(page.decode("utf-8"))
    assert title == "Safety report"
    assert "The institute tested the model against the agreed evaluation suite." in text
    assert "Results were shared with both governments before release." in text
    for hidden in ("secret", "trackingCode", "color: red", "About us", "Home"):
        assert hidden not in text

    doc = load_one(tmp_path, "report.html", page)
    assert doc.kind == "html"
    assert doc.meta.title == "Safety report"
    assert "secret" not in doc.text
    assert "evaluation suite" in doc.text


def test_a_section_label_is_not_taken_for_the_title(tmp_path: Path) -> None:
    text = b"CHAPTER I\n\nGENERAL PROVISIONS\n\nArticle 1\n\nSubject matter\n\nThis Regulation lays down rules.\n"
    assert load_one(tmp_path, "eu_ai_act_articles.txt", text).meta.title == "eu ai act articles"
    text = b"# Safety of AI systems\n\nThis report looks at how systems are tested.\n"
    assert load_one(tmp_path, "report.md", text).meta.title == "Safety of AI systems"


# --- small PDFs shipped in tests/data --------------------------------------------------------

def test_text_pdf_loads_page_by_page(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "crazyones.pdf", TEXT_PDF)
    assert doc.kind == "pdf"
    assert doc.path == "crazyones.pdf"
    assert "crazy ones" in doc.text
    assert [p.number for p in doc.pages] == [1]
    assert doc.pages[0].start == 0 and doc.pages[0].end == len(doc.text)
    assert any(b.role == "body" for b in doc.blocks)


def test_encrypted_pdf_without_password_asks_for_one(tmp_path: Path) -> None:
    message = corpus_error(tmp_path, "secret.pdf", ENCRYPTED_PDF)
    assert message == ('secret.pdf: encrypted PDF that needs a password; '
                       'add "password" to its entry in metadata.json')


def test_encrypted_pdf_opens_with_password_from_metadata(tmp_path: Path) -> None:
    doc = load_one(tmp_path, "papers/secret.pdf", ENCRYPTED_PDF,
                   {"papers/secret.pdf": {"password": "password", "title": "The Crazy Ones"}})
    plain = load_one(tmp_path / "plain", "crazyones.pdf", TEXT_PDF)
    assert doc.text == plain.text
    assert doc.meta.title == "The Crazy Ones"


def test_encrypted_pdf_with_wrong_password_says_so(tmp_path: Path) -> None:
    message = corpus_error(tmp_path, "secret.pdf", ENCRYPTED_PDF, {"secret.pdf": {"password": "nope"}})
    assert message == "secret.pdf: encrypted PDF; the password in metadata.json does not open it"


def test_image_only_pdf_has_no_extractable_text(tmp_path: Path) -> None:
    message = corpus_error(tmp_path, "scan.pdf", IMAGE_PDF)
    assert message == ("scan.pdf: no extractable text (image-only or scanned PDF, 1 page(s); "
                       "OCR found no text on them either)")


def test_broken_pdf_gives_the_parser_reason(tmp_path: Path) -> None:
    message = corpus_error(tmp_path, "broken.pdf", BROKEN_PDF)
    assert message == "broken.pdf: unreadable PDF (PdfReadError: startxref not found)"


@pytest.mark.parametrize(("rel", "content", "reason"), by_name([
    ("empty.pdf", b"", "empty file"),
    ("text-named.pdf", GOOD_TEXT.encode("utf-8"), "unreadable PDF (PdfStreamError: "),
    ("truncated.pdf", TEXT_PDF.read_bytes()[:5000], "unreadable PDF ("),
    ("header-only.pdf", b"%PDF-1.7\n%%EOF\n", "unreadable PDF ("),
]))
def test_corrupt_pdf_is_reported_not_raised(tmp_path: Path, rel: str, content: bytes, reason: str) -> None:
    assert reason in corpus_error(tmp_path, rel, content)


def test_pdf_whose_pages_fail_to_parse_is_broken_not_scanned(tmp_path: Path) -> None:
    # Regression: a page that raised was counted as a page without text, so a corrupt
    # file was reported as "image-only or scanned".
    message = corpus_error(tmp_path, "damaged.pdf", broken_content_stream())
    assert message.startswith("damaged.pdf: unreadable PDF (page 1: PdfReadError: ")
    assert "no extractable text" not in message


def test_same_line_on_every_page_is_kept_when_it_is_all_the_text(tmp_path: Path) -> None:
    # Regression: "Background" on 4 of 6 pages looked like a running header, so every
    # line became debris and the file failed with "no passages left".
    doc = load_one(tmp_path, "labels.pdf", LABEL_PDF)
    assert [p.number for p in doc.pages] == [1, 2, 3, 6]
    body = [b for b in doc.blocks if b.role == "body"]
    assert [doc.text[b.start:b.end] for b in body] == ["Background"] * 4
    assert [b.page for b in body] == [1, 2, 3, 6]


# --- the whole shared PDF set ----------------------------------------------------------------

def shared_rows() -> list[dict[str, str]]:
    """The README table of the shared set: file, expect, what it exercises, text chars."""
    readme = SHARED_PDFS / "README.md"
    if not readme.is_file():
        return []
    rows = []
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith(".pdf"):
            rows.append({"file": cells[0], "chars": cells[4], "expect": cells[5], "what": cells[6]})
    return rows


SHARED_ROWS = shared_rows()
SHARED_PARAMS = [pytest.param(row, id=row["file"], marks=[pytest.mark.ocr] if row["expect"] == "no-text" else [])
                 for row in SHARED_ROWS] or [
    pytest.param(None, marks=pytest.mark.skip(reason=f"{SHARED_PDFS} not found"))]


def readme_password(row: dict[str, str]) -> str:
    match = re.search(r"password `([^`]*)`", row["what"])
    assert match, f"README gives no password for {row['file']}"
    return match.group(1)


@pytest.mark.skipif(not SHARED_ROWS, reason=f"{SHARED_PDFS} not found")
def test_shared_readme_lists_every_pdf() -> None:
    listed = {row["file"] for row in SHARED_ROWS}
    on_disk = {p.relative_to(SHARED_PDFS).as_posix() for p in SHARED_PDFS.rglob("*.pdf")}
    assert listed == on_disk
    assert {row["expect"] for row in SHARED_ROWS} == {"index", "no-text", "password", "broken"}


@pytest.mark.parametrize("row", SHARED_PARAMS)
def test_shared_pdf_gives_expected_outcome(tmp_path: Path, row: dict[str, str]) -> None:
    rel, expect = row["file"], row["expect"]
    corpus = make_corpus(tmp_path / "corpus", {rel: SHARED_PDFS / rel})
    if expect == "no-text":
        try:  # a scan that holds text is read by OCR, every page of it marked so
            doc = load_document(source(corpus, rel))
        except CorpusError:
            pass
        else:
            assert doc.text.strip() and doc.pages and all(page.ocr for page in doc.pages), doc.pages
            return
    if expect == "index":
        doc = load_document(source(corpus, rel))
        assert doc.text.strip()
        assert doc.kind == "pdf" and doc.path == rel and doc.pages
        assert any(b.role in {"body", "byline"} for b in doc.blocks)
        # Nothing lost: the README's count, plus the blank lines put between pages.
        expected = int(row["chars"])
        assert abs(len(doc.text) - expected) <= max(20, expected // 20), (len(doc.text), expected)
        return
    with pytest.raises(CorpusError) as caught:
        load_document(source(corpus, rel))
    message = str(caught.value)
    assert message.startswith(f"{rel}: ")
    if expect == "no-text":  # and OCR read nothing (the scans that hold text pass above)
        assert "no extractable text" in message and "OCR found no text" in message, message
    elif expect == "broken":
        assert re.search(r": unreadable PDF \(\w+: .+\)$", message), message
    else:
        assert expect == "password"
        assert "needs a password" in message
        password = readme_password(row)
        wrong = make_corpus(tmp_path / "wrong", {rel: SHARED_PDFS / rel}, {rel: {"password": password + "x"}})
        with pytest.raises(CorpusError, match="does not open it"):
            load_document(source(wrong, rel))
        right = make_corpus(tmp_path / "right", {rel: SHARED_PDFS / rel}, {rel: {"password": password}})
        doc = load_document(source(right, rel))
        assert doc.text.strip() and doc.pages


# --- builds: the rest is indexed, failures are listed ---------------------------------------

BAD_FILES: dict[str, bytes | Path] = {
    "empty.txt": b"",
    "blank.md": b"\n   \n",
    "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    "latin1.txt": "Résumé du comité".encode("latin-1"),
    "pdfs/scan.pdf": IMAGE_PDF,
    "pdfs/broken.pdf": BROKEN_PDF,
    "pdfs/secret.pdf": ENCRYPTED_PDF,
    "pdfs/truncated.pdf": TEXT_PDF.read_bytes()[:5000],
    "slides.pptx": b"PK\x03\x04",
}
BAD_REASONS = {
    "empty.txt": "empty file",
    "blank.md": "empty file",
    "binary.txt": "binary file",
    "latin1.txt": "not UTF-8 text",
    "pdfs/scan.pdf": "no extractable text",
    "pdfs/broken.pdf": "unreadable PDF (PdfReadError: startxref not found)",
    "pdfs/secret.pdf": "needs a password",
    "pdfs/truncated.pdf": "unreadable PDF (",
    "slides.pptx": "unsupported file type .pptx",
}
GOOD_FILES: dict[str, bytes | Path] = {"agreement.txt": GOOD_TEXT.encode("utf-8"),
                                       "pdfs/crazyones.pdf": TEXT_PDF}


def assert_failures(failed: tuple[FileFailure, ...], expected: dict[str, str]) -> None:
    assert sorted(f.path for f in failed) == sorted(expected)
    for failure in failed:
        assert expected[failure.path] in failure.reason, failure


@pytest.mark.slow
def test_build_indexes_the_good_files_and_lists_the_bad(tmp_path: Path, embedder) -> None:
    corpus = make_corpus(tmp_path / "corpus", {**GOOD_FILES, **BAD_FILES})
    settings = make_settings(corpus, tmp_path / "index")
    report = build_index(settings, embedder=embedder)

    assert sorted(report.added) == sorted(GOOD_FILES)
    assert_failures(report.failed, BAD_REASONS)
    stored = index_store.load(settings.index_dir, identity_for(settings, embedder))
    assert sorted(s.document.path for s in stored.documents.values()) == sorted(GOOD_FILES)
    assert {c.doc_id for c in stored.chunks} == set(stored.documents)
    assert report.total_chunks == len(stored.chunks) > 0

    # The password in metadata.json opens the encrypted file on the next build.
    (corpus / "metadata.json").write_text(json.dumps({"pdfs/secret.pdf": {"password": "password"}}))
    report = build_index(settings, embedder=embedder)
    assert report.added == ("pdfs/secret.pdf",)
    assert sorted(report.unchanged) == sorted(GOOD_FILES)
    assert_failures(report.failed, {k: v for k, v in BAD_REASONS.items() if k != "pdfs/secret.pdf"})


@pytest.mark.slow
def test_build_of_only_bad_files_fails_naming_each(tmp_path: Path, embedder) -> None:
    corpus = make_corpus(tmp_path / "corpus", BAD_FILES)
    settings = make_settings(corpus, tmp_path / "index")
    with pytest.raises(CorpusError, match="nothing could be indexed") as caught:
        build_index(settings, embedder=embedder)
    message = str(caught.value)
    for rel, reason in BAD_REASONS.items():
        assert f"{rel}: " in message and reason in message
    assert index_store.current_version(settings.index_dir) is None


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_ROWS, reason=f"{SHARED_PDFS} not found")
def test_build_over_the_shared_set_indexes_what_it_can(tmp_path: Path, embedder) -> None:
    # All the files that must not be indexed, and the small ones that must (the big
    # policy PDFs would only add embedding time here; load_document covers them above).
    # OCR is off: test_shared_pdf_gives_expected_outcome reads each scan, and a build that
    # OCRs them all would spend a minute here proving it again.
    rows = [r for r in SHARED_ROWS if r["expect"] != "index" or int(r["chars"]) < 2000]
    corpus = make_corpus(tmp_path / "corpus", {r["file"]: SHARED_PDFS / r["file"] for r in rows})
    report = build_index(make_settings(corpus, tmp_path / "index", ocr="off"), embedder=embedder)
    expect = {r["file"]: r["expect"] for r in rows}
    added, failed = set(report.added), {f.path for f in report.failed}
    assert not added & failed and added | failed == set(expect)
    assert {f for f, e in expect.items() if e == "index"} == added
    assert {f for f, e in expect.items() if e in {"password", "broken", "no-text"}} == failed
    reasons = {f.path: f.reason for f in report.failed}
    assert all("no extractable text" in reasons[f] for f, e in expect.items() if e == "no-text")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("ASSISTANT_")}
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_cli_index_reports_failures_and_exit_status(tmp_path: Path) -> None:
    mixed = make_corpus(tmp_path / "mixed", {**GOOD_FILES, **BAD_FILES})
    done = run_cli("index", "--quiet", "--corpus", str(mixed), "--index", str(tmp_path / "index1"))
    assert done.returncode == 0, done.stderr
    failed = dict(line.split("failed:", 1)[1].strip().split(": ", 1)
                  for line in done.stdout.splitlines() if line.strip().startswith("failed:"))
    assert sorted(failed) == sorted(BAD_REASONS)
    for rel, reason in BAD_REASONS.items():
        assert reason in failed[rel]
    for rel in GOOD_FILES:
        assert f"added:   {rel}" in done.stdout

    bad = make_corpus(tmp_path / "bad", BAD_FILES)
    done = run_cli("index", "--quiet", "--corpus", str(bad), "--index", str(tmp_path / "index2"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "nothing could be indexed" in done.stderr
    for rel in BAD_FILES:
        assert rel in done.stderr
    assert "Traceback" not in done.stderr
