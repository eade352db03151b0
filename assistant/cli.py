"""Command line: `assistant index | add | remove | ask | eval | show | brief | serve`, a thin adapter over
the pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

from .atomic import write_atomically
from .briefing.references import DEFAULT_STYLE, STYLES
from .config import REPO_ROOT, Settings
from .errors import AssistantError
from .render import answer_to_json, passage_to_json, render_answer, render_passage, render_report


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(corpus_dir=args.corpus, index_dir=args.index, store=args.store,
                             ray=getattr(args, "ray", None),
                             allow_private_urls=True if getattr(args, "allow_private_urls", False) else None,
                             progress=False if getattr(args, "quiet", False) else None)


def _ensure_index(settings: Settings) -> None:
    from .indexing.opening import served_version, where_served
    from .pipeline import build_index

    if served_version(settings) is None:
        print(f"No index in {where_served(settings)} yet: building it from {settings.corpus_dir} ...",
              file=sys.stderr)
        report = build_index(settings, progress=lambda m: print(m, file=sys.stderr))
        print(render_report(report), file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    from .indexing.embedding import limit_kernel_cache
    from .pipeline import build_index

    limit_kernel_cache()
    settings = _settings(args)
    report = build_index(settings, full=args.full,
                         progress=None if args.json else (lambda m: print(m, file=sys.stderr)))
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False))
    else:
        print(render_report(report))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from .errors import CorpusError
    from .ingest.fetch import fetch, is_url
    from .ingest.uploads import save_page, save_upload

    settings = _settings(args)
    fetcher = partial(fetch, allow_private=settings.allow_private_urls)

    def add(item: str) -> tuple[str, bool]:
        if is_url(item):
            result = save_page(settings.corpus_dir, item, fetcher)
        else:
            path = Path(item).expanduser()
            if not path.is_file():
                raise CorpusError(f"{item}: no such file")
            result = save_upload(settings.corpus_dir, path.name, path.read_bytes())
        return result.message, bool(result.saved_as)

    return _change_corpus(settings, args.sources, add, args.no_index)


def cmd_remove(args: argparse.Namespace) -> int:
    from .ingest.removal import remove_document

    settings = _settings(args)
    # A name given twice is removed once.
    return _change_corpus(settings, dict.fromkeys(args.documents),
                          lambda which: (remove_document(settings.corpus_dir, which).message, True), args.no_index)


def _change_corpus(settings: Settings, items: Iterable[str], change: Callable[[str], tuple[str, bool]],
                   no_index: bool) -> int:
    """`change` each item of the corpus (its line printed, or `error: ...`), then update the
    index when anything changed (unless no_index); exit status 1 when any item failed."""
    from .errors import CorpusError
    from .indexing.embedding import limit_kernel_cache
    from .pipeline import build_index

    limit_kernel_cache()
    changed = failed = 0
    for item in items:
        try:
            message, done = change(item)
        except CorpusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(message)
        changed += done
    if changed and not no_index:
        report = build_index(settings, progress=lambda m: print(m, file=sys.stderr))
        print(render_report(report))
    return 1 if failed else 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import Assistant

    settings = _settings(args)
    _ensure_index(settings)
    assistant = Assistant(settings)
    doc_ids = set(args.doc) if args.doc else None
    for n, question in enumerate(args.questions):
        answer = assistant.ask(question, doc_ids)
        if args.json:
            print(json.dumps(answer_to_json(answer, args.style), ensure_ascii=False), flush=True)
        else:
            print(("\n" + "-" * 60 + "\n" if n else "") + render_answer(answer, args.style), flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .evaluation.questions import evaluate, read_questions, summarize
    from .indexing.opening import where_served
    from .pipeline import Assistant

    if args.beir:
        return _eval_beir(args)
    if not args.file:
        raise AssistantError("give a question file (FILE.jsonl) or --beir DIR")
    settings = _settings(args)
    questions = read_questions(Path(args.file))
    _ensure_index(settings)
    assistant = Assistant(settings)
    unknown = sorted({d for q in questions for d in q.doc_ids} - set(assistant.store.documents))
    if unknown:
        raise AssistantError(f"{args.file}: questions name documents this index does not hold: "
                             f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''} "
                             f"(index: {where_served(settings)}; --corpus/--index/--store choose another)")
    shown = settings.progress and len(questions) > 50
    results = list(tqdm(evaluate(questions, assistant.ask, time.perf_counter), total=len(questions),
                        desc="questions", unit="q", disable=not shown, file=sys.stderr))
    summary = summarize(results)
    if args.per_question:
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
        _write_atomically(Path(args.per_question), lines.encode("utf-8"), "the per-question results")
    if args.json:
        print(json.dumps(summary))
        return 0
    if len(results) <= 200 or not args.per_question:
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
    settings = Settings.from_env(corpus_dir=folder, index_dir=index, store=args.store,
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


def cmd_show(args: argparse.Namespace) -> int:
    from .indexing.opening import open_store
    from .pipeline import show_passage

    settings = _settings(args)
    _ensure_index(settings)
    served = open_store(settings)  # no model: showing a passage needs no search
    stale = False
    for n, passage_id in enumerate(args.ids):
        view = show_passage(settings, passage_id, served)
        stale = stale or view.status != "current"
        if args.json:
            print(json.dumps(passage_to_json(view, args.style), ensure_ascii=False), flush=True)
        else:
            print(("\n" + "-" * 60 + "\n" if n else "") + render_passage(view, args.style), flush=True)
    return 3 if stale else 0


def cmd_brief(args: argparse.Namespace) -> int:
    from .briefing.layout import to_markdown
    from .pipeline import Assistant

    questions = list(args.questions)
    if args.questions_file:
        try:
            text = Path(args.questions_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AssistantError(f"{args.questions_file}: cannot read the questions ({exc})") from exc
        questions += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not questions:
        raise AssistantError("give at least one question (or --questions-file FILE)")
    output = Path(args.output) if args.output else None
    kind = _briefing_kind(output)
    settings = _settings(args)
    _ensure_index(settings)
    assistant = Assistant(settings)
    briefing, problems = assistant.brief(questions, title=args.title)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if output is None:
        print(to_markdown(briefing, args.style))
        return 0
    if kind == "docx":
        from .briefing.docx_export import to_docx

        data = to_docx(briefing, args.style)
    else:
        data = to_markdown(briefing, args.style).encode("utf-8")
    _write_atomically(output, data)
    quotes = sum(len(item.citations) for item in briefing.items)
    sources = len({c.doc_id for item in briefing.items for c in item.citations})
    uncovered = sum(1 for item in briefing.items if not item.citations)
    print(f"Wrote {output}: {len(briefing.items)} questions, {quotes} quotes from {sources} documents"
          + (f", {uncovered} not covered by the documents" if uncovered else ""), file=sys.stderr)
    return 0


def _briefing_kind(output: Path | None) -> str:
    if output is None:
        return "markdown"
    suffix = output.suffix.lower()
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix == ".docx":
        return "docx"
    raise AssistantError(f"{output}: write a briefing to a .md or .docx file")


def _write_atomically(path: Path, data: bytes, what: str = "the briefing") -> None:
    """A failed export never leaves half a file where the old one was."""
    if not path.parent.is_dir():
        raise AssistantError(f"{path}: the folder {path.parent} does not exist")
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise AssistantError(f"{path}: cannot write {what} ({exc.strerror})") from exc


def cmd_serve(args: argparse.Namespace) -> int:
    from .web.access import EDITOR, READER, Access, parse_logins
    from .web.server import serve  # gradio is imported only by this command

    settings = _settings(args)
    logins = parse_logins(args.auth or [], args.auth_file, READER, "--auth") + \
        parse_logins(args.editor or [], args.editor_file, EDITOR, "--editor")
    access = Access.of(logins, open_editing=args.open_editing)
    _ensure_index(settings)
    serve(settings, host=args.host, port=args.port, access=access, extra_hosts=args.allowed_host or [])
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", type=Path, metavar="DIR",
                        help="folder of documents (default: the repo's corpus/; env ASSISTANT_CORPUS)")
    common.add_argument("--index", type=Path, metavar="DIR",
                        help="index folder (default: the repo's index/; env ASSISTANT_INDEX)")
    common.add_argument("--store", metavar="URL",
                        help="serve the index from Milvus: milvus://HOST:PORT/COLLECTION (a build stages "
                             "it in --index, then publishes it there); default: the embedded index in "
                             "--index (env ASSISTANT_STORE)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Answers questions about policy documents with verbatim, cited excerpts.",
        epilog="Example: assistant ask \"Which UK ministers signed the US-UK AI declaration?\"")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    styles = argparse.ArgumentParser(add_help=False)
    styles.add_argument("--style", choices=STYLES, default=DEFAULT_STYLE,
                        help=f"reference style (default: {DEFAULT_STYLE}; see docs/briefings.md)")

    p = sub.add_parser("index", parents=[common], help="build or update the index (incremental)",
                       description="Parse, chunk and embed the corpus. Unchanged documents are "
                                   "reused; the new index replaces the old one atomically.")
    p.add_argument("--full", action="store_true", help="rebuild everything from scratch (with --store: the "
                   "collections are written anew too, not updated document by document)")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.add_argument("--ray", metavar="auto|ADDRESS",
                   help="parse, chunk and embed in a Ray cluster: auto (the one running on this machine, "
                        "else a new local one) or its address, HOST:6379 or ray://HOST:10001; needs "
                        "pip install '.[distributed]' (env ASSISTANT_RAY)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("add", parents=[common], help="add web pages (by URL) or files to the corpus, then index",
                       description="Add web pages by address and files by path to the corpus folder, "
                                   "then update the index. A page is saved as the HTML the server sent, "
                                   "under its title, and what it states about itself (title, author, "
                                   "publisher, date, address) and the day it was retrieved go into "
                                   "metadata.json; adding the same address again updates that document. "
                                   "Files are checked as uploads are (type by content, no overwriting).",
                       epilog="Example: assistant add https://example.org/ai-statement report.pdf")
    p.add_argument("sources", nargs="+", metavar="URL|FILE", help="http(s) address or file path")
    p.add_argument("--no-index", action="store_true", help="only add; do not update the index")
    p.add_argument("--allow-private-urls", action="store_true", help="also fetch pages from this machine and "
                   "private networks (refused by default; env ASSISTANT_ALLOW_PRIVATE_URLS=1)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", parents=[common], help="take documents out of the corpus, then index",
                       description="Take documents out of the corpus folder, then update the index. "
                                   "Name each by its document id (the doc_id of `assistant ask --json`, "
                                   "or the web chat's Documents tab) or by its path relative to the "
                                   "corpus folder (a file that failed to index has only its path). "
                                   "Nothing is deleted: the file moves into the hidden folder "
                                   ".removed/ in the corpus, under a name that starts with the UTC "
                                   "time, and its metadata.json entry is kept beside it; move the "
                                   "file back to restore the document. Paths outside the corpus "
                                   "folder are refused.",
                       epilog="Example: assistant remove us-uk-ai-rd-declaration-2020 notes/draft.pdf")
    p.add_argument("documents", nargs="+", metavar="ID|PATH", help="document id, or path relative to the corpus")
    p.add_argument("--no-index", action="store_true", help="only remove; do not update the index")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("ask", parents=[common, styles], help="answer questions with cited excerpts",
                       description="Answer each question with verbatim excerpts from the corpus. "
                                   "Builds the index first if there is none.")
    p.add_argument("questions", nargs="+", metavar="QUESTION")
    p.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    p.add_argument("--doc", action="append", metavar="DOC_ID", help="only search this document (repeatable)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", parents=[common], help="score answers against a question file",
                       description="Hit@k, MRR, abstention rates, citations per answer and latency "
                                   "over a JSONL question file (id, question, evidence, answerable, "
                                   "kind, and an optional doc: a document id or a list of them, "
                                   "to ask that question only within those documents), or nDCG@10 "
                                   "and recall@100 on a BEIR data set (--beir).")
    p.add_argument("file", metavar="FILE.jsonl", nargs="?")
    p.add_argument("--json", action="store_true", help="print only the summary as one JSON object")
    p.add_argument("--beir", metavar="DIR", help="evaluate retrieval on a BEIR data set instead "
                   "(corpus.jsonl, queries.jsonl, qrels/); its index goes to --index "
                   "(default: index/beir/<name>)")
    p.add_argument("--per-question", metavar="FILE", help="also write one JSON line per question (id, "
                   "first_hit, abstained, citations, first_excerpt, ...) to FILE, for diagnosis")
    p.add_argument("--split", default="test", help="qrels split for --beir (default: test)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("show", parents=[common, styles], help="show a passage by its id, with context",
                       description="Print the passage a passage id names (as in a briefing's notes or "
                                   "`ask --json`'s passage_id), with the paragraphs around it and its "
                                   "reference. When the document has changed or gone since, it says "
                                   "so, shows the passage as it was, and where its text is now. Exit "
                                   "status 3 when an id is stale.",
                       epilog="Example: assistant show 'us-uk-ai-rd-declaration-2020#p19'")
    p.add_argument("ids", nargs="+", metavar="ID", help="passage id, e.g. doc#p12@a3f9c2 (the @version "
                   "may be left out: then the current version is shown)")
    p.add_argument("--json", action="store_true", help="one JSON object per id, one per line")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("brief", parents=[common, styles], help="write a briefing of cited answers",
                       description="Answer each question and write a briefing: the quotes under each "
                                   "question, numbered notes with their references and passage ids, "
                                   "and the list of sources. A question the documents do not cover "
                                   "says so. Markdown or Word, by the file's suffix.",
                       epilog='Example: assistant brief "When was the US-UK declaration signed?" '
                              '"What does the EU project fund?" -o briefing.docx')
    p.add_argument("questions", nargs="*", metavar="QUESTION")
    p.add_argument("-o", "--output", metavar="FILE", help="briefing.md or briefing.docx "
                   "(default: Markdown on standard output)")
    p.add_argument("--title", default="Briefing", help="the briefing's title (default: Briefing)")
    p.add_argument("--questions-file", metavar="FILE", help="more questions, one per line")
    p.set_defaults(func=cmd_brief)

    p = sub.add_parser("serve", parents=[common], help="the web chat in a browser",
                       description="Start the web chat (ask, read citations in context, make briefings; "
                                   "editors also add, edit and delete documents and rebuild the index). "
                                   "Builds the index first if there is none. Without logins the page is "
                                   "read-only unless started with --open-editing. Behind a TLS reverse "
                                   "proxy, give its public name with --allowed-host (docs/web-chat.md).",
                       epilog="Example: assistant serve --host 0.0.0.0 --auth-file readers.txt "
                              "--editor-file editors.txt --allowed-host assistant.example.org")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--auth", action="append", metavar="USER:PASSWORD",
                   help="require logins; this one is a reader: asks, opens citations, makes briefings "
                        "(repeatable); use logins before listening on a network")
    p.add_argument("--auth-file", type=Path, metavar="FILE",
                   help="reader logins from a file, one USER:PASSWORD per line (kept out of the process list)")
    p.add_argument("--editor", action="append", metavar="USER:PASSWORD",
                   help="an editor's login: also uploads, adds pages by URL, edits details, deletes "
                        "documents and rebuilds the index (repeatable)")
    p.add_argument("--editor-file", type=Path, metavar="FILE",
                   help="editor logins from a file, one USER:PASSWORD per line")
    p.add_argument("--open-editing", action="store_true",
                   help="everyone who can use the page may edit (without logins: anyone who reaches the "
                        "port); off by default, when only editors may")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a host name clients reach the server by, e.g. a reverse proxy's (repeatable); "
                        "requests naming any other host are refused (default: localhost names and --host)")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="pages may be added by URL from this machine and private networks "
                        "(refused by default; env ASSISTANT_ALLOW_PRIVATE_URLS=1)")
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
    except BrokenPipeError:
        # The reader (head, less) stopped reading: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
