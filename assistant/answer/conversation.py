"""Pure: a follow-up question and the conversation so far -> the query sent to retrieval.

"When was it signed?" or "And what did the UK commit to?" mean nothing on their own;
they are searched together with the topic of the turn before (which, for a chain of
follow-ups, already carries the topic of the turn before that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..ingest.textnorm import QUESTION_WORDS, STOPWORDS

# Openers that continue the previous question rather than start a new one.
_OPENERS = re.compile(r"^(?:and|but|also|so|then|what about|how about|same for|as for|and what about)\b",
                      re.IGNORECASE)
# Words that point back at something named earlier.
_REFERRING = frozenset("""it its it's they them their theirs he him his she her hers this these those
                          that there such former latter same""".split())
_TOKEN = re.compile(r"[A-Za-z0-9][\w’'&.-]*[A-Za-z0-9]|[A-Za-z0-9]")
MAX_TOPIC_WORDS = 10
"""At most this many words of earlier turns are added to a follow-up."""
MAX_STANDALONE_CONTENT = 4
"""A question with a referring word and at most this many content words is a follow-up."""


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was asked and what retrieval read for it."""

    question: str
    searched: str


def content_words(text: str) -> list[str]:
    """The words that say what a text is about, as written, in order, without repeats."""
    seen: set[str] = set()
    out: list[str] = []
    for token in _TOKEN.findall(text):
        lower = token.lower().replace("’", "'")
        if lower in STOPWORDS or lower in QUESTION_WORDS or lower in _REFERRING or lower in seen:
            continue
        if len(lower) == 1 and not lower.isdigit():
            continue
        seen.add(lower)
        out.append(token)
    return out


def is_follow_up(question: str) -> bool:
    """True when the question leans on an earlier one (an opener, a pronoun, too few words)."""
    text = " ".join(question.split())
    if not text:
        return False
    if _OPENERS.match(text):
        return True
    tokens = {t.lower().replace("’", "'") for t in _TOKEN.findall(text)}
    content = content_words(text)
    if tokens & _REFERRING and len(content) <= MAX_STANDALONE_CONTENT:
        return True
    return len(content) <= 1


def search_query(question: str, history: Sequence[Turn]) -> str:
    """What to search for: the question itself, or a follow-up plus the earlier topic."""
    text = " ".join(question.split())
    if not history or not is_follow_up(text):
        return text
    asked = {w.lower() for w in content_words(text)}
    topic = [w for w in content_words(history[-1].searched) if w.lower() not in asked]
    if not topic:
        return text
    return f"{text} {' '.join(topic[:MAX_TOPIC_WORDS])}"
