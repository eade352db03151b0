"""Pure: what a question asks for, and the features of each candidate excerpt that the rescorer weighs.

The question's expected answer type comes from its wh-word ("when" wants a date, "who" a
name, "how many" a number, "where" a place); an excerpt's types from its surface (years,
months, digits and number words, capitalised names inside a sentence). These are generic
English patterns, not lists drawn from any corpus: the rescorer learns how much each one is
worth from public question sets (see scripts/train_rescorer.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

QUESTION_TYPES = ("when", "who", "which", "quantity", "where", "yesno")

_WHEN = re.compile(r"\bwhen\b|\b(?:what|which|in what)\s+(?:year|years|date|dates|time|day|month|century|decade|"
                   r"period|era)\b|\bhow long ago\b|\bsince when\b", re.I)
_WHO = re.compile(r"\bwho(?:m|se)?\b", re.I)
# "which UK ministers", "what countries": a plural noun (not an auxiliary) within three words of which/what
_AUXILIARY = r"(?:is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b"
_WHICH = re.compile(rf"\b(?:which|what)\s+(?!{_AUXILIARY})(?:(?!of\b)[\w-]+\s+){{0,2}}?"
                    rf"(?!{_AUXILIARY})[a-z][\w-]*[^s\W]s\b", re.I)
# "Who signed…?", "Which ministers signed…?", "…the signatories?": asks who signed a text.
_SIGNING = re.compile(rf"\bwho(?:m)?\b[^?]*\bsign(?:ed|ing)?\b|"
                      rf"\bwhich\s+(?:(?!{_AUXILIARY})[\w-]+\s+){{1,3}}sign(?:ed|ing)?\b|\bsignator(?:y|ies)\b", re.I)
_QUANTITY = re.compile(r"\bhow\s+(?:many|much|long|far|old|large|big|often|high|tall)\b|"
                       r"\bwhat\s+(?:percentage|percent|proportion|share|number|amount|size|fraction)\b", re.I)
_WHERE = re.compile(r"\bwhere\b|\bin\s+(?:what|which)\s+(?:country|city|region|state|place|area|continent)\b", re.I)
# A signature block's party line: "For the United States:", "On behalf of the Government of X:"
_PARTY_LINE = re.compile(r"^(?i:for|on behalf of)\s+(?:(?i:the)\s+)?[A-Z][^\n:]{0,120}:$")
_YESNO = re.compile(r"^\s*(?:do|does|did|is|are|was|were|can|could|will|would|should|shall|has|have|had|may|"
                    r"might|must)\b", re.I)

_SMALL_NUMBERS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
_MONTHS = (r"January|February|March|April|May|June|July|August|September|October|November|December|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_DATE = re.compile(rf"\b(?:1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b(?:{_MONTHS})\.?\s+\d|\b\d{{1,2}}\s+(?:{_MONTHS})\b|"
                   r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\w+(?:st|nd|rd|th)\s+century\b|"
                   r"\b(?i:daily|weekly|monthly|annually|yearly)\b|"
                   # a period with its count ("30 days", "three years", "a few months"), not "in the past years"
                   rf"\b(?i:\d+|{_SMALL_NUMBERS}|fifteen|sixty|ninety|several|a few|few|many)[\s-]+"
                   r"(?i:days?|weeks?|months?|years?)\b")
_NUMBER = re.compile(rf"\d|\b(?:{_SMALL_NUMBERS}|"
                     r"forty|fifty|hundred|thousand|million|billion|trillion|dozen|half|percent|single|double|"
                     r"twice|once)\b", re.I)
_CAPITALISED = re.compile(r"(?<![.!?:;]\s)(?<![\n\"“(])\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")


@dataclass(frozen=True)
class AnswerTypes:
    """The kinds of answer a question asks for (several may hold)."""

    when: bool = False
    who: bool = False
    which: bool = False  # asks for instances of a plural noun ("which ministers", "what countries")
    quantity: bool = False
    where: bool = False
    yesno: bool = False
    signing: bool = False  # asks who signed (answered by a signature block's names)


def answer_types(question: str) -> AnswerTypes:
    return AnswerTypes(
        when=bool(_WHEN.search(question)), who=bool(_WHO.search(question)), which=bool(_WHICH.search(question)),
        quantity=bool(_QUANTITY.search(question)), where=bool(_WHERE.search(question)),
        yesno=bool(_YESNO.match(question)), signing=bool(_SIGNING.search(question)),
    )


def signature_windows(sentences: list[str], windows: list[tuple[int, int]]) -> list[bool]:
    """Which excerpt windows (first, last sentence) of a passage hold a signature block's names:
    a line after a party line ("For the United Kingdom:") and before the next one. A genre of
    policy text (declarations, agreements), not any corpus's wording."""
    party = [i for i, text in enumerate(sentences) if _PARTY_LINE.match(text.strip())]
    if not party:
        return [False] * len(windows)
    names: set[int] = set()
    for n, start in enumerate(party):
        end = party[n + 1] if n + 1 < len(party) else len(sentences)
        names.update(range(start + 1, end))
    return [any(i in names for i in range(first, last + 1)) for first, last in windows]


def holds_party_line(text: str) -> bool:
    """A passage with a signature block's party line ("For the United Kingdom:")."""
    return any(_PARTY_LINE.match(line.strip()) for line in text.splitlines())


def excerpt_types(text: str) -> tuple[float, float, float]:
    """(has a date or period, has a number, how many capitalised names inside its sentences, capped at 1)."""
    body = text.strip()
    names = [m for m in _CAPITALISED.finditer(body) if m.start() > 0]
    return (1.0 if _DATE.search(body) else 0.0, 1.0 if _NUMBER.search(body) else 0.0,
            min(1.0, len(names) / 3))


FEATURES = (
    "sim",          # cosine(question, excerpt as read with its heading)
    "sim_gap",      # sim minus the best sim among the candidates (<= 0)
    "passage",      # the passage's fused retrieval score, 1 for the best pooled passage, 0 for the last
    "passage_rank", # 1 / the passage's rank
    "dense",        # cosine(question, whole passage)
    "keyword",      # the passage's BM25 score over the best pooled passage's
    "terms",        # idf-weighted share of the question's terms in the excerpt (title included)
    "phrase",       # share of the question's adjacent term pairs kept together
    "novelty",      # share of the excerpt's terms that are not the question's: what it adds
    "length",       # log(1 + words)
    "first",        # the excerpt opens its passage
    "when_date",    # a "when" question and an excerpt holding a date or period
    "who_name",     # a "who" question and an excerpt naming someone
    "which_names",  # a "which Xs" question and an excerpt naming things (capitalised names)
    "quantity_number",  # "how many / how much" and an excerpt holding a number
    "where_name",   # "where" and an excerpt naming a place (a capitalised name)
    "byline",       # an authorship question and a byline
    "signatory",    # a question about who signed and an excerpt holding a signature block's names
)


def excerpt_features(*, sim: float, best_sim: float, passage: float, passage_rank: int, dense: float,
                     keyword: float, terms: float, phrase: float, excerpt_terms: set[str], question_terms: set[str],
                     text: str, first: bool, types: AnswerTypes, byline: bool,
                     signatory: bool) -> tuple[float, ...]:
    """One candidate excerpt's feature values, in the order of FEATURES. `byline` and `signatory`
    are the caller's: the question asks who wrote (signed) and the excerpt is a byline (holds a
    signature block's names)."""
    novelty = len(excerpt_terms - question_terms) / len(excerpt_terms) if excerpt_terms else 0.0
    has_date, has_number, names = excerpt_types(text)
    return (
        sim, sim - best_sim, passage, 1.0 / passage_rank, dense, keyword, terms, phrase, novelty,
        math.log1p(len(text.split())), 1.0 if first else 0.0,
        has_date * types.when, names * types.who, names * types.which, has_number * types.quantity, names * types.where,
        1.0 if byline else 0.0, 1.0 if signatory else 0.0,
    )


ANSWERABILITY = (
    "strength",  # answering.evidence_strength: 0.6 x cosine + 0.4 x term coverage of the best passage
    "best",      # the rescorer's probability for the best excerpt
    "dense",     # the best passage's cosine
    "unknown",   # idf-weighted share of the question's terms that no indexed passage holds
    "spread",    # retrieval.Query.spread: the best passage's cosine minus the fifth best's (in scope)
    "unknown_name",  # retrieval.Query.unknown_name: the question names something no passage mentions
)
