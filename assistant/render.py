"""Answers, passages and build reports as text for people and as the `--json` objects for machines.

Every adapter (the CLI, the web chat and its /ask API) renders through here, so the shapes
other tools rely on are defined once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from .briefing.references import DEFAULT_STYLE, locator, reference
from .pageview.links import page_image_path, source_link
from .types import Answer, BuildReport, Citation, one_line

if TYPE_CHECKING:
    from .indexing.archive import PassageView


_JSON_CITATION_KEYS = ("n", "chunk_id", "doc_id", "title", "page", "paragraph", "excerpt", "start",
                       "end", "score", "author", "publisher", "date", "source_type", "file", "passage_id",
                       "url", "ocr", "retrieved", "answer")


def answer_to_json(answer: Answer, style: str = DEFAULT_STYLE) -> dict[str, object]:
    """The machine shape of an answer (other tools rely on these keys)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [_citation_json(c, style) for c in answer.citations],
        "closest": [_citation_json(c, style) for c in answer.closest],
        "searched": answer.searched,
    }


def _citation_json(citation: Citation, style: str) -> dict[str, object]:
    # The metadata's fields stand beside the citation's own, not under "meta". The source file
    # is "file", not "path": gradio_client takes any object with a "path" key for a file to
    # download, and /ask in the web chat returns this same object.
    data = {**asdict(citation), **asdict(citation.meta), "file": citation.path}
    return {**{key: data[key] for key in _JSON_CITATION_KEYS}, "page_image": page_image_path(citation),
            "source_link": source_link(citation),
            "reference": reference(citation, style), "reference_markdown": reference(citation, style, "markdown")}


def render_answer(answer: Answer, style: str = DEFAULT_STYLE) -> str:
    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append(answer.text)
        if answer.closest:
            lines += ["", "Closest passages (not an answer):"]
            for c in answer.closest:
                lines += [f"  - {reference(c, style)}", f"    “{one_line(c.excerpt)[:300]}”"]
        return "\n".join(lines)
    lines += [answer.text, "", "Sources:"]
    for c in answer.citations:
        lines += [f"[{c.n}] {reference(c, style)}", f"    “{one_line(c.excerpt)}”",
                  f"    ({c.path}, chars {c.start}-{c.end})"]
    return "\n".join(lines)


def render_passage(view: PassageView, style: str = DEFAULT_STYLE) -> str:
    """`assistant show`: the passage, its neighbours, its reference; what changed, if anything."""
    doc = view.document
    where = locator(view.as_citation())
    under = f" · under “{view.paragraph.heading}”" if view.paragraph.heading else ""
    lines = [f"{view.passage_id}  ({_STATUS[view.status]})",
             f"{doc.meta.title or doc.doc_id} · {doc.path} · {where}{under}", ""]
    if view.status != "current":
        when = f" (indexed {view.indexed_at})" if view.indexed_at else ""
        lines += [f"STALE: this id names an earlier version of {doc.doc_id}{when}; "
                  + ("the document has changed since." if view.status == "changed"
                     else "the document is no longer in the corpus."),
                  "The passage as it was:", ""]
    if view.before:
        lines += [f"    … {_tail(doc.text[view.before.start:view.before.end])}", ""]
    lines += [f"  > {line}" for line in view.text.splitlines() if line.strip()]
    if view.after:
        lines += ["", f"    {_head(doc.text[view.after.start:view.after.end])} …"]
    lines += ["", f"Reference ({style}): {reference(view.as_citation(), style)}"]
    if view.status == "changed":
        lines.append("")
        if view.whole:
            lines.append(f"Its text is unchanged in the current version, at {view.relocations[0].passage_id}")
        elif view.relocations:
            lines.append("Parts of it still occur in the current version:")
            lines += [f"  {r.passage_id}: “{one_line(r.text)}”" for r in view.relocations]
        else:
            lines.append("None of its text occurs in the current version.")
    return "\n".join(lines)


_STATUS = {"current": "current", "changed": "stale: document changed", "removed": "stale: document removed"}


def _tail(text: str, words: int = 25) -> str:
    return " ".join(text.split()[-words:])


def _head(text: str, words: int = 25) -> str:
    return " ".join(text.split()[:words])


def passage_to_json(view: PassageView, style: str = DEFAULT_STYLE) -> dict[str, object]:
    doc, para = view.document, view.paragraph
    citation = view.as_citation()
    return {
        "passage_id": view.passage_id, "asked": view.asked, "status": view.status,
        "doc_id": doc.doc_id, "title": doc.meta.title, "file": doc.path, "page": citation.page,
        "paragraph": para.number, "text": view.text, "start": para.start, "end": para.end,
        "context_before": doc.text[view.before.start:view.before.end] if view.before else "",
        "context_after": doc.text[view.after.start:view.after.end] if view.after else "",
        "reference": reference(citation, style), "reference_markdown": reference(citation, style, "markdown"),
        "indexed_at": view.indexed_at,
        "whole_text_now_at": view.relocations[0].passage_id if view.whole else "",
        "now_at": [asdict(r) for r in view.relocations],
        # The page image of a current PDF passage (a changed PDF's pages no longer hold it).
        "page_image": page_image_path(citation) if view.status == "current" else None,
        "source_link": source_link(citation),
    }


def render_report(report: BuildReport) -> str:
    lines = [f"Indexed {report.total_chunks} chunks from "
             f"{len(report.added) + len(report.changed) + len(report.unchanged)} documents "
             f"({report.embedded_chunks} embedded, {report.reused_chunks} reused) "
             f"in {report.seconds:.1f} s -> {report.index_dir}"]
    for label, items in (("added", report.added), ("changed", report.changed),
                         ("removed", report.removed)):
        lines += [f"  {label + ':':9}{item}" for item in items]
    if not (report.added or report.changed or report.removed):
        lines.append("  nothing changed since the last build")
    lines += [f"  failed:  {f.path}: {f.reason}" for f in report.failed]
    return "\n".join(lines)
