"""Prints the evidence strength of answerable and unanswerable questions (abstention margin).

    .venv/bin/python benchmarks/abstention_margin.py

The threshold `abstain_below` (assistant/config.py) sits between the highest
unanswerable and the lowest answerable strength printed here.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from assistant.answer.answering import evidence_strength
from assistant.config import REPO_ROOT, Settings
from assistant.pipeline import Assistant, build_index

DEV = REPO_ROOT.parent / "shared" / "eval" / "dev_qa.jsonl"
# Our own calibration questions over the shipped corpus, beside the dev set.
ANSWERABLE = [
    "What is GPAI?", "When did Germany join the AI Partnership for Defense?",
    "Who hosts the GPAI Secretariat?", "What is the contract value of the EU human-centric AI project?",
    "What did the US and EU say about social scoring?",
    "Which countries does the EU project focus on for bilateral dialogues?",
    "What is the e-identity collaboration about?", "Where was the declaration signed?",
]
UNANSWERABLE = [
    "What is the EU AI Act's fine for prohibited practices?", "What did China say at the Bletchley Park summit?",
    "How many employees does OpenAI have?", "What is the population of Canada?",
    "What is the G7 Hiroshima AI Process code of conduct's first principle?", "Who is the president of France?",
]


def main() -> int:
    questions = [(q, True) for q in ANSWERABLE] + [(q, False) for q in UNANSWERABLE]
    if DEV.exists():
        for line in DEV.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            questions.append((item["question"], bool(item["answerable"])))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().with_overrides(index_dir=Path(tmp), progress=False)
        build_index(settings)
        assistant = Assistant(settings)
        rows = []
        for question, answerable in questions:
            query = assistant.retriever.analyse(question)
            rows.append((evidence_strength(assistant.retriever.search(query, 8)), answerable, question))
    rows.sort()
    for strength, answerable, question in rows:
        print(f"{strength:.3f}  {'answerable  ' if answerable else 'not covered '}  {question}")
    low = min(s for s, a, _ in rows if a)
    high = max(s for s, a, _ in rows if not a)
    print(f"\nlowest answerable {low:.3f}, highest unanswerable {high:.3f}, "
          f"threshold {settings.abstain_below:.3f}")
    return 0 if high < settings.abstain_below <= low else 1


if __name__ == "__main__":
    sys.exit(main())
