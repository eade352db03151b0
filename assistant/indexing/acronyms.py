"""Pure: acronyms a corpus defines ("Trade and Technology Council (TTC)") and their expansion."""

from __future__ import annotations

import re
from collections.abc import Iterable

_DEFINITION = re.compile(r"\(([A-Z][A-Za-z&.]{1,11})\)")
_LINKING = {"and", "of", "for", "on", "the", "in", "to", "de", "&"}


def _letters(acronym: str) -> str:
    return "".join(ch for ch in acronym if ch.isupper())


def _contribution(word: str) -> str:
    """What a word adds to an acronym: all of it when it is itself upper case ("AI")."""
    return word.upper() if word.isupper() and len(word) <= 4 else word[:1].upper()


def find_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """{"TTC": "Trade and Technology Council", ...} from "Long Name (ACR)" definitions."""
    found: dict[str, str] = {}
    for text in texts:
        for match in _DEFINITION.finditer(text):
            acronym = match.group(1).rstrip(".")
            letters = _letters(acronym)
            if len(letters) < 3 or acronym in found:  # two-letter ones (AI, EU) are everywhere
                continue
            before = re.findall(r"[A-Za-z][A-Za-z']*", text[max(0, match.start() - 160):match.start()])
            expansion = _match_words(before, letters)
            if expansion:
                found[acronym] = expansion
    return found


def _match_words(words: list[str], letters: str) -> str | None:
    for size in range(1, min(12, len(words)) + 1):
        tail = words[-size:]
        if tail[0].lower() in _LINKING:
            continue
        initials = "".join(_contribution(w) for w in tail if w.lower() not in _LINKING)
        if initials == letters:
            return " ".join(tail)
        if len(initials) > len(letters):
            return None
    return None


def written_out(acronym: str, texts: Iterable[str]) -> str | None:
    """The first words of the texts whose initials spell the acronym, linking words aside
    ("North Atlantic Treaty Organization" for NATO), without defining it; or None."""
    letters = _letters(acronym)
    if len(letters) < 2:
        return None
    for text in texts:
        words = re.findall(r"[A-Za-z][A-Za-z']*", text)
        for start, word in enumerate(words):
            if word[0] != letters[0]:  # letters are capitals: the run opens with a capitalised word
                continue
            initials = ""
            for end, w in enumerate(words[start:start + 2 * len(letters)], start=start + 1):
                if w.lower() in _LINKING:
                    continue
                if not w[0].isupper():
                    break
                initials += _contribution(w)
                if initials == letters:
                    return " ".join(words[start:end])
                if not letters.startswith(initials):
                    break
    return None


def expand(text: str, acronyms: dict[str, str], keep: bool = True) -> str:
    """The text with each known acronym followed by its expansion in brackets (`keep`), or
    replaced by it."""
    if not acronyms:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(a) for a in sorted(acronyms, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: f"{m.group(1)} ({acronyms[m.group(1)]})" if keep else acronyms[m.group(1)], text)
