"""Who may do what on the web chat, checked on the server for every request.

Two roles. A reader asks, opens citations and makes briefings; an editor also changes the
library (uploads, adds pages by URL, edits a document's details, deletes a document,
rebuilds the index). With logins, readers come from --auth / --auth-file and editors from
--editor / --editor-file. Without any login the server is read-only, unless it was started
with --open-editing, which makes everyone who reaches the page an editor (or, with logins,
every logged-in user).

The editing callbacks are wrapped by `editors_only`, so the check runs whichever way the
callback is reached (the page, a hidden endpoint by fn_index, an API name). `RequestGuard`,
an ASGI middleware in front of Gradio's app, refuses a request whose Host header names a
host this server is not known by (DNS rebinding), refuses file uploads into Gradio's cache
from anyone but an editor, bounds a request's body outside uploads, and slows down guessing
passwords: after a few failed logins from one client within a minute, it answers 429 until
the minute has passed.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import ConfigError

READER, EDITOR = "reader", "editor"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names every server answers to."""
LOGIN_FAILURES_ALLOWED = 5
"""Failed logins from one client within LOGIN_WINDOW_S before it is answered 429."""
LOGIN_WINDOW_S = 60.0
MAX_REQUEST_BYTES = 256 * 1024
"""Largest request body outside file uploads: a question is at most 2,000 characters, and
nothing the page sends comes near this."""
EDIT_REFUSED = "Only editors can change the library: log in as an editor."
READ_ONLY_NOTE = ("You can ask, open citations and make briefings here. Documents are added, edited and removed, "
                  "and the index rebuilt, by editors: log in as one (the server names them with "
                  "--editor USER:PASSWORD, or lets everyone edit with --open-editing).")


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    role: str


def parse_logins(pairs: Sequence[str], auth_file: Path | None, role: str = READER,
                 option: str = "--auth") -> list[Login]:
    """USER:PASSWORD pairs from the command line and/or a file (one per line, # comments)."""
    lines = list(pairs)
    if auth_file is not None:
        try:
            lines += [line.strip() for line in auth_file.read_text(encoding="utf-8").splitlines()
                      if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise ConfigError(f"{auth_file}: cannot read the password file ({exc.strerror})") from exc
    out = []
    for line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ConfigError(f"{option}: expected USER:PASSWORD (in a password file, one per line)")
        out.append(Login(user, password, role))
    return out


@dataclass(frozen=True)
class Access:
    """The logins (user -> Login) and whether everyone may edit."""

    logins: dict[str, Login] = field(default_factory=dict)
    open_editing: bool = False

    @classmethod
    def of(cls, logins: Iterable[Login], open_editing: bool = False) -> Access:
        by_user: dict[str, Login] = {}
        for login in logins:
            if login.user in by_user and by_user[login.user] != login:
                raise ConfigError(f"{login.user}: given twice, with different passwords or roles")
            by_user[login.user] = login
        return cls(by_user, open_editing)

    def check_password(self, user: str, password: str) -> bool:
        """Gradio's login check; compares in constant time."""
        login = self.logins.get(user)
        expected = login.password if login else "\0" * max(len(password), 1)
        same = hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                                   password.encode("utf-8", "surrogatepass"))
        return login is not None and same

    def may_edit(self, user: str | None) -> bool:
        if self.open_editing:
            return not self.logins or user in self.logins
        login = self.logins.get(user or "")
        return login is not None and login.role == EDITOR

    def require_editor(self, request: gr.Request | None) -> None:
        """gr.Error (shown on the page, no traceback in the log) unless the user is an editor."""
        if not self.may_edit(getattr(request, "username", None)):
            raise gr.Error(EDIT_REFUSED, print_exception=False)


def editors_only(access: Access, callback: Callable[..., Any]) -> Callable[..., Any]:
    """The callback, run only for an editor. Gradio passes the request first (it fills a
    first parameter annotated gr.Request), then the event's inputs."""
    guarded: Callable[..., Any]
    if inspect.isgeneratorfunction(callback):
        def guarded(request: gr.Request, *inputs: Any) -> Iterator[Any]:
            access.require_editor(request)
            yield from callback(*inputs)
    else:
        def guarded(request: gr.Request, *inputs: Any) -> Any:
            access.require_editor(request)
            return callback(*inputs)
    # Gradio names the event after the function; no functools.wraps: Gradio would read the
    # callback's signature through __wrapped__ and not pass the request.
    guarded.__name__ = guarded.__qualname__ = callback.__name__
    return guarded


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> frozenset[str]:
    """The Host names the server answers to: localhost's, the address it listens on (unless
    that is every interface) and those given."""
    names = {*LOCAL_HOSTS, *(h.strip().lower().strip("[]") for h in extra if h.strip())}
    if host not in ("0.0.0.0", "::", ""):
        names.add(host.lower().strip("[]"))
    return frozenset(names)


def host_of(header: str) -> str:
    """The host part of a Host header, lower case, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class LoginThrottle:
    """Failed logins per client over the last window; thread-safe."""

    def __init__(self, allowed: int = LOGIN_FAILURES_ALLOWED, window: float = LOGIN_WINDOW_S) -> None:
        self.allowed, self.window = allowed, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_left(self, client: str, now: float) -> float:
        """Seconds until this client may try again (0: now)."""
        with self._lock:
            failures = self._recent(client, now)
            return failures[0] + self.window - now if len(failures) >= self.allowed else 0.0

    def record_failure(self, client: str, now: float) -> None:
        with self._lock:
            self._recent(client, now).append(now)

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(self._failures) > 10_000:  # forget clients that stopped trying
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]
        return failures


class RequestGuard:
    """ASGI middleware: Host check, upload gate, body limit and login throttle (see the module's docstring)."""

    def __init__(self, app: Any, access: Access, hosts: frozenset[str], any_address: bool = False,
                 throttle: LoginThrottle | None = None) -> None:
        self.app = app
        self.access = access
        self.hosts = hosts
        self.any_address = any_address  # listening on every interface: any IP address is a fine Host
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_of(headers.get("host", ""))
        if host not in self.hosts and not (self.any_address and _is_address(host)):
            await _refuse(scope, send, 400, "This server does not answer to that host name (see serve --allowed-host).")
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if method == "POST" and path.rstrip("/").endswith("/gradio_api/upload"):
            if not self.access.may_edit(_logged_in_user(scope, headers)):
                await _refuse(scope, send, 403, EDIT_REFUSED)
                return
        elif method == "POST":
            body = await _body_within(receive, MAX_REQUEST_BYTES, headers)
            if body is None:
                await _refuse(scope, send, 413, f"The request is over {MAX_REQUEST_BYTES // 1024} KB.")
                return
            receive = _replaying(body, receive)
        if method == "POST" and path.rstrip("/").endswith("/login"):
            await self._login(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _login(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.throttle.wait_left(client, time.monotonic())
        if wait > 0:
            await _refuse(scope, send, 429, f"Too many failed logins; try again in {wait:.0f} s.")
            return
        status: list[int] = []

        async def noting_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, noting_status)
        if status and status[0] >= 400:
            self.throttle.record_failure(client, time.monotonic())


def _logged_in_user(scope: dict[str, Any], headers: dict[str, str]) -> str | None:
    """The logged-in user of a request, from Gradio's session cookie (None: nobody)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", {}), getattr(app, "cookie_id", "")
    cookies = dict(part.strip().partition("=")[::2] for part in headers.get("cookie", "").split(";") if "=" in part)
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token) if token else None


async def _body_within(receive: Any, limit: int, headers: dict[str, str]) -> bytes | None:
    """The request's whole body, or None as soon as it is known to be over `limit` bytes
    (by its Content-Length, or while reading a body sent without one)."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replaying(body: bytes, receive: Any) -> Any:
    """A receive() that hands the app the body already read, then passes on the server's
    own messages (a disconnect)."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())
    return replayed


async def _refuse(scope: dict[str, Any], send: Any, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
