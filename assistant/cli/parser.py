"""The `assistant` command line's arguments: subcommands, flags, help texts and examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..briefing.references import DEFAULT_STYLE, STYLES
from .commands import cmd_add, cmd_ask, cmd_brief, cmd_eval, cmd_index, cmd_remove, cmd_serve, cmd_show


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
                                   "status 3 when an id is stale. With --page, also write the PDF page "
                                   "the passage stands on as a PNG image, the passage's characters "
                                   "boxed (pages one above the other when it crosses a page break).",
                       epilog="Examples: assistant show 'us-uk-ai-rd-declaration-2020#p19'; "
                              "assistant show 'nist-ai-100-1#page12-p3' --page page.png")
    p.add_argument("ids", nargs="+", metavar="ID", help="passage id, e.g. doc#p12@a3f9c2 (the @version "
                   "may be left out: then the current version is shown)")
    p.add_argument("--json", action="store_true", help="one JSON object per id, one per line")
    p.add_argument("--page", metavar="PNG", help="write the PDF page of the (one) passage, highlighted, to PNG")
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
    p.add_argument("--page-crops", action="store_true", help="in a .docx, under each quote from a PDF, a "
                   "picture of its page around the quote, boxed (default: off)")
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

