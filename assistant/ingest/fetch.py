"""Fetch one web page over HTTP(S), or say in one line why not.

Only what an analyst means by "this page": an HTML answer (not a PDF or an image: download
those and add the file), from the host asked for (a redirect to another host is refused:
that is another site's page), within a time and size limit. Nothing is written here.

Whoever can add a page can make the server send a request, so the server must not become a
way into its own network: the host is resolved first and every address it resolves to must
be public (not loopback, private, link-local, multicast, unspecified or reserved, IPv4 or
IPv6, an IPv4 address inside an IPv6 one included); the connection is then made to the
address that was checked, so a second DNS answer cannot swap in another. A redirect is
checked the same way. A refused address, a name that does not resolve and a server that
does not answer all get one and the same message, so that the answers cannot be used to map
which ports are open. An operator who wants intranet pages allows them explicitly
(`allow_private`, the `allow_private_urls` setting). No proxy is used: a proxy would resolve
names itself, out of reach of this check.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import CorpusError

TIMEOUT_S = 20.0
"""The whole fetch, redirects and reading included."""
MAX_PAGE_BYTES = 5 * 2**20
"""Largest page read: a policy page's HTML is well under 1 MB; more is not a page to quote."""
MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "cited-answer-assistant/1 (+https://github.com/; one page for a policy library)"
UNREACHABLE = ("cannot fetch it: not a public web address, or no web server answered there "
               "(pages on this machine or a private network are fetched only where the server allows them)")
"""One message for every refused or unreachable address (see the module's docstring)."""
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.I)
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchedPage:
    """A page as the server sent it, decoded."""

    url: str  # after redirects on the same host
    html: str
    retrieved: str  # the day it was fetched, YYYY-MM-DD (UTC)


@dataclass(frozen=True)
class _Target:
    """One address to request: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str  # as the URL names it (lower case, no brackets)
    port: int
    path: str  # path and query, what the request line asks for


def is_url(text: str) -> bool:
    return bool(re.match(r"(?i)^https?://", text.strip()))


def is_public_address(address: str) -> bool:
    """An address on the public internet: not loopback, private, link-local, multicast,
    unspecified or reserved; an IPv4 address carried in an IPv6 one (mapped, 6to4, Teredo,
    NAT64) is judged as that IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
        if ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def fetch(url: str, timeout: float = TIMEOUT_S, max_bytes: int = MAX_PAGE_BYTES,
          allow_private: bool = False) -> FetchedPage:
    """The page at `url`; CorpusError (without the URL: the caller names it) says why not.
    `allow_private`: addresses on this machine and private networks may be fetched too."""
    deadline = time.monotonic() + timeout
    target = _target(url.strip())
    first = target
    for _ in range(MAX_REDIRECTS + 1):
        connection = _connect(target, _checked_addresses(target, allow_private), deadline, timeout)
        response = None
        try:
            response = _request(connection, target, deadline, timeout)
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                target = _redirect(first, target, location)
                continue
            if response.status >= 400:
                raise CorpusError(f"the server answered {response.status} {response.reason}")
            return FetchedPage(target.url, _read_page(response, deadline, timeout, max_bytes),
                               datetime.now(timezone.utc).date().isoformat())
        finally:
            if response is not None:
                response.close()
            connection.close()
    raise CorpusError(f"more than {MAX_REDIRECTS} redirects")


def _target(url: str) -> _Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CorpusError(f"not a valid web address ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise CorpusError("not an http:// or https:// address")
    path = parts.path or "/"
    path += f"?{parts.query}" if parts.query else ""
    return _Target(url, scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], path)


def _redirect(first: _Target, current: _Target, location: str) -> _Target:
    """Where a redirect leads, when that is the same site: the host asked for, on the port
    asked for or a scheme's default port (http -> https); anything else is refused."""
    after = _target(urllib.parse.urljoin(current.url, location.strip()))
    if after.host != first.host:
        raise CorpusError(f"redirected to another host ({after.host}): add {after.url} itself if it is the page")
    if after.port not in (first.port, _DEFAULT_PORTS[after.scheme]):
        raise CorpusError(f"redirected to another port ({after.port}): add {after.url} itself if it is the page")
    return after


def _checked_addresses(target: _Target, allow_private: bool) -> list[str]:
    """The addresses the host resolves to, all of them allowed; UNREACHABLE otherwise. Every
    spelling of an address (127.1, 2130706433, 0x7f.1, [::ffff:127.0.0.1]) is resolved to
    the address itself first, so each is judged as what it is."""
    try:
        found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise CorpusError(UNREACHABLE) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses or not (allow_private or all(is_public_address(a) for a in addresses)):
        raise CorpusError(UNREACHABLE)
    return addresses


def _connect(target: _Target, addresses: list[str], deadline: float, timeout: float) -> http.client.HTTPConnection:
    """A connection to one of the checked addresses (never to what the name resolves to now);
    TLS still checks the certificate against the host name."""
    for address in addresses:
        left = _left(deadline, timeout)
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(target.host, target.port, timeout=left,
                                                     context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(target.host, target.port, timeout=left)
        connection._create_connection = _pinned(address)  # type: ignore[attr-defined]
        try:
            connection.connect()
            return connection
        except ssl.SSLError as exc:
            connection.close()
            raise CorpusError(f"cannot fetch it securely ({exc.reason or exc})") from exc
        except OSError:
            connection.close()
    raise CorpusError(UNREACHABLE)


def _pinned(address: str):  # type: ignore[no-untyped-def]
    def create_connection(where: tuple[str, int], timeout: float, source: object = None) -> socket.socket:
        return socket.create_connection((address, where[1]), timeout)
    return create_connection


def _request(connection: http.client.HTTPConnection, target: _Target, deadline: float,
             timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.1", "Accept-Encoding": "identity"}
    try:
        connection.request("GET", target.path, headers=headers)
        _set_timeout(connection, deadline, timeout)
        return connection.getresponse()
    except TimeoutError as exc:
        raise CorpusError(f"no answer within {timeout:g} s") from exc
    except ssl.SSLError as exc:
        raise CorpusError(f"cannot fetch it securely ({exc.reason or exc})") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise CorpusError(f"the server did not send a web page ({type(exc).__name__})") from exc


def _read_page(response: http.client.HTTPResponse, deadline: float, timeout: float, max_bytes: int) -> str:
    kind = response.headers.get_content_type()
    if kind not in HTML_TYPES:
        raise CorpusError(f"not an HTML page ({kind}); download it and add the file instead")
    limit = f"the {max_bytes / 2**20:g} MB limit"
    declared = (response.headers.get("Content-Length") or "").strip()  # the first, if sent twice
    if declared.isdigit() and int(declared) > max_bytes:
        raise CorpusError(f"the page is {int(declared) / 2**20:.1f} MB, over {limit}")
    data = bytearray()
    try:
        while chunk := response.read1(_READ_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise CorpusError(f"the page is over {limit}")
            _set_timeout(response, deadline, timeout)
    except TimeoutError as exc:
        raise CorpusError(f"no answer within {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise CorpusError(f"the page was cut off ({type(exc).__name__})") from exc
    if response.length:  # fewer bytes came than the server declared
        raise CorpusError(f"the page was cut off ({len(data)} of {len(data) + response.length} bytes)")
    if not bytes(data).strip():
        raise CorpusError("the server sent an empty page")
    return _decode(bytes(data), response.headers.get_content_charset())


def _left(deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CorpusError(f"no answer within {timeout:g} s")
    return left


def _set_timeout(holder: http.client.HTTPConnection | http.client.HTTPResponse, deadline: float,
                 timeout: float) -> None:
    """What is left of the whole fetch's time, for the next wait on the socket."""
    sock = holder.sock if isinstance(holder, http.client.HTTPConnection) else _response_socket(holder)
    if sock is not None:
        sock.settimeout(_left(deadline, timeout))


def _response_socket(response: http.client.HTTPResponse) -> socket.socket | None:
    raw = getattr(response.fp, "raw", None)
    return getattr(raw, "_sock", None)


def _decode(data: bytes, charset: str | None) -> str:
    """The page's text: the header's charset, else its <meta charset>, else UTF-8 (bad bytes replaced)."""
    if not charset:
        found = _META_CHARSET.search(data[:4096])
        charset = found.group(1).decode("ascii") if found else "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")
