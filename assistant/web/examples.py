"""Example questions drawn from the corpus: "What is the <name>?" for the names it defines or uses most.

Names are runs of capitalised words ("Global Partnership on AI", "Trade and Technology
Council") holding a word for an institution, agreement or programme. A name the text
defines with an acronym ("... Council (TTC)") comes first. Candidates are kept only when
the assistant answers them (see `pick`), so every example shown works.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from ..types import Answer

_WORD = r"(?:[A-Z][A-Za-z-]*[a-z][A-Za-z-]*|[A-Z]{2,6}|R&D)"
_NAME = re.compile(rf"{_WORD}(?:[ \t]+(?:(?:of|on|for|and|the|in)[ \t]+)?{_WORD})+"
                   r"(?P<acronym>[ \t]+\([A-Z][A-Za-z&]{1,8}\))?")
# Words that make a name worth asking about ("the United States" is not).
_KINDS = frozenset("""Act Agency Alliance Agreement Center Centre Charter Code Commission Committee Conference
    Convention Council Declaration Dialogue Directive Forum Framework Fund Group Initiative Institute
    Network Observatory Office Organisation Organization Partnership Plan Platform Process Programme
    Program Project Recommendation Regulation Service Strategy Summit Treaty""".split())
_MAX_NAME_WORDS = 8


def candidate_questions(texts: Iterable[str], limit: int = 12) -> list[str]:
    """Questions about the names the texts define or use most, those first."""
    counts: Counter[str] = Counter()
    defined: Counter[str] = Counter()
    for text in texts:
        for match in _NAME.finditer(text):
            name = match.group(0).split(" (")[0].strip()
            tokens = name.split()
            if not _KINDS & set(tokens) or len(tokens) > _MAX_NAME_WORDS:
                continue
            counts[name] += 1
            defined[name] += bool(match.group("acronym"))
    names = sorted(counts, key=lambda n: (-defined[n], -counts[n], len(n)))
    # A name inside a longer one already asked about ("Technology Council") adds nothing.
    kept: list[str] = []
    for name in names:
        if not any(name in other or other in name for other in kept):
            kept.append(name)
    return [f"What is the {name}?" for name in kept[:limit]]


def pick(candidates: Iterable[str], ask: Callable[[str], Answer], wanted: int = 4) -> list[str]:
    """The first `wanted` candidates the assistant answers (does not abstain on)."""
    chosen: list[str] = []
    for question in candidates:
        if len(chosen) >= wanted:
            break
        if not ask(question).abstained:
            chosen.append(question)
    return chosen
