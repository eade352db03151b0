"""Web pages: main text without navigation, ads or footers (trafilatura), metadata only as
the page states it, `assistant add URL` from a local HTTP server on 127.0.0.1 (never the
internet), an address added again updating its document, and every failure one clear line
with nothing written."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.ingest.documents import discover, load_document, load_metadata
from assistant.ingest.fetch import MAX_PAGE_BYTES, fetch
from assistant.ingest.uploads import save_page
from assistant.ingest.webpage import read_page

from ..conftest import DATA, REPO, SHARED

NORTHWIND = (DATA / "web" / "pages" / "ai-safety-network.html").read_text(encoding="utf-8")
EP_PAGE = SHARED / "corpus-extra" / "ep_ai_act_amendments_2023-06-14.html"
BARE = ("<html><head><title>Short note on model cards</title></head><body><p>Model cards describe "
        "what a model was trained on and where it should not be used, in a page or two.</p>"
        "<p>Published <time datetime=\"2023-11-02\">2 November 2023</time>.</p></body></html>")
DEBRIS = ("cookies", "Most read", "Advertisement", "Share this", "Privacy", "©")
LOCAL = partial(fetch, allow_private=True)  # the test server is on 127.0.0.1, refused by default
UNTITLED = ("<html><body><p>Model cards describe what a model was trained on and where it should "
            "not be used, in a page or two.</p></body></html>")


class Site:
    """Pages served from memory; tests change them while the server runs."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def html(self, path: str, text: str) -> str:
        self.pages[path] = (200, "text/html; charset=utf-8", text.encode("utf-8"), {})
        return self.url(path)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    served = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(3)
            status, kind, body, headers = served.pages.get(self.path, (404, "text/html", b"not here", {}))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
            self.end_headers()
            # The client may give up first (the timeout and size tests): what it was meant to do.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def test_main_text_leaves_out_navigation_ads_and_footers() -> None:
    page = read_page(NORTHWIND)
    assert "Kestrel Institute in Oslo" in page.text and "12 researchers" in page.text
    for junk in DEBRIS:
        assert junk not in page.text, junk


def test_metadata_is_what_the_page_states() -> None:
    page = read_page(NORTHWIND, "http://127.0.0.1/news/northwind.html")
    assert (page.title, page.author, page.publisher, page.date) == (
        "Partners launch the Northwind AI Safety Network", "Elena Marsh", "Ministry of Digital Affairs", "2024-04-17")
    bare = read_page(BARE, "http://127.0.0.1:8000/notes/model-cards.html")
    # A <title> and a <time>: nothing else is stated, so nothing else is filled in.
    assert (bare.title, bare.author, bare.publisher, bare.date) == ("Short note on model cards", "", "", "2023-11-02")


@pytest.mark.skipif(not EP_PAGE.exists(), reason=f"{EP_PAGE} not found")
def test_a_page_without_a_title_is_not_named_after_a_table_header(tmp_path: Path) -> None:
    (tmp_path / "ep_ai_act_amendments_2023-06-14.html").write_bytes(EP_PAGE.read_bytes())
    files, _ = discover(tmp_path)
    doc = load_document(files[0])
    assert doc.meta.title == "ep ai act amendments 2023 06 14"  # the file name: the page states no title
    assert "The purpose of this Regulation is to promote the uptake of human centric" in doc.text


def test_add_url_saves_the_page_and_what_it_says(tmp_path: Path, site: Site) -> None:
    url = site.html("/news/northwind.html", NORTHWIND)
    result = save_page(tmp_path, url, LOCAL)
    assert result.saved_as == "Partners-launch-the-Northwind-AI-Safety-Network.html"
    assert (tmp_path / result.saved_as).read_text(encoding="utf-8") == NORTHWIND  # the HTML as sent
    entry = load_metadata(tmp_path)[result.saved_as]
    assert entry == {"title": "Partners launch the Northwind AI Safety Network", "author": "Elena Marsh",
                     "publisher": "Ministry of Digital Affairs", "date": "2024-04-17", "url": url,
                     "type": "web page", "retrieved": entry["retrieved"]}
    assert len(entry["retrieved"]) == 10 and entry["retrieved"].startswith("20")


def test_adding_an_address_again_updates_that_document(tmp_path: Path, site: Site) -> None:
    url = site.html("/changing.html", BARE)
    first = save_page(tmp_path, url, LOCAL)
    assert "unchanged" in save_page(tmp_path, url, LOCAL).message
    site.html("/changing.html", BARE.replace("in a page or two", "in a page or three"))
    again = save_page(tmp_path, url, LOCAL)
    assert again.saved_as == first.saved_as and "updated" in again.message
    assert [p.name for p in tmp_path.glob("*.html")] == [first.saved_as]
    assert "page or three" in (tmp_path / first.saved_as).read_text(encoding="utf-8")


@pytest.mark.parametrize(("path", "setup", "reason"), [
    ("/missing", None, "the server answered 404 Not Found"),
    ("/broken", (500, "text/html", b"oops", {}), "the server answered 500 Internal Server Error"),
    ("/report.pdf", (200, "application/pdf", b"%PDF-1.4 ...", {}), "not an HTML page (application/pdf)"),
    ("/elsewhere", (302, "text/html", b"", {"Location": "http://localhost:{port}/news/northwind.html"}),
     "redirected to another host (localhost)"),
    ("/huge", (200, "text/html", b"<p>x</p>", {"Content-Length": str(30 * 2**20)}),
     f"over the {MAX_PAGE_BYTES / 2**20:g} MB limit"),
    ("/slow", (200, "text/html", b"<p>late</p>", {}), "no answer within"),
])
def test_a_failed_fetch_is_one_line_and_writes_nothing(tmp_path: Path, site: Site, path: str,
                                                      setup: tuple | None, reason: str) -> None:
    if setup is not None:
        status, kind, body, headers = setup
        site.pages[path] = (status, kind, body, {k: v.format(port=site.port) for k, v in headers.items()})
    fetcher = partial(LOCAL, timeout=1.0) if path == "/slow" else LOCAL
    with pytest.raises(CorpusError) as caught:
        save_page(tmp_path, site.url(path), fetcher)
    message = str(caught.value)
    assert message.startswith(site.url(path) + ": ") and reason in message and "\n" not in message, message
    assert not list(tmp_path.iterdir())


def test_a_redirect_on_the_same_host_is_followed(tmp_path: Path, site: Site) -> None:
    target = site.html("/news/northwind.html", NORTHWIND)
    site.pages["/old-address"] = (301, "text/html", b"", {"Location": "/news/northwind.html"})
    result = save_page(tmp_path, site.url("/old-address"), LOCAL)
    assert load_metadata(tmp_path)[result.saved_as]["url"] == target


@pytest.mark.parametrize(("path", "saved_as"), [
    ("/notes/model-cards.html", "model-cards.html"),
    ("/notes/r%C3%A9sum%C3%A9-2024/", "resume-2024.html"),  # the last non-empty segment, decoded
    ("/", "127-0-0-1.html"),  # no path: the host
])
def test_a_page_without_a_title_is_named_after_its_address(tmp_path: Path, site: Site, path: str,
                                                           saved_as: str) -> None:
    result = save_page(tmp_path, site.html(path, UNTITLED), LOCAL)
    assert result.saved_as == saved_as
    assert "title" not in load_metadata(tmp_path)[saved_as]  # a name for the file, not a title to cite


@pytest.mark.slow
def test_cli_add_url_indexes_the_page_and_cites_its_address(tmp_path: Path, site: Site) -> None:
    url = site.html("/news/northwind.html", NORTHWIND)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ASSISTANT_ALLOW_PRIVATE_URLS="1")
    where = ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"), "--quiet"]
    done = subprocess.run([sys.executable, "-m", "assistant", "add", url, *where], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "added as Partners-launch-the-Northwind-AI-Safety-Network.html" in done.stdout
    asked = subprocess.run([sys.executable, "-m", "assistant", "ask", "--json", *where,
                            "Which institute chairs the Northwind AI Safety Network?"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert asked.returncode == 0, asked.stderr
    citation = json.loads(asked.stdout)["citations"][0]
    assert "Kestrel Institute" in citation["excerpt"]
    assert citation["url"] == url and url in citation["reference"]
    assert "Elena Marsh" in citation["reference"] and "Ministry of Digital Affairs" in citation["reference"]
    bad = subprocess.run([sys.executable, "-m", "assistant", "add", site.url("/missing"), *where], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {site.url('/missing')}: the server answered 404 Not Found"
