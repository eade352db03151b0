"""A BEIR data set (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) -> documents and scores."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssistantError
from ..ingest.structure import segment
from ..types import Document, DocumentMeta


@dataclass(frozen=True)
class BeirData:
    """Queries that have judgements in the split, and the judgements."""

    documents: tuple[Document, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> {corpus id: relevance}


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; each corpus entry becomes a Document whose doc_id is its _id."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.exists():
            available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            raise AssistantError(f"{path}: not found (a BEIR folder has corpus.jsonl, queries.jsonl "
                                 f"and qrels/<split>.tsv; splits here: {', '.join(available) or 'none'})")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {}
    for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if str(item["_id"]) in qrels:
                queries[str(item["_id"])] = item["text"]
    documents = []
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            documents.append(beir_document(str(item["_id"]), item.get("title", ""), item.get("text", "")))
    return BeirData(tuple(d for d in documents if d is not None), queries, qrels)


def beir_document(doc_id: str, title: str, text: str) -> Document | None:
    """A corpus entry as a Document; the title goes into metadata (and the embedding prefix)."""
    text = text.strip()
    if not text:
        text = title.strip()
    if not text:
        return None
    blocks = segment(text)
    if not any(b.role in {"body", "byline"} for b in blocks):
        return None
    return Document(doc_id=doc_id, path=f"corpus.jsonl#{doc_id}", meta=DocumentMeta(title=title),
                    text=text, content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    blocks=blocks)


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance (the BEIR / trec_eval definition, linear gain)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    wanted = {d for d, r in relevant.items() if r > 0}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0
