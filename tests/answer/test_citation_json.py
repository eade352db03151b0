"""A citation carries its document's metadata as one record; its JSON lays it out flat.

Other tools read these keys (`ask --json`, the web chat's /ask API), so they are pinned here
in order, with their values.
"""

from __future__ import annotations

import dataclasses

from assistant.briefing.references import source_of
from assistant.pageview.links import source_link
from assistant.render import answer_to_json
from assistant.types import Answer, AnswerSpan, Citation, DocumentMeta

META = DocumentMeta(title="Declaration on AI Research", author="Governments of the US and the UK",
                    publisher="U.S. Department of State", date="2020-09-25", source_type="declaration",
                    url="https://example.org/decl", notes="Signed in Washington.", retrieved="2026-11-29")
CITATION = Citation(n=1, chunk_id="decl:1", doc_id="decl", meta=META, page=3, paragraph=2,
                    excerpt="We intend\n to cooperate.", start=5, end=29, score=0.5, path="decl.pdf",
                    passage_id="decl#p3.2@abc123", ocr=True)


def test_citation_json_keys_and_values_are_flat() -> None:
    data = answer_to_json(Answer("Q?", "“We intend to cooperate.” [1]", False, (CITATION,)))
    assert list(data) == ["question", "answer", "abstained", "citations", "closest", "searched"]
    assert data["citations"] == [{
        "n": 1, "chunk_id": "decl:1", "doc_id": "decl", "title": "Declaration on AI Research", "page": 3,
        "paragraph": 2, "excerpt": "We intend\n to cooperate.", "start": 5, "end": 29, "score": 0.5,
        "author": "Governments of the US and the UK", "publisher": "U.S. Department of State",
        "date": "2020-09-25", "source_type": "declaration", "file": "decl.pdf", "passage_id": "decl#p3.2@abc123",
        "url": "https://example.org/decl", "ocr": True, "retrieved": "2026-11-29", "answer": None,
        "page_image": "/page-image/decl/5-29.png",  # where the web chat serves the page, the quote boxed
        "source_link": "https://example.org/decl#page=3",  # a PDF fetched from its URL: opened at its page
        "reference": "Governments of the US and the UK, Declaration on AI Research (U.S. Department of State, "
                     "September 25, 2020), p. 3, para. 2, text recognised by OCR, https://example.org/decl. "
                     "[decl#p3.2@abc123]",
        "reference_markdown": "Governments of the US and the UK, *Declaration on AI Research* (U.S. Department "
                              "of State, September 25, 2020), p. 3, para. 2, text recognised by OCR, "
                              "https://example.org/decl. [`decl#p3.2@abc123`]",
    }]
    assert list(data["citations"][0]) == [  # dict equality ignores order; the JSON keeps it
        "n", "chunk_id", "doc_id", "title", "page", "paragraph", "excerpt", "start", "end", "score", "author",
        "publisher", "date", "source_type", "file", "passage_id", "url", "ocr", "retrieved", "answer",
        "page_image", "source_link", "reference", "reference_markdown"]
    assert "notes" not in data["citations"][0] and "meta" not in data["citations"][0]


def test_a_citation_built_field_by_field_is_the_same_value() -> None:
    fields = {f.name: getattr(META, f.name) for f in dataclasses.fields(DocumentMeta)}
    place = {name: getattr(CITATION, name) for name in ("n", "chunk_id", "doc_id", "page", "paragraph", "excerpt",
                                                          "start", "end", "score", "path", "passage_id", "ocr")}
    assert Citation(**place, **fields) == CITATION
    assert (CITATION.title, CITATION.url, CITATION.retrieved) == (META.title, META.url, META.retrieved)
    assert dataclasses.replace(CITATION, n=2).meta == META


def test_a_reference_reads_the_metadata_cleaned() -> None:
    messy = dataclasses.replace(CITATION, meta=DocumentMeta(title="", author="  Jane\n Doe ", publisher="unknown"))
    assert source_of(messy) == DocumentMeta(title="decl", author="Jane Doe")


def test_a_marked_answer_is_its_text_and_offsets_in_the_source() -> None:
    marked = dataclasses.replace(CITATION, answer=AnswerSpan("cooperate", 19, 28))
    data = answer_to_json(Answer("Q?", "“We intend to cooperate.” [1]", False, (marked,)))
    assert data["citations"][0]["answer"] == {"text": "cooperate", "start": 19, "end": 28}


def test_a_web_page_added_by_url_links_to_the_quote_with_a_text_fragment() -> None:
    page = dataclasses.replace(CITATION, page=None, path="decl.html", excerpt="We intend, with partners, to co-operate "
                               "on research & development of trustworthy AI systems.")
    assert source_link(page) == ("https://example.org/decl#:~:text=We%20intend%2C%20with%20partners%2C,"
                                 "of%20trustworthy%20AI%20systems.")
    short = dataclasses.replace(page, excerpt="We intend to co\u2011operate.")
    assert source_link(short) == "https://example.org/decl#:~:text=We%20intend%20to%20co%E2%80%91operate."
    hyphen = dataclasses.replace(page, excerpt="A well-known fact.")
    assert source_link(hyphen) == "https://example.org/decl#:~:text=A%20well%2Dknown%20fact."
    local = dataclasses.replace(page, meta=dataclasses.replace(META, retrieved=""))  # a local file with a url
    assert source_link(local) is None
    odd = dataclasses.replace(page, meta=dataclasses.replace(META, url="javascript:alert(1)"))
    assert source_link(odd) is None
