"""Pure units: structure (debris, headings, bylines), sentences, glued words, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.ingest.passages import numbered_paragraphs
from assistant.ingest.structure import is_nav_line, segment
from assistant.ingest.textnorm import (
    GlueSplitter,
    adjectives_as_names,
    keyword_terms,
    normalize_for_match,
    sentence_spans,
    stem,
)
from assistant.types import Document, DocumentMeta

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def roles(text: str) -> dict[str, str]:
    return {text[b.start:b.end]: b.role for b in segment(text)}


def test_navigation_and_footer_lines_are_debris() -> None:
    text = (CORPUS / "us-uk-ai-rd-declaration-2020.txt").read_text(encoding="utf-8")
    by_text = roles(text)
    debris = {t for t, r in by_text.items() if r == "debris"}
    assert "[Home](#) > **[Bureau of Oceans and International Environmental and Scientific Affairs](#)** >" in debris
    for footer in ("Privacy Policy", "[FOIA](#)", "USA.gov", "TAGS", "Contact Us"):
        assert footer in debris
    # The signature block is content: it says who signed.
    body = " ".join(t for t, r in by_text.items() if r == "body")
    assert "Alok Sharma" in body and "Oliver Dowden" in body


def test_back_to_top_and_pdf_link_labels_are_debris() -> None:
    seed = (CORPUS / "us-international-ai-cooperation.txt").read_text(encoding="utf-8")
    assert roles(seed)["↑ Top"] == "debris"
    project = (CORPUS / "eu-international-alliance-human-centric-ai-project.txt").read_text(encoding="utf-8")
    assert roles(project)["Factsheet (PDF)"] == "debris"


def test_author_blurb_is_a_byline_not_body() -> None:
    text = (CORPUS / "us-eu-ai-safety-collaboration-article.txt").read_text(encoding="utf-8")
    blurb = next(t for t in roles(text) if t.startswith("Mubarak is the founder"))
    assert roles(text)[blurb] == "byline"


def test_headings_are_found_and_lead_in_lines_are_not() -> None:
    text = "Global Partnership on AI\n\nA long paragraph about the partnership and what it does.\n\n" \
           "For the United States:\n\nThe Honorable Someone\nChief Officer\n"
    found = roles(text)
    assert found["Global Partnership on AI"] == "heading"
    assert found["For the United States:"] == "body"


LONG = ("Providers of high-risk AI systems shall ensure that their systems comply with the requirements set "
        "out in this Section, taking into account their intended purpose and the state of the art.")


def test_unwrapped_text_keeps_one_paragraph_per_line_and_wrapped_text_is_joined() -> None:
    unwrapped = f"Article 16\n\nObligations of providers\n\n{LONG}\n{LONG.replace('Providers', 'Deployers')}\n"
    found = roles(unwrapped)
    assert found["Article 16"] == found["Obligations of providers"] == "heading"  # label + title: both
    assert found[LONG] == found[LONG.replace("Providers", "Deployers")] == "body"  # two paragraphs
    doc = Document("d", "d.txt", DocumentMeta(), unwrapped, "h", segment(unwrapped))
    paragraphs = numbered_paragraphs(doc)
    assert [p.number for p in paragraphs] == [1, 2]
    assert paragraphs[0].heading == "Article 16 — Obligations of providers"

    wrapped = "A paragraph that was hard-wrapped\nat a short width, as plain text\nfiles often are.\n"
    assert list(roles(wrapped)) == [wrapped.strip()]  # one block


@pytest.mark.parametrize("line, nav", [
    ("[Home](#) > [News](#)", True),
    ("[Remarks & Releases](#) > Declaration of something", True),
    ("↑ Top", True),
    ("See [the report](https://example.org) for details on the method.", False),
    ("Plain text.", False),
])
def test_nav_lines(line: str, nav: bool) -> None:
    assert is_nav_line(line) is nav


def test_sentences_respect_abbreviations_and_initials() -> None:
    text = "The U.S. and the U.K. signed it. Michael J.K. Kratsios led, e.g. on R&D. Then it ended."
    spans = sentence_spans(text, 0, len(text), lines_are_breaks=True)
    assert [text[a:b] for a, b in spans] == [
        "The U.S. and the U.K. signed it.",
        "Michael J.K. Kratsios led, e.g. on R&D.",
        "Then it ended.",
    ]


def test_glued_words_are_split_with_a_vocabulary() -> None:
    splitter = GlueSplitter(["collaboration", "with", "the", "european", "external", "action", "services"])
    assert splitter.split_token("collaborationwiththeEuropeanExternalActionServices") == [
        "collaboration", "with", "the", "European", "External", "Action", "Services"]
    assert splitter.split_token("unknownglued") == ["unknownglued"]  # no guessing
    assert "collab" not in keyword_terms("collaborationwiththe", splitter)
    assert stem("collaboration") in keyword_terms("collaborationwiththe", splitter)


def test_stemming_matches_word_forms() -> None:
    assert stem("bridge") == stem("bridging")
    assert stem("countries") == stem("country")
    assert keyword_terms("What is the role of the alliance?") == ["role", stem("alliance")]


def test_one_term_for_each_spelling_of_us_uk_eu() -> None:
    text = "The U.S., the United States of America and the US; the European Union and the EU; the U.K."
    assert keyword_terms(text) == ["usa", "usa", "usa", "eu", "eu", "uk"]
    assert "usa" not in keyword_terms("Let us cooperate with us.")  # the pronoun is not the country


def test_us_and_uk_adjectives_are_read_as_names_the_documents_use() -> None:
    def never(term: str) -> bool:
        return False

    assert adjectives_as_names("Which British minister met the Americans?", never) == "Which UK minister met the US?"
    assert adjectives_as_names("What did American and British officials agree?", never) == \
        "What did US and UK officials agree?"
    for other in ("Latin American states", "North Americans", "British Columbia", "African countries",
                  "the British Council", "American Express", "Anglo-American ties", "African American voters"):
        assert adjectives_as_names(other, never) == other
    # Documents that write the adjective keep it.
    assert adjectives_as_names("British ministers", lambda term: term == "british") == "British ministers"


def test_match_normalisation() -> None:
    assert normalize_for_match("“Human‑centric”  AI — now") == normalize_for_match('"human-centric" ai - now')


def test_settings_env_overrides_and_unknown_keys(tmp_path: Path) -> None:
    settings = Settings.from_env({"ASSISTANT_CORPUS": str(tmp_path), "ASSISTANT_MAX_CITATIONS": "2"})
    assert settings.corpus_dir == tmp_path.resolve() and settings.max_citations == 2
    with pytest.raises(ConfigError, match="ASSISTANT_NOPE"):
        Settings.from_env({"ASSISTANT_NOPE": "1"})
    with pytest.raises(ConfigError, match="expected a int"):
        Settings.from_env({"ASSISTANT_MAX_CITATIONS": "many"})
