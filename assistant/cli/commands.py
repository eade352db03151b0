"""What each `assistant` subcommand does, over the pipeline: one cmd_* function per command,
taking the parsed arguments and returning the exit status."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_atomically
from ..config import REPO_ROOT, Settings
from ..errors import AssistantError, SourceChangedError
from ..render import answer_to_json, passage_to_json, render_answer, render_passage, render_report

if TYPE_CHECKING:
    from ..briefing.layout import Briefing
    from ..indexing.archive import PassageView
    from ..indexing.passage_store import PassageStore
    from ..pipeline import Assistant


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(corpus_dir=args.corpus, index_dir=args.index, store=args.store,
                             ray=getattr(args, "ray", None),
                             allow_private_urls=True if getattr(args, "allow_private_urls", False) else None,
                             progress=False if getattr(args, "quiet", False) else None)


def _ensure_index(settings: Settings) -> None:
    from ..indexing.opening import served_version, where_served
    from ..pipeline import build_index

    if served_version(settings) is None:
        print(f"No index in {where_served(settings)} yet: building it from {settings.corpus_dir} ...",
              file=sys.stderr)
        report = build_index(settings, progress=lambda m: print(m, file=sys.stderr))
        print(render_report(report), file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    from ..indexing.embedding import limit_kernel_cache
    from ..pipeline import build_index

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
    from ..errors import CorpusError
    from ..ingest.fetch import fetch, is_url
    from ..ingest.uploads import save_page, save_upload

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
    from ..ingest.removal import remove_document

    settings = _settings(args)
    # A name given twice is removed once.
    return _change_corpus(settings, dict.fromkeys(args.documents),
                          lambda which: (remove_document(settings.corpus_dir, which).message, True), args.no_index)


def _change_corpus(settings: Settings, items: Iterable[str], change: Callable[[str], tuple[str, bool]],
                   no_index: bool) -> int:
    """`change` each item of the corpus (its line printed, or `error: ...`), then update the
    index when anything changed (unless no_index); exit status 1 when any item failed."""
    from ..errors import CorpusError
    from ..indexing.embedding import limit_kernel_cache
    from ..pipeline import build_index

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
    from ..pipeline import Assistant

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

    from ..evaluation.questions import evaluate, read_questions, summarize
    from ..indexing.opening import where_served
    from ..pipeline import Assistant

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
    from ..pipeline import evaluate_beir

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
    from ..indexing.opening import open_store
    from ..pipeline import show_passage

    settings = _settings(args)
    if args.page and len(args.ids) != 1:
        raise AssistantError("--page writes the page of one passage: give one ID")
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
        if args.page:
            _write_page(settings, view, served, Path(args.page))
    return 3 if stale else 0


def _write_page(settings: Settings, view: PassageView, served: PassageStore, output: Path) -> None:
    """The passage's PDF page(s), highlighted, as one PNG; what was written goes to stderr."""
    from ..pageview.highlight import stacked_png
    from ..pipeline import quote_pages

    if view.status != "current":
        raise SourceChangedError.of(view.document.path)
    pages = quote_pages(settings, view.document.doc_id, view.paragraph.start, view.paragraph.end, served)
    _write_atomically(output, stacked_png(pages), "the page image")
    numbers = ", ".join(str(p.page) for p in pages)
    print(f"Wrote {output}: page {numbers} of {view.document.path}, the passage boxed", file=sys.stderr)
    for page in pages:
        if not page.boxed:
            print(f"warning: page {page.page}: only {page.found:.0%} of the passage's characters were found on "
                  "the page as PDFium reads it, so none are boxed", file=sys.stderr)


def cmd_brief(args: argparse.Namespace) -> int:
    from ..briefing.layout import to_markdown
    from ..pipeline import Assistant

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
    if args.page_crops and kind != "docx":
        raise AssistantError("--page-crops puts pictures in a Word briefing: give -o FILE.docx")
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
        from ..briefing.docx_export import to_docx

        data = to_docx(briefing, args.style, page_crops=_page_crops(assistant, briefing) if args.page_crops else None)
    else:
        data = to_markdown(briefing, args.style).encode("utf-8")
    _write_atomically(output, data)
    quotes = sum(len(item.citations) for item in briefing.items)
    sources = len({c.doc_id for item in briefing.items for c in item.citations})
    uncovered = sum(1 for item in briefing.items if not item.citations)
    print(f"Wrote {output}: {len(briefing.items)} questions, {quotes} quotes from {sources} documents"
          + (f", {uncovered} not covered by the documents" if uncovered else ""), file=sys.stderr)
    return 0


def _page_crops(assistant: Assistant, briefing: Briefing) -> dict[tuple[str, int, int], tuple[int, bytes]]:
    """Each PDF quote's page around the quote (pageview.highlight.quote_crop); a page that cannot
    be shown is a warning, and its quote goes in without a picture."""
    from ..pageview.highlight import quote_crop

    crops = {}
    for citation in {(c.doc_id, c.start, c.end): c for item in briefing.items for c in item.citations}.values():
        if citation.page is None:
            continue
        try:
            crop = quote_crop(assistant.quote_pages(citation))
        except AssistantError as exc:
            print(f"warning: no page picture for a quote of {citation.path}: {exc}", file=sys.stderr)
            continue
        if crop is None:
            print(f"warning: no page picture for a quote of {citation.path}: its characters were not found on "
                  "the page image", file=sys.stderr)
        else:
            crops[(citation.doc_id, citation.start, citation.end)] = crop
    return crops


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
    from ..web.access import EDITOR, READER, Access, parse_logins
    from ..web.server import serve  # gradio is imported only by this command

    settings = _settings(args)
    logins = parse_logins(args.auth or [], args.auth_file, READER, "--auth") + \
        parse_logins(args.editor or [], args.editor_file, EDITOR, "--editor")
    access = Access.of(logins, open_editing=args.open_editing)
    _ensure_index(settings)
    serve(settings, host=args.host, port=args.port, access=access, extra_hosts=args.allowed_host or [])
    return 0

