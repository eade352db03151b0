"""Fetch one web page over HTTP(S), or say in one line why not.

Only what an analyst means by "this page": an HTML answer (not a PDF or an image: download
those and add the file), from the host asked for (a redirect to another host is refused:
that is another site's page), within a time and size limit. Nothing is written here.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import Any

from ..errors import CorpusError

TIMEOUT_S = 20.0
MAX_PAGE_BYTES = 20 * 1024 * 1024  # as for uploads
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "cited-answer-assistant/1 (+https://github.com/; one page for a policy library)"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.I)


@dataclass(frozen=True)
class FetchedPage:
    """A page as the server sent it, decoded."""

    url: str  # after redirects on the same host
    html: str
    retrieved: str  # the day it was fetched, YYYY-MM-DD (UTC)


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        before, after = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (after.hostname or "").lower() != (before.hostname or "").lower():
            fp.close()  # the redirect's own answer: urllib closes it only when it follows
            raise CorpusError(f"redirected to another host ({after.hostname}): add {newurl} itself if it is the page")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def is_url(text: str) -> bool:
    return bool(re.match(r"(?i)^https?://", text.strip()))


def fetch(url: str, timeout: float = TIMEOUT_S, max_bytes: int = MAX_PAGE_BYTES) -> FetchedPage:
    """The page at `url`; CorpusError (without the URL: the caller names it) says why not."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CorpusError("not an http:// or https:// address")
    opener = urllib.request.build_opener(_SameHostRedirects())
    request = urllib.request.Request(url.strip(), headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.1"})
    try:
        with opener.open(request, timeout=timeout) as response:
            headers: Message = response.headers
            kind = headers.get_content_type()
            if kind not in HTML_TYPES:
                raise CorpusError(f"not an HTML page ({kind}); download it and add the file instead")
            declared = headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise CorpusError(f"the page is {int(declared) / 2**20:.1f} MB, "
                                  f"over the {max_bytes / 2**20:.0f} MB limit")
            data = response.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise CorpusError(f"the page is over the {max_bytes / 2**20:.0f} MB limit")
            final = response.geturl()
            charset = headers.get_content_charset()
    except CorpusError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # its connection, which the error holds open
        raise CorpusError(f"the server answered {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise CorpusError(f"no answer within {timeout:g} s") from exc
        raise CorpusError(f"cannot reach the server ({exc.reason})") from exc
    except TimeoutError as exc:
        raise CorpusError(f"no answer within {timeout:g} s") from exc
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot fetch it ({type(exc).__name__}: {exc})") from exc
    if not data.strip():
        raise CorpusError("the server sent an empty page")
    return FetchedPage(final, _decode(data, charset), datetime.now(timezone.utc).date().isoformat())


def _decode(data: bytes, charset: str | None) -> str:
    """The page's text: the header's charset, else its <meta charset>, else UTF-8 (bad bytes replaced)."""
    if not charset:
        found = _META_CHARSET.search(data[:4096])
        charset = found.group(1).decode("ascii") if found else "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")
