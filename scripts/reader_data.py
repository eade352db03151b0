"""Training and held-out examples for the reading model, from the public sets in ../shared/train
and ../shared/eval (scripts/train_reader.py; their README says what each set is).

A question becomes a Group: the question with a few short texts (windows of 1-4 consecutive
sentences of its document, the kind of excerpt the assistant quotes). In an answerable group the
first window holds the answer and the others do not; in an unanswerable group none does. Every
document is either trained on or held out (`held_out`), never both.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.evaluation.contracts import cuad_question, nli_annotations
from assistant.ingest.textnorm import STOPWORDS, keyword_terms, sentence_spans

WINDOW_WORDS = 90  # a window stops growing past this many words
NEGATIVES = 2  # windows that do not answer, per group
HIDE_ANSWER = 0.15  # share of answerable questions also shown only their non-answering windows


@dataclass(frozen=True)
class Pair:
    """One (question, text) reading: does the text answer, and where ([start, end) in text)."""

    question: str
    text: str
    answers: bool
    span: tuple[int, int] | None = None  # None: the answer's words are not marked (or there are none)


@dataclass(frozen=True)
class Group:
    source: str
    doc: str
    pairs: tuple[Pair, ...]  # the answering one first, when there is one

    @property
    def answerable(self) -> bool:
        return any(p.answers for p in self.pairs)


@dataclass(frozen=True)
class Question:
    """A question about one document: its text, and the answers as character spans of the document."""

    source: str
    doc: str
    text: str  # the document (or paragraph) the question was asked about
    question: str
    answers: tuple[tuple[int, int], ...]  # empty: the text does not answer
    mark: bool = True  # False: the spans are evidence passages, not short answers to mark
    near: tuple[tuple[int, int], ...] = ()  # spans close to what is asked that do not answer it (swapped)


def held_out(source: str, doc: str, share: float) -> bool:
    """Whether a document is kept for reporting: a stable hash of its name, `share` of them."""
    digest = int(hashlib.sha256(f"{source}/{doc}".encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < share


# --- readers of each set -------------------------------------------------------------------


def squad_questions(path: Path, source: str, unanswerable_only: bool = False) -> Iterator[Question]:
    """SQuAD layout (SQuAD 1.1/2.0, CUAD, COVID-QA): one Question per question and paragraph."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    for n, article in enumerate(data):
        doc = str(article.get("title") or f"{source}-{n}")
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible")) or not qa.get("answers")
                if unanswerable_only and not impossible:
                    continue
                spans = () if impossible else tuple(_located(context, a["text"], a["answer_start"])
                                                    for a in qa["answers"])
                spans = tuple(s for s in spans if s is not None)
                if not impossible and not spans:
                    continue  # the answer text is not where it is said to be: skip the question
                yield Question(source, doc, context, cuad_question(qa["question"]), spans)  # type: ignore[arg-type]


def _located(context: str, text: str, start: int) -> tuple[int, int] | None:
    """The answer's span: at its offset, else the nearest place the text occurs (COVID-QA's
    offsets are sometimes a character or two off)."""
    if context[start:start + len(text)] == text:
        return start, start + len(text)
    places = [m.start() for m in re.finditer(re.escape(text), context)] if text else []
    if not places:
        return None
    best = min(places, key=lambda p: abs(p - start))
    return best, best + len(text)


def contractnli_questions(path: Path) -> Iterator[Question]:
    """ContractNLI: each NDA x hypothesis; NotMentioned is unanswerable, the others are answered
    by the annotated spans (whole clauses: evidence, not a short answer to mark)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for document in data["documents"]:
        for _key, hypothesis, answers in nli_annotations(data, document):
            yield Question("contractnli", str(document["id"]), document["text"], hypothesis, tuple(answers), mark=False)


def policyqa_questions(folder: Path) -> Iterator[Question]:
    """PolicyQA dev: each question over its whole policy; the evidence span inside its segment."""
    texts: dict[str, str] = {}
    for line in (folder / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["doc"] not in texts:
            texts[row["doc"]] = (folder / "corpus" / f"{row['doc']}.txt").read_text(encoding="utf-8")
        text = texts[row["doc"]]
        place = text.find(row["segment"])
        if place < 0:
            continue
        evidence = row["evidence"][0]
        inside = row["segment"].find(evidence)
        if inside < 0:
            continue
        start = place + inside
        yield Question("policyqa", row["doc"], text, row["question"], ((start, start + len(evidence)),))


def squad2_eval_questions(folder: Path) -> Iterator[Question]:
    """../shared/eval/squad2: each question over the paragraph it was asked about (`segment`)."""
    for line in (folder / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        paragraph = row["segment"]
        places = [(paragraph.find(e), len(e)) for e in row["evidence"] if e]
        spans = [(at, at + length) for at, length in places if at >= 0]
        if row["answerable"] and not spans:
            continue
        yield Question("squad2", row["doc"], paragraph, row["question"], tuple(spans) if row["answerable"] else ())


def asked_elsewhere(questions: Sequence[Question], rng: random.Random) -> list[Question]:
    """Each question put to another paragraph of its document that does not hold its answer: a
    text on the same subject that does not answer (what a search offers for a question the
    documents do not cover)."""
    by_doc: dict[str, dict[str, str]] = {}  # each document's paragraphs in order, and each lower-cased
    for q in questions:
        paragraphs = by_doc.setdefault(q.doc, {})
        if q.text not in paragraphs:
            paragraphs[q.text] = q.text.lower()
    out = []
    for q in questions:
        answers = [answer for answer in (q.text[a:b].lower() for a, b in q.answers) if answer]
        others = [t for t, lowered in by_doc[q.doc].items()
                  if t != q.text and not any(answer in lowered for answer in answers)]
        if others:
            out.append(Question(q.source, q.doc, rng.choice(others), q.question, ()))
    return out


WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}|\d{2,}")


def swapped(questions: Sequence[Question], rng: random.Random) -> list[Question]:
    """Each answerable question with one of its words that its paragraph holds swapped for a word
    of the same kind (a name, a number, a lower-case word) from elsewhere in its document that the
    paragraph lacks: "When was Twilight Princess launched?" over a paragraph about Twilight
    Princess becomes "When was Australia Princess launched?". The paragraph no longer answers it.
    This is how SQuAD 2.0's writers made most of its unanswerable questions (Rajpurkar et al.
    2018), and the kind of close text the reader must learn to refuse; SQuAD 2.0's own are few here."""
    words_of: dict[str, dict[str, list[str]]] = {}
    for q in questions:
        kinds = words_of.setdefault(q.doc, {})
        for word in dict.fromkeys(WORD.findall(q.text)):
            if word.lower() not in STOPWORDS:
                kinds.setdefault(_kind(word), []).append(word)
    out = []
    for q in questions:
        if not q.answers:
            continue
        held = _folded_terms(q.text)
        asked = [w for w in dict.fromkeys(WORD.findall(q.question)[1:])
                 if _folded_terms(w) and _folded_terms(w) <= held]
        names = [w for w in asked if _kind(w) != "word"]
        if not asked:
            continue
        word = rng.choice(names if names and rng.random() < 0.7 else asked)
        kin = words_of[q.doc].get(_kind(word), [])
        tried = (kin[rng.randrange(len(kin))] for _ in range(min(40, len(kin))))
        avoid = held | _folded_terms(q.question)
        other = next((w for w in tried if _folded_terms(w) and not _folded_terms(w) & avoid), None)
        if other is None:
            continue
        question = re.sub(rf"\b{re.escape(word)}\b", other, q.question, count=1)
        out.append(Question(q.source, q.doc, q.text, question, (), mark=q.mark, near=q.answers[:1]))
    return out


@functools.lru_cache(maxsize=100_000)
def _folded_terms(text: str) -> frozenset[str]:
    """Keyword terms with accents dropped ("Beyoncé" and "Beyonce" are one word)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return frozenset(keyword_terms(plain))


def _kind(word: str) -> str:
    return "number" if word.isdigit() else "name" if word[0].isupper() else "word"


# --- questions -> groups of windows --------------------------------------------------------


@functools.lru_cache(maxsize=64)
def sentences(text: str) -> list[tuple[int, int]]:
    return sentence_spans(text, 0, len(text), lines_are_breaks=True)


def window_around(spans: Sequence[tuple[int, int]], first: int, last: int, rng: random.Random,
                  text: str) -> tuple[int, int]:
    """Sentences first..last grown by a random number of neighbours, within WINDOW_WORDS."""
    grow = rng.randint(0, 2)
    for _ in range(grow):
        side = rng.random() < 0.5
        if side and first > 0 and _words(text, spans[first - 1][0], spans[last][1]) <= WINDOW_WORDS:
            first -= 1
        elif last + 1 < len(spans) and _words(text, spans[first][0], spans[last + 1][1]) <= WINDOW_WORDS:
            last += 1
    return first, last


def _words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())


def random_windows(spans: Sequence[tuple[int, int]], rng: random.Random, count: int,
                   text: str) -> list[tuple[int, int]]:
    out = []
    for _ in range(count):
        first = rng.randrange(len(spans))
        out.append(window_around(spans, first, first, rng, text))
    return out


def hardest(question: str, text: str, spans: Sequence[tuple[int, int]], windows: list[tuple[int, int]],
            count: int) -> list[tuple[int, int]]:
    """The windows sharing the most words with the question (the ones a search would offer)."""
    wanted = set(keyword_terms(question))

    def overlap(window: tuple[int, int]) -> int:
        return len(wanted & _terms(text[spans[window[0]][0]:spans[window[1]][1]]))
    unique = list(dict.fromkeys(windows))
    return sorted(unique, key=overlap, reverse=True)[:count]


@functools.lru_cache(maxsize=200_000)
def _terms(piece: str) -> frozenset[str]:
    """A window's keyword terms (asked again for each question about the same document)."""
    return frozenset(keyword_terms(piece))


def group_of(q: Question, rng: random.Random, negatives: int = NEGATIVES, hide: float = HIDE_ANSWER) -> Group | None:
    """The question with one answering window (if it is answerable) and `negatives` that are not."""
    spans = sentences(q.text)
    if not spans:
        return None
    answer_texts = [q.text[a:b].lower() for a, b in q.answers]

    def clean(window: tuple[int, int]) -> bool:
        start, end = spans[window[0]][0], spans[window[1]][1]
        body = q.text[start:end].lower()
        return not any(a < end and b > start for a, b in q.answers) and not any(t and t in body for t in answer_texts)

    offered = [w for w in random_windows(spans, rng, 12, q.text) if clean(w)]
    pairs = []
    if not q.answers:
        negative = [w for w in (window_of(spans, a, b, rng, q.text) for a, b in q.near[:1]) if w]
        negative += hardest(q.question, q.text, spans, [w for w in offered if w not in negative],
                            negatives + 1 - len(negative))
    else:
        negative = hardest(q.question, q.text, spans, offered, max(1, negatives - 1))
        negative += [w for w in offered if w not in negative][: negatives - len(negative)]
        if rng.random() >= hide:  # else the answer is hidden: only windows that do not hold it
            a, b = q.answers[0]
            window = window_of(spans, a, b, rng, q.text)
            if window is None:
                return None  # an answer longer than any quote
            start, end = spans[window[0]][0], spans[window[1]][1]
            span = (a - start, b - start) if q.mark and start <= a and b <= end else None
            pairs.append(Pair(q.question, q.text[start:end], True, span))
    pairs += [Pair(q.question, q.text[spans[first][0]:spans[last][1]], False) for first, last in negative]
    if len(pairs) < 2:
        return None
    return Group(q.source, q.doc, tuple(pairs))


def window_of(spans: Sequence[tuple[int, int]], a: int, b: int, rng: random.Random,
              text: str) -> tuple[int, int] | None:
    """A window (first and last sentence) holding text[a:b], None if that is longer than a quote."""
    first = next((i for i, (s, e) in enumerate(spans) if e > a), len(spans) - 1)
    last = next((i for i, (s, e) in enumerate(spans) if e >= b), len(spans) - 1)
    if _words(text, spans[first][0], spans[last][1]) > WINDOW_WORDS * 2:
        return None
    return window_around(spans, first, last, rng, text)


def groups(questions: Sequence[Question], rng: random.Random, limit: int, hide: float = HIDE_ANSWER) -> list[Group]:
    """Up to `limit` groups from a random sample of the questions (`hide`: see group_of)."""
    chosen = list(questions)
    rng.shuffle(chosen)
    out = []
    for q in chosen:
        if len(out) >= limit:
            break
        group = group_of(q, rng, hide=hide)
        if group is not None:
            out.append(group)
    return out
