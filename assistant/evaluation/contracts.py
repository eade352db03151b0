"""Contracts as question sets (`cuad` and `contractnli` in evaluation.sets): the contracts the
reading model held out of its training, written out on first use as a corpus of text files and a
question file in the dev set's format. Nothing from ../shared/train is committed; the files live
under index/.

CUAD (SQuAD 2.0 layout) asks "Highlight the parts (if any) of this contract related to X ...
Details: <what X is>"; the question is what follows "Details:", as the reader was trained on it.
ContractNLI asks whether each NDA entails a hypothesis ("Receiving Party shall not reverse engineer
..."); the hypothesis is the question, the spans annotated for it (entailed or contradicted) are
its evidence, and "NotMentioned" is unanswerable. Each annotated span is an evidence string, except
those too short to tell one place from another ("MA", "Company"); a question whose spans are all
that short is left out, one with none is unanswerable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..ingest.documents import slugify

MIN_EVIDENCE_WORDS = 3


Contract = tuple[str, str, list[tuple[str, str, list[str]]]]
"""(document id, text, its questions as (a key unique in the source, question, annotated spans:
none when unanswerable))."""


def write_contract_set(source: Path, folder: Path, documents: Iterable[str]) -> None:
    """Write folder/corpus/<doc>.txt and folder/questions.jsonl for the contracts of `source` (CUAD
    in SQuAD 2.0 layout, or ContractNLI's) named in `documents` (CUAD's titles, ContractNLI's ids);
    the folder appears whole or not at all."""
    wanted = set(documents)
    data = json.loads(source.read_text(encoding="utf-8"))
    contracts = _cuad(data, wanted) if "data" in data else _contractnli(data, wanted)
    staging = folder.with_name(folder.name + f".writing-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "corpus").mkdir(parents=True)
    lines = []
    for doc, text, questions in contracts:
        (staging / "corpus" / f"{doc}.txt").write_text(text, encoding="utf-8")
        for key, question, spans in questions:
            evidence = list(dict.fromkeys(a.strip() for a in spans if len(a.split()) >= MIN_EVIDENCE_WORDS))
            if spans and not evidence:
                continue
            qid = hashlib.sha1(key.encode()).hexdigest()[:16]
            lines.append(json.dumps({"id": qid, "question": question, "evidence": evidence,
                                     "answerable": bool(evidence), "doc": doc}, ensure_ascii=False))
    (staging / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def cuad_question(text: str) -> str:
    """CUAD asks "Highlight the parts (if any) ... Details: <what the clause is>": keep what."""
    return text.split("Details:", 1)[1].strip() if "Details:" in text else text.strip()


def nli_annotations(data: dict[str, Any], document: dict[str, Any]) -> Iterator[tuple[str, str, list[tuple[int, int]]]]:
    """A ContractNLI document's (hypothesis key, hypothesis, spans that speak to it as character
    offsets: none when "NotMentioned"); a hypothesis said to be covered with no span is left out."""
    hypotheses = {key: label["hypothesis"] for key, label in data["labels"].items()}
    spans = document["spans"]
    for key, annotation in document["annotation_sets"][0]["annotations"].items():
        mentioned = annotation["choice"] != "NotMentioned"
        answers = [(spans[i][0], spans[i][1]) for i in annotation["spans"]] if mentioned else []
        if mentioned and not answers:
            continue  # said to be covered, with no span to show where: no question to score
        yield key, hypotheses[key], answers


def _cuad(data: dict[str, Any], wanted: set[str]) -> Iterator[Contract]:
    for article in data["data"]:
        if article.get("title") not in wanted:
            continue
        for paragraph in article["paragraphs"]:
            questions = [(qa["id"], cuad_question(qa["question"]), [a["text"] for a in qa.get("answers") or []])
                         for qa in paragraph["qas"]]
            yield slugify(article["title"]), paragraph["context"], questions


def _contractnli(data: dict[str, Any], wanted: set[str]) -> Iterator[Contract]:
    for document in data["documents"]:
        if str(document["id"]) not in wanted:
            continue
        doc, text = f"nda-{document['id']}", document["text"]
        questions = [(f"{doc}/{key}", hypothesis, [text[a:b] for a, b in spans])
                     for key, hypothesis, spans in nli_annotations(data, document)]
        yield doc, text, questions
