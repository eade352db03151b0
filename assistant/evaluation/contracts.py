"""CUAD's contracts as a question set (`cuad` in evaluation.sets): the contracts the reading model
held out of its training, written out on first use as a corpus of text files and a question file
in the dev set's format. Nothing from ../shared/train is committed; the files live under index/.

CUAD asks "Highlight the parts (if any) of this contract related to X ... Details: <what X is>";
the question is what follows "Details:", as the reader was trained on it. Each annotated span is
an evidence string, except those too short to tell one place from another ("MA", "Company"); a
question whose spans are all that short is left out, one with none is unanswerable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..ingest.documents import slugify

MIN_EVIDENCE_WORDS = 3


def write_contract_set(source: Path, folder: Path, documents: Iterable[str]) -> None:
    """Write folder/corpus/<doc>.txt and folder/questions.jsonl for the contracts of `source` (CUAD
    in SQuAD 2.0 layout) whose titles are in `documents`; the folder appears whole or not at all."""
    wanted = set(documents)
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    staging = folder.with_name(folder.name + f".writing-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "corpus").mkdir(parents=True)
    lines = []
    for article in data:
        if article.get("title") not in wanted:
            continue
        doc = slugify(article["title"])
        for paragraph in article["paragraphs"]:
            (staging / "corpus" / f"{doc}.txt").write_text(paragraph["context"], encoding="utf-8")
            for qa in paragraph["qas"]:
                line = _question_line(doc, qa)
                if line is not None:
                    lines.append(json.dumps(line, ensure_ascii=False))
    (staging / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def _question_line(doc: str, qa: dict[str, object]) -> dict[str, object] | None:
    text = str(qa["question"])
    question = text.split("Details:", 1)[1].strip() if "Details:" in text else text.strip()
    answers = [str(a["text"]) for a in qa.get("answers") or [] if isinstance(a, dict)]  # type: ignore[attr-defined]
    evidence = list(dict.fromkeys(a.strip() for a in answers if len(a.split()) >= MIN_EVIDENCE_WORDS))
    if answers and not evidence:
        return None
    qid = hashlib.sha1(str(qa["id"]).encode()).hexdigest()[:16]
    return {"id": qid, "question": question, "evidence": evidence, "answerable": bool(evidence), "doc": doc}
