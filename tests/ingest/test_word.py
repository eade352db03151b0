"""Word documents (.docx): paragraphs, headings by style, tables, footnotes and endnotes,
core-property metadata, bad files reported by name, zip bombs refused before they are
unpacked (at upload and at build time), and a briefing exported by the assistant indexed back
with every quote found in one paragraph.

The .docx files are written here with python-docx; the footnote and endnote parts, which
python-docx cannot write, are added as Word writes them (word/footnotes.xml, endnotes.xml,
their relationships and content types)."""

from __future__ import annotations

import io
import json
import re
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import docx
import pytest

from assistant.errors import CorpusError
from assistant.ingest.documents import discover, load_document
from assistant.ingest.uploads import save_upload
from assistant.ingest.wordtext import MAX_MEMBERS, MAX_UNPACKED_BYTES, check_unpacked_size
from assistant.pipeline import Assistant, build_index

from ..conftest import make_settings

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NOTES_XML = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{{kind}}s xmlns:w="{W}">'
             '<w:{kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{kind}>'
             '<w:{kind} w:type="continuationSeparator" w:id="0">'
             '<w:p><w:r><w:continuationSeparator/></w:r></w:p></w:{kind}>'
             '{notes}</w:{kind}s>')
NOTE_XML = '<w:{kind} w:id="{id}"><w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p></w:{kind}>'
REL = ('<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}s" '
       'Target="{kind}s.xml"/>')
OVERRIDE = ('<Override PartName="/word/{kind}s.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.{kind}s+xml"/>')


def report_docx(path: Path, author: str = "Jane Analyst", created: datetime | None = None) -> Path:
    """A report: title, headings, body, a list, a table with a merged cell, a footnote, an endnote."""
    document = docx.Document()
    document.core_properties.title = "Allied Cooperation on AI Safety"
    document.core_properties.author = author
    document.core_properties.created = created or datetime(2024, 3, 5, 12, 0, tzinfo=timezone.utc)
    document.add_heading("Allied Cooperation on AI Safety", level=0)
    document.add_heading("Background", level=1)
    body = document.add_paragraph("The partners agreed to share evaluation methods for frontier models")
    body.add_run("FOOTNOTE-1")
    body.add_run(" and to meet twice a year.")
    document.add_paragraph("Testing of general-purpose models", style="List Bullet")
    document.add_paragraph("Exchange of researchers between the institutes", style="List Bullet")
    document.add_heading("Funding", level=1)
    table = document.add_table(rows=3, cols=3)
    for row, cells in enumerate([("Programme", "Budget", "Years"), ("Joint testbed", "EUR 12 million", "2024-2026"),
                                 ("Fellowships", "EUR 3 million", "")]):
        for col, value in enumerate(cells):
            table.cell(row, col).text = value
    table.cell(2, 1).merge(table.cell(2, 2))
    closing = document.add_paragraph("Results will be published in an annual report")
    closing.add_run("ENDNOTE-1")
    closing.add_run(".")
    raw = io.BytesIO()
    document.save(raw)
    return _with_notes(raw.getvalue(), path)


def _with_notes(data: bytes, path: Path) -> Path:
    """Add a footnote and an endnote part, and turn the FOOTNOTE-1/ENDNOTE-1 runs into references."""
    notes = {"footnote": "See the joint statement of 2 November 2023, paragraph 4.",
             "endnote": "The first report is due in March 2025."}
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "word/document.xml":
                text = content.decode("utf-8")
                for kind in notes:
                    text = text.replace(f"<w:t>{kind.upper()}-1</w:t>",
                                        f'<w:{kind}Reference w:id="1"/>')
                content = text.encode("utf-8")
            elif item.filename == "word/_rels/document.xml.rels":
                rels = "".join(REL.format(n=900 + i, kind=kind) for i, kind in enumerate(notes))
                content = content.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
            elif item.filename == "[Content_Types].xml":
                overrides = "".join(OVERRIDE.format(kind=kind) for kind in notes)
                content = content.replace(b"</Types>", overrides.encode() + b"</Types>")
            out.writestr(item, content)
        for kind, text in notes.items():
            note = NOTE_XML.format(kind=kind, id=1, text=text)
            out.writestr(f"word/{kind}s.xml", NOTES_XML.format(kind=kind, notes=note))
    return path


def load(corpus: Path, name: str):  # type: ignore[no-untyped-def]
    files, skipped = discover(corpus)
    assert not skipped
    return load_document(next(f for f in files if f.relpath == name))


def blocks(doc) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(b.role, doc.text[b.start:b.end]) for b in doc.blocks]


def test_docx_gives_headings_paragraphs_tables_and_notes(tmp_path: Path) -> None:
    report_docx(tmp_path / "report.docx")
    doc = load(tmp_path, "report.docx")
    assert doc.kind == "docx"
    assert blocks(doc) == [
        ("heading", "Allied Cooperation on AI Safety"),
        ("heading", "Background"),
        ("body", "The partners agreed to share evaluation methods for frontier models[1] and to meet twice a year."),
        ("body", "Testing of general-purpose models"),
        ("body", "Exchange of researchers between the institutes"),
        ("heading", "Funding"),
        ("body", "Programme | Budget | Years"),
        ("body", "Joint testbed | EUR 12 million | 2024-2026"),
        ("body", "Fellowships | EUR 3 million"),
        ("body", "Results will be published in an annual report[i]."),
        ("heading", "Notes"),
        ("body", "[1] See the joint statement of 2 November 2023, paragraph 4."),
        ("body", "[i] The first report is due in March 2025."),
    ]


def test_core_properties_fill_what_metadata_json_leaves_empty(tmp_path: Path) -> None:
    report_docx(tmp_path / "report.docx")
    meta = load(tmp_path, "report.docx").meta
    assert (meta.title, meta.author, meta.date, meta.source_type) == \
        ("Allied Cooperation on AI Safety", "Jane Analyst", "2024-03-05", "Word document")
    (tmp_path / "metadata.json").write_text(json.dumps({"report.docx": {"title": "Own title", "author": ""}}))
    meta = load(tmp_path, "report.docx").meta
    assert (meta.title, meta.author) == ("Own title", "Jane Analyst")  # an empty field does not erase


def test_python_docx_template_properties_are_not_taken_for_the_document(tmp_path: Path) -> None:
    document = docx.Document()  # author "python-docx", created 2013-12-23: the template's
    document.add_paragraph("A memo with no properties of its own, long enough to be a passage.")
    document.save(tmp_path / "memo.docx")
    meta = load(tmp_path, "memo.docx").meta
    assert (meta.author, meta.date) == ("", "")
    assert meta.title == "A memo with no properties of its own, long enough to be a passage."  # its first line


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "password-protected"),
    (b"PK\x03\x04 truncated", "unreadable Word document"),
    (b"not a zip at all", "unreadable Word document"),
])
def test_bad_docx_is_reported_by_name_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.docx").write_bytes(content)
    with pytest.raises(CorpusError, match=rf"^bad\.docx: .*{reason}"):
        load(tmp_path, "bad.docx")


def test_zip_that_is_not_a_word_document_is_reported(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(CorpusError, match=r"^other\.docx: unreadable Word document"):
        load(tmp_path, "other.docx")


def test_docx_upload_is_accepted_and_a_docx_named_pdf_is_not(tmp_path: Path) -> None:
    data = report_docx(tmp_path / "made.docx").read_bytes()
    corpus = tmp_path / "corpus"
    assert save_upload(corpus, "Report (final).docx", data).saved_as == "Report-final.docx"
    with pytest.raises(CorpusError, match=r"a Word document but the name says \.pdf; rename it to \.docx"):
        save_upload(corpus, "report.pdf", data)


@pytest.mark.slow
def test_docx_is_indexed_and_cited_with_its_notes(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    report_docx(corpus / "report.docx")
    settings = make_settings(corpus, tmp_path / "index")
    build_index(settings, embedder=embedder)
    answer = Assistant(settings, embedder).ask("When is the first report due?")
    assert not answer.abstained
    first = answer.citations[0]
    assert "The first report is due in March 2025." in first.excerpt
    # Paragraphs are numbered as in text files (headings are not paragraphs): the notes are 8 and 9.
    assert first.doc_id == "report" and first.page is None and first.paragraph in (8, 9), first


@pytest.mark.slow
def test_briefing_exported_as_docx_is_indexed_back_quote_for_quote(tmp_path: Path, seed_index, embedder) -> None:  # type: ignore[no-untyped-def]
    from assistant.briefing.docx_export import to_docx
    from assistant.briefing.layout import briefing_from_answers
    from assistant.briefing.references import one_line

    assistant = Assistant(seed_index, embedder)
    answers = [assistant.ask(q) for q in ("When was the US-UK declaration signed?",
                                          "What does the EU project on human-centric AI do?")]
    briefing = briefing_from_answers(answers, title="AI cooperation")
    quotes = [one_line(c.excerpt) for item in briefing.items for c in item.citations]
    assert quotes
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "briefing.docx").write_bytes(to_docx(briefing))
    doc = load(corpus, "briefing.docx")
    assert doc.meta.title == "AI cooperation" and doc.meta.author == ""
    paragraphs = [text for role, text in blocks(doc) if role == "body"]
    for quote in quotes:  # each quote whole in one paragraph: citable where it stands
        assert any(quote in paragraph for paragraph in paragraphs), quote
    settings = make_settings(corpus, tmp_path / "index")
    build_index(settings, embedder=embedder)
    back = Assistant(settings, embedder).ask(quotes[0])
    assert any(quotes[0][:60] in c.excerpt or c.excerpt in quotes[0] for c in back.citations)


# -- Zip bombs: a .docx is a ZIP package, refused before it is read when it unpacks too large --

BOMB_BYTES = 500 * 2**20
BIG_MEMBER = "word/media/big.xml"


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real .docx plus a member of 500 MB of zeros, deflated to about 0.5 MB; written a
    megabyte at a time, so that making it costs this test little memory (about 2.5 s)."""
    document = docx.Document()
    document.add_paragraph("A memo that carries far more than its text, long enough to be a passage.")
    raw = io.BytesIO()
    document.save(raw)
    path = tmp_path_factory.mktemp("bomb") / "bomb.docx"
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for item in source.infolist():
            out.writestr(item, source.read(item.filename))
        with out.open(BIG_MEMBER, "w") as big:
            zeros = bytes(2**20)
            for _ in range(BOMB_BYTES // len(zeros)):
                big.write(zeros)
    return path.read_bytes()


def lying_about(data: bytes, member: str, size: int) -> bytes:
    """`data` with `member`'s unpacked size in the ZIP's file list (central directory) set to `size`."""
    directory = struct.unpack_from("<I", data, len(data) - 22 + 16)[0]  # no archive comment
    entry = data.index(member.encode(), directory) - 46
    assert data[entry:entry + 4] == b"PK\x01\x02"
    patched = bytearray(data)
    struct.pack_into("<I", patched, entry + 24, size)
    return bytes(patched)


def refused(action: Callable[[], object]) -> tuple[str, int, float]:
    """The CorpusError message `action` raises, how much the process's peak resident memory
    grew while it ran (bytes), and the seconds it took. The peak is reset first (Linux
    /proc/self/clear_refs), so an earlier, higher peak cannot hide the growth; where that
    cannot be done, tracemalloc's peak of Python allocations stands in."""
    def kib(field: str) -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(f"{field}:"))
        return int(line.split()[1]) * 1024

    try:
        Path("/proc/self/clear_refs").write_text("5")
        before, traced = kib("VmRSS"), False
    except OSError:
        tracemalloc.start()
        before, traced = 0, True
    started = time.perf_counter()
    try:
        with pytest.raises(CorpusError) as info:
            action()
    finally:
        seconds = time.perf_counter() - started
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            peak = kib("VmHWM")
    return str(info.value), peak - before, seconds


def test_a_zip_bomb_is_refused_at_upload_before_it_is_unpacked(tmp_path: Path, zip_bomb: bytes) -> None:
    assert len(zip_bomb) < 2**20
    message, grown, seconds = refused(lambda: save_upload(tmp_path, "memo.docx", zip_bomb))
    assert re.fullmatch(r"memo\.docx: unpacks to 500\.\d MB \(\d+ files\), over the 64 MB limit "
                        r"for a Word document", message), message
    assert grown < 50 * 2**20 and seconds < 2, (grown, seconds)
    assert list(tmp_path.iterdir()) == []


def test_a_zip_bomb_in_the_corpus_folder_is_reported_by_name_at_build_time(tmp_path: Path, zip_bomb: bytes) -> None:
    (tmp_path / "memo.docx").write_bytes(zip_bomb)
    message, grown, _ = refused(lambda: load(tmp_path, "memo.docx"))
    assert message.startswith("memo.docx: unpacks to 500.") and "over the 64 MB limit" in message
    assert grown < 50 * 2**20, grown


def test_a_zip_bomb_whose_declared_sizes_lie_is_refused_when_it_is_read(tmp_path: Path, zip_bomb: bytes) -> None:
    lying = lying_about(zip_bomb, BIG_MEMBER, 2**20)
    with zipfile.ZipFile(io.BytesIO(lying)) as package:  # what it declares passes the limit
        assert sum(m.file_size for m in package.infolist()) < MAX_UNPACKED_BYTES
    message, grown, seconds = refused(lambda: save_upload(tmp_path, "memo.docx", lying))
    assert message == (f"memo.docx: unreadable Word document ({BIG_MEMBER}: "
                       f"Bad CRC-32 for file '{BIG_MEMBER}')"), message
    assert grown < 50 * 2**20 and seconds < 2, (grown, seconds)
    (tmp_path / "memo.docx").write_bytes(lying)
    with pytest.raises(CorpusError, match=rf"^memo\.docx: unreadable Word document \({BIG_MEMBER}: Bad CRC-32"):
        load(tmp_path, "memo.docx")


def test_a_package_of_too_many_files_is_refused(tmp_path: Path) -> None:
    data = report_docx(tmp_path / "report.docx").read_bytes()
    with zipfile.ZipFile(tmp_path / "report.docx", "a") as package:
        for i in range(MAX_MEMBERS):
            package.writestr(f"word/parts/part{i}.xml", b"")
    with pytest.raises(CorpusError, match=r"^report\.docx: 5,0\d\d files in the package, over the 5,000 "
                                          r"a Word document may hold$"):
        save_upload(tmp_path / "corpus", "report.docx", (tmp_path / "report.docx").read_bytes())
    assert check_unpacked_size(data, "report.docx") is None  # the document without them passes


def test_a_package_whose_file_list_is_too_large_is_refused_before_zipfile_reads_it(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as package:  # about 2 MB of list: zipfile would make 20,000 objects of it
        for i in range(20_000):
            package.writestr(f"customXml/a-long-name-for-an-item-of-custom-xml-{i:05}.xml", b"")
    with pytest.raises(CorpusError, match=r"^list\.docx: its list of files takes \d(\.\d)? MB, over the 1 MB "
                                          r"limit for a Word document$"):
        check_unpacked_size(raw.getvalue(), "list.docx")
