"""Pure text helpers: sentence boundaries, keyword terms, and splitting glued words."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

# Abbreviations after which a period does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "nos", "vs", "etc", "e.g", "i.e", "cf",
    "art", "arts", "para", "paras", "fig", "figs", "vol", "p", "pp", "ch", "sec", "inc",
    "ltd", "co", "corp", "jr", "sr", "gen", "gov", "hon", "rep", "sen", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "u.s", "u.k",
    "e.u", "u.n", "ref", "eds", "ed", "al", "op", "viz", "dept", "min",
}
_SENTENCE_BREAK = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9•])")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves shall may might must
    upon whose within without per via""".split()
)
# Question words that say what kind of answer is wanted, not what it is about.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how does did do is are was were tell give
    name list describe explain say said according""".split()
)


def sentence_spans(text: str, start: int, end: int, lines_are_breaks: bool) -> list[tuple[int, int]]:
    """[start, end) ranges of the sentences in text[start:end], whitespace trimmed.

    With lines_are_breaks (text, markdown, HTML) each line is at least its own
    sentence; in PDFs lines wrap inside sentences, so only punctuation counts.
    """
    pieces: list[tuple[int, int]] = []
    segment_starts = [start]
    if lines_are_breaks:
        for match in re.finditer(r"\n", text[start:end]):
            segment_starts.append(start + match.end())
    segment_starts.append(end)
    for seg_start, seg_end in itertools.pairwise(segment_starts):
        pieces.extend(_split_punctuation(text, seg_start, seg_end))
    return [(a, b) for a, b in (_trim(text, a, b) for a, b in pieces) if b > a]


def _split_punctuation(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    cursor = start
    segment = text[start:end]
    for match in _SENTENCE_BREAK.finditer(segment):
        stop = start + match.end()
        before = text[cursor:start + match.start()]
        pieces = before.split()
        token = pieces[-1].lower().strip(".\"'(“‘") if pieces else ""
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            continue  # "U.S. Department", "Michael J.K. Kratsios", "e.g. this"
        if re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):
            continue  # dotted initials
        out.append((cursor, stop))
        cursor = stop
    out.append((cursor, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def words(text: str) -> list[str]:
    """The words of a text as they are written (letters, digits, inner apostrophes)."""
    return _WORD.findall(text)


_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # \w less the underscore: a letter or digit in any script


def has_letter_or_digit(text: str) -> bool:
    """True when the text holds a letter or a digit in any script (not only punctuation,
    symbols and emoji)."""
    return _LETTER_OR_DIGIT.search(text) is not None


def without_lone_surrogates(text: str) -> str:
    """The text with each lone UTF-16 surrogate (as a JSON "\\udcff" escape can carry, which no
    UTF-8 encoder accepts) replaced by U+FFFD; a surrogate pair written as two code points
    becomes the one character it encodes."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_CAMEL = re.compile(r"[a-z][A-Z]")


def split_camel(token: str) -> list[str]:
    """"EuropeanExternalActionServices" -> European, External, Action, Services."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", token)
    return parts or [token]


class GlueSplitter:
    """Splits words run together in the source ("collaborationwiththe") using a vocabulary.

    The vocabulary is the embedding model's whole-word pieces plus the corpus's own
    words; a glued token is split only when every part is a known word.
    """

    def __init__(self, vocabulary: Iterable[str], min_length: int = 10) -> None:
        self.vocabulary = frozenset(w.lower() for w in vocabulary if w.isalpha())
        self.min_length = min_length
        self._max_word = max((len(w) for w in self.vocabulary), default=1)
        self._long_word = re.compile(rf"[A-Za-z]{{{min_length},}}")

    def split_token(self, token: str) -> list[str]:
        parts: list[str] = []
        for piece in split_camel(token) if _CAMEL.search(token) else [token]:
            parts.extend(self._split_lower(piece))
        return parts

    @lru_cache(maxsize=65536)  # noqa: B019 - splitters live as long as the process; bounded
    def _split_lower(self, piece: str) -> tuple[str, ...]:
        lower = piece.lower()
        if len(lower) < self.min_length or lower in self.vocabulary or not lower.isalpha():
            return (piece,)
        # Fewest words wins; ties go to the split with the longest words.
        n = len(lower)
        best: list[tuple[int, int, int] | None] = [None] * (n + 1)  # (words, -sum sq, prev)
        best[0] = (0, 0, -1)
        for end in range(1, n + 1):
            for begin in range(max(0, end - self._max_word), end):
                prev = best[begin]
                word = lower[begin:end]
                if prev is None or word not in self.vocabulary:
                    continue
                if len(word) == 1 and word not in {"a", "i"}:
                    continue
                cand = (prev[0] + 1, prev[1] - len(word) ** 2, begin)
                current = best[end]
                if current is None or cand[:2] < current[:2]:
                    best[end] = cand
        if best[n] is None or best[n][0] < 2:  # type: ignore[index]
            return (piece,)
        cuts = []
        end = n
        while end > 0:
            entry = best[end]
            assert entry is not None
            cuts.append((entry[2], end))
            end = entry[2]
        return tuple(piece[a:b] for a, b in reversed(cuts))

    def readable(self, text: str) -> str:
        """The text with glued words spaced apart (for the embedding model to read)."""

        def fix(match: re.Match[str]) -> str:
            return " ".join(self.split_token(match.group(0)))

        return self._long_word.sub(fix, text)


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    """A light, predictable stemmer: plurals and a few common suffixes."""
    w = word.lower()
    if len(w) <= 3:
        return w
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ings", ""), ("ing", ""),
                                ("edly", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                return w
            if suffix == "es" and not w.endswith(("shes", "ches", "xes", "sses", "zes")):
                return _drop_e(w[:-1])
            return _drop_e(w[: len(w) - len(suffix)] + replacement)
    return _drop_e(w)


def _drop_e(w: str) -> str:
    # "bridge" and "bridging" both become "bridg" (Porter's final-e rule).
    return w[:-1] if len(w) > 4 and w.endswith("e") and not w.endswith("ee") else w


# The names policy texts give the same few actors: "U.S.", "US", "United States (of
# America)" are one term for keyword search (not the pronoun "us"), and so on.
_NAME_VARIANTS = (
    (re.compile(r"\b(?:United States(?: of America)?|U\.S\.A\.?|U\.S\.|USA|US)(?!\w)"), " USA "),
    (re.compile(r"\b(?:United Kingdom(?: of Great Britain and Northern Ireland)?|Great Britain|U\.K\.|UK)"
                r"(?!\w)"), " UK "),
    (re.compile(r"\b(?:European Union|E\.U\.|EU)(?!\w)"), " EU "),
    (re.compile(r"\b(?:United Nations|U\.N\.|UN)(?!\w)"), " UN "),
)


def canonical_names(text: str) -> str:
    """The text with each spelling of the US, UK, EU and UN written one way."""
    for pattern, name in _NAME_VARIANTS:
        text = pattern.sub(name, text)
    return text


# The adjectives of two of those actors ("Which British minister…?" where the documents write
# "United Kingdom"), not "British Columbia" or "Latin American".
# Nor part of a longer name: "American Express", "British Council", "Anglo-American".
_ADJECTIVES = (
    (re.compile(r"(?<!Latin )(?<!South )(?<!North )(?<!Central )(?<!Native )(?<!African )(?<!-)"
                r"\bAmericans?\b(?![ -][A-Z])"), "US"),
    (re.compile(r"(?<!-)\b(?:British|Britons?)\b(?![ -][A-Z])"), "UK"),
)


def adjectives_as_names(text: str, known: Callable[[str], bool]) -> str:
    """The text with "American(s)" and "British", "Briton(s)" written "US" and "UK" where the
    documents never use the word (`known(term)` is false for its keyword term), so that a
    question reads as the documents do."""
    for pattern, name in _ADJECTIVES:
        def as_name(match: re.Match[str], name: str = name) -> str:
            return match.group(0) if known(stem(match.group(0).lower())) else name
        text = pattern.sub(as_name, text)
    return text


def keyword_terms(text: str, splitter: GlueSplitter | None = None) -> list[str]:
    """Terms for keyword search: names made canonical, glued words split, lower-cased,
    stemmed, no stopwords."""
    out = []
    for token in words(canonical_names(text)):
        parts = splitter.split_token(token) if splitter else [token]
        for part in parts:
            lower = part.lower().replace("’", "'")
            if lower in STOPWORDS or (len(lower) == 1 and not lower.isdigit()):
                continue
            out.append(stem(lower))
    return out


def normalize_for_match(text: str) -> str:
    """Case-folded, whitespace collapsed, curly quotes and dashes made plain."""
    table = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-",
                           "‐": "-", "‑": "-", "−": "-", "\u00a0": " "})
    return " ".join(text.translate(table).casefold().split())
