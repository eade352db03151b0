"""Briefings: references in two styles, `assistant brief` to Markdown and .docx, every quote
verbatim in its source, notes and sources complete; the .docx opened with python-docx and
rendered by LibreOffice (PDF) and pdftoppm (PNG pages under tests/screenshots/)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docx
import pytest

from assistant.briefing.layout import Briefing, BriefingItem, briefing_from_answers, to_markdown, verified
from assistant.briefing.references import md_unescape, quoted, reference, short_title
from assistant.pipeline import Assistant
from assistant.types import AnswerSpan, Citation

from ..conftest import REPO

SHOTS = REPO / "tests" / "screenshots"
QUESTIONS = ["When was the US-UK declaration signed?",
             "What does the EU project on human-centric AI do?",
             "What is the recipe for a chocolate cake?"]


def citation(**fields: object) -> Citation:
    base = dict(n=1, chunk_id="d:1", doc_id="decl", title="Declaration on AI Research", author="",
                publisher="", date="", source_type="", page=None, paragraph=19,
                excerpt="We intend to cooperate.", start=0, end=23, score=1.0, path="decl.txt",
                passage_id="decl#p19@abc123")
    return Citation(**{**base, **fields})  # type: ignore[arg-type]


def test_references_in_both_styles_with_full_metadata() -> None:
    c = citation(author="Governments of the US and the UK", publisher="U.S. Department of State",
                 date="2020-09-25", source_type="declaration", url="https://example.org/decl")
    assert reference(c, "chicago") == ("Governments of the US and the UK, Declaration on AI Research "
                                       "(U.S. Department of State, September 25, 2020), para. 19, "
                                       "https://example.org/decl. [decl#p19@abc123]")
    assert reference(c, "chicago", "markdown").startswith(
        "Governments of the US and the UK, *Declaration on AI Research* (U.S. Department of State")
    assert reference(c, "apa") == "(Governments of the US and the UK, 2020, para. 19) [decl#p19@abc123]"
    assert quoted(c) == f"“We intend to cooperate.” — {reference(c)}"


def test_missing_metadata_is_left_out_cleanly() -> None:
    bare = citation(page=3, paragraph=2, passage_id="")
    for style in ("chicago", "apa"):
        text = reference(bare, style)
        for junk in ("None", "null", "n.d.", "()", ", ,", " ,", "..", "[]"):
            assert junk not in text, (style, text)
    assert reference(bare, "chicago") == "Declaration on AI Research, p. 3, para. 2."
    assert reference(bare, "apa") == "(Declaration on AI Research, p. 3, para. 2)"
    assert reference(citation(author="None", date="unknown", passage_id=""), "chicago") == \
        "Declaration on AI Research, para. 19."


def test_short_titles_do_not_end_on_a_preposition() -> None:
    assert short_title("Declaration of the United States of America and the United Kingdom") == \
        "Declaration of the United States"
    assert short_title("Boosting the international outreach of the EU") == "Boosting the international outreach"


def test_markdown_shows_document_text_as_text() -> None:
    c = citation(excerpt="A *bold* claim <script>x</script> [link](http://evil.example) # not a heading")
    md = to_markdown(Briefing("T", (BriefingItem("Q <b>?</b>", (c,), note="my *own* note"),)))
    assert "<script>" not in md and "[link](" not in md and "*bold*" not in md
    quote = re.search(r"^> “(.*)”\[\^1\]$", md, re.M)
    assert quote and md_unescape(quote.group(1)) == c.excerpt


def test_a_marked_answer_is_bold_in_markdown_and_word(tmp_path: Path) -> None:
    from assistant.briefing.docx_export import to_docx

    c = citation(excerpt="We intend\n to *cooperate* soon.", end=31, answer=AnswerSpan("*cooperate*", 14, 25))
    briefing = Briefing("T", (BriefingItem("Q?", (c,)),))
    quote = re.search(r"^> “(.*)”\[\^1\]$", to_markdown(briefing), re.M)
    assert quote and quote.group(1) == r"We intend to **\*cooperate\*** soon."
    (tmp_path / "b.docx").write_bytes(to_docx(briefing))
    runs = next(p.runs for p in docx.Document(str(tmp_path / "b.docx")).paragraphs if "cooperate" in p.text)
    assert [(r.text, bool(r.bold)) for r in runs[:3]] == [("“We intend to ", False), ("*cooperate*", True),
                                                          (" soon.”", False)]


def test_verified_drops_quotes_not_in_their_source(seed_index, embedder) -> None:
    assistant = Assistant(seed_index, embedder)
    answer = assistant.ask(QUESTIONS[0])
    good = answer.citations[0]
    forged = dataclasses.replace(good, excerpt=good.excerpt.replace("the", "a", 1) + " (sic)")
    empty = dataclasses.replace(good, excerpt="  ")
    moved = dataclasses.replace(good, start=good.start + 5, end=good.end + 5)
    unknown = dataclasses.replace(good, doc_id="gone", passage_id="gone#p1@abcdef")
    briefing = Briefing("T", (BriefingItem("Q", (good, forged, empty, moved, unknown)),))
    kept, problems = verified(briefing, assistant.source_of)
    assert kept.items[0].citations == (good,)
    assert len(problems) == 4


def run_brief(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", "brief", *QUESTIONS, "--corpus", str(settings.corpus_dir),
         "--index", str(settings.index_dir), "-q", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
def test_brief_markdown_round_trip(seed_index, embedder, tmp_path: Path) -> None:
    out = tmp_path / "briefing.md"
    result = run_brief(seed_index, "-o", str(out), "--title", "AI cooperation")
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}: 3 questions" in result.stderr and "1 not covered" in result.stderr
    md = out.read_text(encoding="utf-8")
    assert md.startswith("# AI cooperation\n")
    assert re.search(r"## What is the recipe for a chocolate cake\?\n\nNot covered by the documents\.", md)

    quotes = re.findall(r"^> “(.*)”\[\^(\d+)\]$", md, re.M)
    notes = dict(re.findall(r"^\[\^(\d+)\]: (.*)$", md, re.M))
    markers = [n for _, n in quotes]
    # No dangling note: markers 1..N in order, each with exactly one note, and no others.
    assert markers == [str(i) for i in range(1, len(markers) + 1)] and len(markers) >= 3
    assert sorted(notes, key=int) == markers
    assert len(re.findall(r"\[\^\d+\]:", md)) == len(markers)
    # Every quote is verbatim in the version of the source its note's passage id names.
    assistant = Assistant(seed_index, embedder)
    for text, number in quotes:
        note = notes[number]
        assert note.strip() and "None" not in note
        pid = re.search(r"Passage `([^`]+)`", note).group(1)
        source = assistant.show(pid).document.text
        assert one_line(md_unescape(text)) in one_line(source), (pid, text)
    sources = md.split("## Sources", 1)[1]
    cited = {re.search(r"Passage `([^#]+)#", n).group(1) for n in notes.values()}
    assert len(re.findall(r"^- ", sources, re.M)) == len(cited)


@pytest.mark.office
def test_brief_docx_opens_and_renders(seed_index, embedder, tmp_path: Path) -> None:
    out = tmp_path / "briefing.docx"
    result = run_brief(seed_index, "-o", str(out), "--style", "apa")
    assert result.returncode == 0, result.stderr
    document = docx.Document(str(out))
    paragraphs = document.paragraphs
    quotes = [p for p in paragraphs if p.style.name == "Quote"]
    headings = [p.text for p in paragraphs if p.style.name.startswith("Heading")]
    assert headings[:3] == QUESTIONS and headings[3:] == ["Notes", "Sources"]
    notes_at = [p.text for p in paragraphs].index("Notes")
    sources_at = [p.text for p in paragraphs].index("Sources")
    notes = [p.text for p in paragraphs[notes_at + 1:sources_at]]
    assert len(quotes) == len(notes) >= 3
    assert "Not covered by the documents." in [p.text for p in paragraphs]

    assistant = Assistant(seed_index, embedder)
    markers = []
    for paragraph in quotes:
        # The marker is a superscript number linked to its note's bookmark.
        links = paragraph._p.findall(".//{*}hyperlink")
        assert len(links) == 1
        number = "".join(t.text for t in links[0].iter() if t.tag.endswith("}t"))
        markers.append(number)
        assert links[0].get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}anchor") == \
            f"note{number}"
        text = paragraph.text.removesuffix(number)
        assert text.startswith("“") and text.endswith("”")
        pid = re.search(r"Passage (\S+)\.$", notes[int(number) - 1]).group(1)
        assert one_line(text[1:-1]) in one_line(assistant.show(pid).document.text)
    assert markers == [str(i) for i in range(1, len(quotes) + 1)]
    for i, note in enumerate(notes, start=1):
        assert note.startswith(f"{i}. (") and "None" not in note  # APA: the in-text citation
    bookmarks = {b.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}name")
                 for b in document.element.body.iter() if b.tag.endswith("}bookmarkStart")}
    assert {f"note{m}" for m in markers} <= bookmarks
    entries = [p for p in paragraphs[sources_at + 1:] if p.text.strip()]
    assert entries and all(p.style.name == "List Bullet" for p in entries)
    # Titles are set in italics in the source list.
    assert any(run.italic for p in entries for run in p.runs)

    render_pages(out, tmp_path, quotes[0].text)


def render_pages(path: Path, work: Path, first_quote: str) -> None:
    """LibreOffice -> PDF -> pdftoppm PNGs; the PDF's text holds the quotes."""
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if not soffice or not pdftoppm:
        pytest.fail("LibreOffice (soffice) and pdftoppm are needed: apt-get install "
                    "libreoffice-writer-nogui poppler-utils (scripts/test.sh does it)")
    profile = work / "lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(work), str(path)], check=True, capture_output=True, timeout=180)
    pdf = path.with_suffix(".pdf")
    assert pdf.exists() and pdf.stat().st_size > 1000
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    assert one_line(first_quote)[:40] in one_line(text)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("briefing-page-*.png"):
        old.unlink()
    subprocess.run([pdftoppm, "-png", "-r", "60", str(pdf), str(SHOTS / "briefing-page")], check=True,
                   timeout=120)
    pages = sorted(SHOTS.glob("briefing-page-*.png"))
    assert pages and all(p.stat().st_size > 5000 for p in pages)  # a blank page is a few hundred bytes


def test_briefing_from_answers_keeps_abstentions_without_quotes(seed_index, embedder) -> None:
    assistant = Assistant(seed_index, embedder)
    answers = [assistant.ask(q) for q in QUESTIONS]
    briefing = briefing_from_answers(answers)
    assert briefing.items[2].abstained and briefing.items[2].citations == ()
    assert answers[2].closest  # the closest passages exist, but are never quoted
    md = to_markdown(briefing)
    section = md.split(f"## {QUESTIONS[2].replace('?', '?')}", 1)[1].split("\n## ", 1)[0]
    assert section.strip() == "Not covered by the documents."
    assert len(re.findall(r"^> ", md, re.M)) == sum(len(a.citations) for a in answers[:2])


def test_ask_json_carries_references_in_the_chosen_style(seed_index, capsys) -> None:
    from assistant.cli import main

    args = ["--corpus", str(seed_index.corpus_dir), "--index", str(seed_index.index_dir), "-q"]
    assert main(["ask", "--json", "--style", "apa", QUESTIONS[0], *args]) == 0
    data = json.loads(capsys.readouterr().out)
    for c in data["citations"]:
        assert c["reference"].startswith("(") and c["reference"].endswith(f"[{c['passage_id']}]")
        assert c["reference_markdown"].endswith(f"[`{c['passage_id']}`]")
        assert "None" not in c["reference"]


def test_brief_reports_an_unreadable_questions_file(seed_index, tmp_path: Path, capsys) -> None:
    from assistant.cli import main

    args = ["--corpus", str(seed_index.corpus_dir), "--index", str(seed_index.index_dir), "-q"]
    assert main(["brief", "--questions-file", str(tmp_path / "missing.txt"), *args]) == 1
    assert "missing.txt: cannot read the questions" in capsys.readouterr().err


def test_an_undated_web_page_gives_the_day_it_was_retrieved_in_chicago_style() -> None:
    from assistant.briefing.references import plain, source_of, source_runs

    page = citation(url="https://example.org/ai", retrieved="2026-11-29", passage_id="")
    assert reference(page, "chicago") == \
        "Declaration on AI Research, para. 19, accessed November 29, 2026, https://example.org/ai."
    assert plain(source_runs(source_of(page))) == \
        "Declaration on AI Research. Accessed November 29, 2026. https://example.org/ai."
    dated = citation(url="https://example.org/ai", retrieved="2026-11-29", date="2020-09-25", passage_id="")
    assert "accessed" not in reference(dated, "chicago")  # a dated page is cited by its date
    assert "ccessed" not in reference(page, "apa")


def test_markdown_read_back_drops_bold_markers_but_keeps_escaped_asterisks() -> None:
    from assistant.briefing.references import md_escape

    for text in ("signed in **2020**", "a * b", "2*3**4", "back\\slash [1]"):
        assert md_unescape(md_escape(text)) == text
        assert md_unescape(f"before **{md_escape(text)}** after") == f"before {text} after"
