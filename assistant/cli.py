"""Command line: `assistant index | ask | eval | serve`, a thin adapter over the pipeline."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .config import REPO_ROOT, Settings
from .errors import AssistantError
from .types import Answer, BuildReport, Citation

_JSON_CITATION_KEYS = ("n", "chunk_id", "doc_id", "title", "page", "paragraph", "excerpt", "start",
                       "end", "score", "author", "publisher", "date", "source_type", "file")


def answer_to_json(answer: Answer) -> dict[str, object]:
    """The machine shape of an answer (other tools rely on these keys)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [_citation_json(c) for c in answer.citations],
        "closest": [_citation_json(c) for c in answer.closest],
        "searched": answer.searched,
    }


def _citation_json(citation: Citation) -> dict[str, object]:
    # The source file is "file", not "path": gradio_client takes any object with a "path"
    # key for a file to download, and /ask in the web chat returns this same object.
    data = {**asdict(citation), "file": citation.path}
    return {key: data[key] for key in _JSON_CITATION_KEYS}


def reference_line(citation: Citation) -> str:
    """Title — author, publisher, date, page, paragraph; unknown parts left out."""
    parts = [p for p in (citation.author, citation.publisher, citation.date) if p]
    where = []
    if citation.page is not None:
        where.append(f"p. {citation.page}")
    if citation.paragraph is not None:
        where.append(f"para. {citation.paragraph}")
    return ", ".join([citation.title, *parts, *where])


def render_answer(answer: Answer) -> str:
    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append(answer.text)
        if answer.closest:
            lines += ["", "Closest passages (not an answer):"]
            for c in answer.closest:
                lines += [f"  - {reference_line(c)}", f"    “{' '.join(c.excerpt.split())[:300]}”"]
        return "\n".join(lines)
    lines += [answer.text, "", "Sources:"]
    for c in answer.citations:
        lines += [f"[{c.n}] {reference_line(c)}", f"    “{' '.join(c.excerpt.split())}”",
                  f"    ({c.path}, chars {c.start}-{c.end}, id {c.chunk_id})"]
    return "\n".join(lines)


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


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(corpus_dir=args.corpus, index_dir=args.index,
                             progress=False if getattr(args, "quiet", False) else None)


def _ensure_index(settings: Settings) -> None:
    from . import store
    from .pipeline import build_index

    if store.current_version(settings.index_dir) is None:
        print(f"No index in {settings.index_dir} yet: building it from {settings.corpus_dir} ...",
              file=sys.stderr)
        report = build_index(settings, progress=lambda m: print(m, file=sys.stderr))
        print(render_report(report), file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    from .pipeline import build_index

    settings = _settings(args)
    report = build_index(settings, full=args.full,
                         progress=None if args.json else (lambda m: print(m, file=sys.stderr)))
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False))
    else:
        print(render_report(report))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import Assistant

    settings = _settings(args)
    _ensure_index(settings)
    assistant = Assistant(settings)
    doc_ids = set(args.doc) if args.doc else None
    for n, question in enumerate(args.questions):
        answer = assistant.ask(question, doc_ids)
        if args.json:
            print(json.dumps(answer_to_json(answer), ensure_ascii=False), flush=True)
        else:
            print(("\n" + "-" * 60 + "\n" if n else "") + render_answer(answer), flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, read_questions, summarize
    from .pipeline import Assistant

    if args.beir:
        return _eval_beir(args)
    if not args.file:
        raise AssistantError("give a question file (FILE.jsonl) or --beir DIR")
    settings = _settings(args)
    _ensure_index(settings)
    assistant = Assistant(settings)
    questions = read_questions(Path(args.file))
    results = evaluate(questions, assistant.ask, time.perf_counter)
    summary = summarize(results)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{'id':6} {'expect':9} {'got':9} {'hit@':4}  question")
    for r in results:
        expect = "answer" if r.question.answerable else (r.question.kind or "abstain")
        got = "abstain" if r.abstained else "answer"
        print(f"{r.question.qid:6} {expect:9} {got:9} {r.first_hit or '-'!s:4}  {r.question.question}")
    print()
    for key, value in summary.items():
        print(f"{key:20} {value}")
    return 0


def _eval_beir(args: argparse.Namespace) -> int:
    from .pipeline import evaluate_beir

    folder = Path(args.beir)
    index = args.index or Path(REPO_ROOT / "index" / "beir" / folder.name)
    settings = Settings.from_env(corpus_dir=folder, index_dir=index,
                                 progress=False if args.quiet or args.json else None)
    result = evaluate_beir(settings, folder, args.split,
                           progress=None if args.json else (lambda m: print(m, file=sys.stderr)))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'retrieval':10} {'ndcg@10':>8} {'recall@100':>11}")
    for label, prefix in (("hybrid", ""), ("dense", "dense_"), ("keyword", "keyword_")):
        print(f"{label:10} {result[prefix + 'ndcg@10']:8.4f} {result[prefix + 'recall@100']:11.4f}")
    print(f"\n{result['queries']} queries ({result['split']}), {result['documents']} documents, "
          f"{result['chunks']} chunks; index {result['index_seconds']} s, search "
          f"{result['search_seconds']} s, total {result['total_seconds']} s")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui import parse_auth, serve  # gradio is imported only by this command

    settings = _settings(args)
    auth = parse_auth(args.auth or [], args.auth_file)
    _ensure_index(settings)
    serve(settings, host=args.host, port=args.port, auth=auth)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", type=Path, metavar="DIR",
                        help="folder of documents (default: the repo's corpus/; env ASSISTANT_CORPUS)")
    common.add_argument("--index", type=Path, metavar="DIR",
                        help="index folder (default: the repo's index/; env ASSISTANT_INDEX)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Answers questions about policy documents with verbatim, cited excerpts.",
        epilog="Example: assistant ask \"Which UK ministers signed the US-UK AI declaration?\"")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="build or update the index (incremental)",
                       description="Parse, chunk and embed the corpus. Unchanged documents are "
                                   "reused; the new index replaces the old one atomically.")
    p.add_argument("--full", action="store_true", help="rebuild everything from scratch")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", parents=[common], help="answer questions with cited excerpts",
                       description="Answer each question with verbatim excerpts from the corpus. "
                                   "Builds the index first if there is none.")
    p.add_argument("questions", nargs="+", metavar="QUESTION")
    p.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    p.add_argument("--doc", action="append", metavar="DOC_ID", help="only search this document (repeatable)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", parents=[common], help="score answers against a question file",
                       description="Hit@k, MRR and abstention rates over a JSONL question file "
                                   "(id, question, evidence, answerable, kind), or nDCG@10 and "
                                   "recall@100 on a BEIR data set (--beir).")
    p.add_argument("file", metavar="FILE.jsonl", nargs="?")
    p.add_argument("--json", action="store_true", help="print only the summary as one JSON object")
    p.add_argument("--beir", metavar="DIR", help="evaluate retrieval on a BEIR data set instead "
                   "(corpus.jsonl, queries.jsonl, qrels/); its index goes to --index "
                   "(default: index/beir/<name>)")
    p.add_argument("--split", default="test", help="qrels split for --beir (default: test)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", parents=[common], help="the web chat in a browser",
                       description="Start the web chat (ask, read citations in context, rebuild the "
                                   "index, add documents). Builds the index first if there is none.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--auth", action="append", metavar="USER:PASSWORD",
                   help="require this login (repeatable); use it before listening on a network")
    p.add_argument("--auth-file", type=Path, metavar="FILE",
                   help="logins from a file, one USER:PASSWORD per line (kept out of the process list)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
