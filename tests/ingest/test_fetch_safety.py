"""Adding a page by URL never makes the server read its own network: every spelling of a
loopback or private address, a redirect to one and a DNS answer that changes are refused with
one message, without a request reaching the local server; the operator's opt-in fetches it."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.ingest.fetch import UNREACHABLE, fetch, is_public_address
from assistant.ingest.uploads import save_page

from ..conftest import REPO

SECRET = ("<html><head><title>Admin console</title></head><body><p>The admin password of the "
          "intranet console is hunter2, kept here for the operators.</p></body></html>")


class LocalSite:
    """A page on 127.0.0.1 and the requests that reached it."""

    def __init__(self) -> None:
        self.port = 0
        self.other_port = 0  # a second server on the same host
        self.requests: list[tuple[str, str]] = []  # (Host header, path)


def _server(site: LocalSite) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append((self.headers.get("Host", ""), self.path))
            if self.path == "/hop":  # the same host, another port
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{site.other_port}/admin")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = SECRET.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalSite]:
    site = LocalSite()
    servers = [_server(site), _server(site)]
    site.port, site.other_port = (s.server_address[1] for s in servers)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _spellings(port: int) -> list[str]:
    urls = [f"http://{host}:{port}/admin" for host in
            ("127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.1", "017700000001", "[::1]",
             "[::ffff:127.0.0.1]", "0.0.0.0", "[::]")]
    urls += [f"http://127.0.0.1:{port}/hop", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
             "http://192.168.1.1/", "http://[fe80::1]/", "http://224.0.0.1/", "http://name.invalid/"]
    own = socket.gethostname()
    try:
        if not is_public_address(socket.getaddrinfo(own, port, type=socket.SOCK_STREAM)[0][4][0]):
            urls.append(f"http://{own}:{port}/admin")  # a name that resolves to this machine
    except OSError:
        pass
    return urls


def test_every_spelling_of_an_internal_address_is_refused_alike(local: LocalSite, tmp_path: Path) -> None:
    local.requests.clear()
    for url in _spellings(local.port):
        with pytest.raises(CorpusError) as caught:
            save_page(tmp_path, url)
        assert str(caught.value) == f"{url}: {UNREACHABLE}", url  # one message: nothing to map ports with
    assert local.requests == []  # nothing reached the local server
    assert not list(tmp_path.iterdir())


def test_the_operator_may_allow_private_addresses(local: LocalSite, tmp_path: Path) -> None:
    result = save_page(tmp_path, f"http://127.0.0.1:{local.port}/admin", partial(fetch, allow_private=True))
    assert result.saved_as == "Admin-console.html" and "hunter2" in (tmp_path / result.saved_as).read_text()
    with pytest.raises(CorpusError, match="redirected to another port"):  # allowed, but not another port
        fetch(f"http://127.0.0.1:{local.port}/hop", allow_private=True)


def test_the_connection_goes_to_the_address_checked(local: LocalSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolves to a public address when checked and to 127.0.0.1 afterwards (DNS
    rebinding) is never connected to 127.0.0.1; the request still names its host."""
    answers = iter(["203.0.113.7", "127.0.0.1", "127.0.0.1"])  # TEST-NET-3 is reserved: never answers
    resolve = socket.getaddrinfo

    def rebinding(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return resolve(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr("assistant.ingest.fetch.is_public_address", lambda address: address == "203.0.113.7")
    local.requests.clear()
    with pytest.raises(CorpusError, match="no web server answered"):
        fetch(f"http://rebind.example:{local.port}/admin", timeout=2.0)
    assert local.requests == []
    page = fetch(f"http://rebind.example:{local.port}/admin", allow_private=True)  # pinned to 127.0.0.1
    assert "hunter2" in page.html and local.requests == [(f"rebind.example:{local.port}", "/admin")]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
                                     "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1",
                                     "2002:7f00:1::", "64:ff9b::a00:1", "2001:db8::1"])
def test_internal_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.slow
def test_cli_add_refuses_an_internal_address_unless_allowed(local: LocalSite, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    url = f"http://localhost:{local.port}/admin"
    where = ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"), "--no-index", "-q"]
    refused = subprocess.run([sys.executable, "-m", "assistant", "add", url, *where], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == f"error: {url}: {UNREACHABLE}"
    assert not (tmp_path / "corpus").exists() or not list((tmp_path / "corpus").iterdir())
    allowed = subprocess.run([sys.executable, "-m", "assistant", "add", url, "--allow-private-urls", *where],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert allowed.returncode == 0, allowed.stderr
    assert "added as Admin-console.html" in allowed.stdout
