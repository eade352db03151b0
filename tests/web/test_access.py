"""Who may change the library, checked on a real `assistant serve`: a reader calling every
editing event directly (by fn_index and by name) is refused and nothing changes on disk, an
editor's call goes through, a server without logins is read-only, failed logins are slowed,
a foreign Host is refused, an oversized request is refused before it is read, and a page on
this machine cannot be added through the form."""

from __future__ import annotations

import contextlib
import hashlib
import http.cookiejar
import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.ingest.fetch import UNREACHABLE
from assistant.web.access import EDIT_REFUSED

from ..conftest import CHROMIUM, copy_library, serving

pytestmark = pytest.mark.slow  # each test talks to a server it started

READER, EDITOR = ("reader", "reader pw"), ("editor", "editor pw")
EDITING = ("details-save", "rebuild", "add-documents", "add-url-button", "remove-button")
"""The elem_ids of the buttons whose events change the library."""


class Client:
    """Gradio's HTTP protocol, spoken directly (as a script probing the server would)."""

    def __init__(self, url: str, login: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        if login:
            form = urllib.parse.urlencode({"username": login[0], "password": login[1]}).encode()
            with self.opener.open(self.url + "/login", form, timeout=10) as response:
                response.read()

    def post(self, path: str, value: Any) -> Any:
        request = urllib.request.Request(self.url + path, json.dumps(value).encode(),
                                         {"Content-Type": "application/json"})
        with self.opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    def events(self, path: str) -> list[Any]:
        """The server-sent events of one call, until it completes."""
        out: list[Any] = []
        with self.opener.open(self.url + path, timeout=300) as response:
            for raw in response:
                line = raw.decode("utf-8").strip()
                if line.startswith("event: "):
                    out.append(line[7:])
                elif line.startswith("data:") and line[5:].strip() not in ("", "null"):
                    out.append(json.loads(line[5:]))
                    if isinstance(out[-1], dict) and out[-1].get("msg") == "process_completed":
                        break
        return out

    def event_ids(self) -> dict[str, tuple[int, str]]:
        """Each button's click event: elem_id -> (fn_index, api_name)."""
        with self.opener.open(self.url + "/config", timeout=30) as response:
            config = json.loads(response.read())
        ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
        return {ids[target]: (d["id"], d["api_name"]) for d in config["dependencies"]
                for target, _event in d["targets"] if ids.get(target)}

    def by_index(self, fn_index: int, data: list[Any]) -> dict[str, Any]:
        session = uuid.uuid4().hex[:12]
        self.post("/gradio_api/queue/join", {"data": data, "fn_index": fn_index, "session_hash": session,
                                             "event_data": None, "trigger_id": None})
        return self.events(f"/gradio_api/queue/data?session_hash={session}")[-1]

    def by_name(self, api_name: str, data: list[Any]) -> list[Any]:
        event = self.post(f"/gradio_api/call/{api_name}", {"data": data})
        return self.events(f"/gradio_api/call/{api_name}/{event['event_id']}")


@dataclass(frozen=True)
class Library:
    corpus: Path
    index: Path

    def snapshot(self) -> dict[str, str]:
        """Every file of the corpus and the index pointer, by content."""
        files = [*self.corpus.rglob("*"), self.index / "CURRENT"]
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def _inputs(elem_id: str, path: str) -> list[Any]:
    return {"details-save": [path, "Changed title", "", "", "", "", "", ""], "rebuild": [],
            "add-documents": [None, "", "", "", "", ""], "add-url-button": ["https://example.org/"],
            "remove-button": [path]}[elem_id]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, web_library: Path) -> Library:
    return Library(*copy_library(web_library, tmp_path_factory.mktemp("access")))


@pytest.fixture(scope="module")
def with_roles(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("roles")
    with serving(library.corpus, library.index, root, "--auth", ":".join(READER), "--editor", ":".join(EDITOR)) as url:
        yield url


def test_a_reader_can_ask_but_no_editing_event_runs(with_roles: str, library: Library) -> None:
    reader = Client(with_roles, READER)
    events = reader.event_ids()
    document = sorted(p.name for p in library.corpus.glob("*.txt"))[0]
    before = library.snapshot()
    for elem_id in EDITING:
        fn_index, api_name = events[elem_id]
        by_index = reader.by_index(fn_index, _inputs(elem_id, document))
        assert not by_index["success"] and by_index["output"]["error"] == EDIT_REFUSED, (elem_id, by_index)
        by_name = reader.by_name(api_name, _inputs(elem_id, document))
        assert by_name[-2:] == ["error", {**by_name[-1], "error": EDIT_REFUSED}], (elem_id, by_name)
    with pytest.raises(urllib.error.HTTPError) as upload:
        reader.opener.open(urllib.request.Request(with_roles + "gradio_api/upload", b"--x--",
                                                  {"Content-Type": "multipart/form-data; boundary=x"}), timeout=10)
    assert upload.value.code == 403
    upload.value.close()
    assert library.snapshot() == before  # nothing changed on disk
    answer = reader.by_name("ask", ["Which UK ministers signed the US-UK AI declaration?"])[-1][0]
    assert answer["citations"] and not answer["abstained"]


def test_an_editor_can_change_the_library(with_roles: str, library: Library) -> None:
    editor = Client(with_roles, EDITOR)
    fn_index, _name = editor.event_ids()["details-save"]
    document = "us-uk-ai-rd-declaration-2020.txt"
    done = editor.by_index(fn_index, [document, "A title an editor gave it", "", "", "2020-09-25", "", "", ""])
    assert done["success"], done
    entry = json.loads((library.corpus / "metadata.json").read_text(encoding="utf-8"))[document]
    assert entry["title"] == "A title an editor gave it"
    assert "the new index is answering questions" in done["output"]["data"][0]


def test_an_editor_can_remove_a_document_and_it_is_kept(with_roles: str, library: Library) -> None:
    editor = Client(with_roles, EDITOR)
    fn_index, _name = editor.event_ids()["remove-button"]
    document = "us-eu-ai-safety-collaboration-article.txt"
    done = editor.by_index(fn_index, [document])
    assert done["success"], done
    assert not (library.corpus / document).exists()
    assert [p.name.endswith(document) for p in (library.corpus / ".removed").iterdir()].count(True) == 1
    asked = Client(with_roles, READER).by_name("ask", ["What does the US-EU article say about AI safety?"])[-1][0]
    assert all(c["doc_id"] != "us-eu-ai-safety-collaboration-article" for c in asked["citations"] + asked["closest"])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium")
def test_a_reader_sees_no_editing_controls(with_roles: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        page.goto(with_roles)
        page.locator("input[type=text]").first.fill(READER[0])
        page.locator("input[type=password]").fill(READER[1])
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#chat")
        page.locator("#question textarea").fill("Which UK ministers signed the US-UK AI declaration?")
        page.locator("#ask").click()
        page.wait_for_selector(".ca-answer", timeout=60_000)
        labels = page.eval_on_selector_all("#chat [aria-label]", "els => els.map(e => e.getAttribute('aria-label'))")
        assert labels and not [label for label in labels if "<" in label], labels  # read out as plain text
        page.get_by_role("tab", name="Documents & index").click()
        expect(page.locator("#read-only")).to_be_visible()
        expect(page.locator("#rebuild")).to_be_hidden()
        expect(page.locator("#remove-button")).to_be_hidden()
    finally:
        context.close()


def test_a_page_on_this_machine_cannot_be_added_through_the_form(with_roles: str, library: Library) -> None:
    class Secret(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><title>Admin</title><p>The console password is hunter2.</p></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Secret)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    editor = Client(with_roles, EDITOR)
    fn_index, _name = editor.event_ids()["add-url-button"]
    before = library.snapshot()
    try:
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
            url = f"http://{host}:{site.server_address[1]}/admin"
            done = editor.by_index(fn_index, [url])
            assert done["success"] and f"refused: {url}: {UNREACHABLE}" in done["output"]["data"][0]
    finally:
        site.shutdown()
        site.server_close()
    assert library.snapshot() == before


def test_a_foreign_host_header_is_refused(with_roles: str) -> None:
    for host in ("rebind.evil.example", "rebind.evil.example:7860", "10.0.0.7"):
        request = urllib.request.Request(with_roles + "config", headers={"Host": host})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and "access-control-allow-origin" not in refused.value.headers
        refused.value.close()
    port = urllib.parse.urlsplit(with_roles).port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        request = urllib.request.Request(with_roles, headers={"Host": host})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def test_an_oversized_request_is_refused_before_it_is_read(with_roles: str) -> None:
    """The 413 comes before the body is read, so the server may close while the client is still
    sending: the body is sent as far as the server takes it, then the answer read."""
    import http.client

    parts = urllib.parse.urlsplit(with_roles)
    body = json.dumps({"data": ["x" * 1_000_000]}).encode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    started = time.perf_counter()
    try:
        connection.putrequest("POST", "/gradio_api/call/ask")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        try:
            response = connection.getresponse()
            status = response.status
            response.read()
        except ConnectionResetError:  # the server's close overtook its 413 (the body was not read)
            status = 413
    finally:
        connection.close()
    print(f"a 1 MB question refused in {(time.perf_counter() - started) * 1000:.1f} ms")
    assert status == 413


def test_without_logins_the_server_is_read_only(library: Library, tmp_path: Path) -> None:
    with serving(library.corpus, library.index, tmp_path) as url:
        anyone = Client(url)
        fn_index, _name = anyone.event_ids()["rebuild"]
        before = library.snapshot()
        refused = anyone.by_index(fn_index, [])
        assert not refused["success"] and refused["output"]["error"] == EDIT_REFUSED
        assert library.snapshot() == before
    assert "read-only" in (tmp_path / "serve.log").read_text(encoding="utf-8")


def test_page_images_are_for_signed_in_users_only(with_roles: str) -> None:
    path = "/page-image/no-such-doc/0-10.png"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(with_roles.rstrip("/") + path, timeout=30)
    assert anonymous.value.code == 401
    anonymous.value.close()
    with pytest.raises(urllib.error.HTTPError) as signed_in:  # past the login check: no such document
        Client(with_roles, READER).opener.open(with_roles.rstrip("/") + path, timeout=30)
    assert signed_in.value.code == 404 and b"no-such-doc: no such document" in signed_in.value.read()
    signed_in.value.close()


def test_failed_logins_are_throttled_per_client(with_roles: str) -> None:
    """Last in the module: 127.0.0.1 may not log in for a minute after it."""
    codes = []
    for n in range(20):
        form = urllib.parse.urlencode({"username": "reader", "password": f"guess {n}"}).encode()
        try:
            with urllib.request.urlopen(with_roles + "login", form, timeout=10):
                codes.append(200)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
            exc.close()
    assert 200 not in codes and codes[:5] == [400] * 5 and set(codes[5:]) == {429}, codes
