"""`assistant serve`: start the web chat on a host and port, behind the request guard.

Before Gradio starts, the address is checked (one clear line when it is taken) and the
operator is told who can use the server. While it runs, a thread swaps in an index that
another process (`assistant index`) rebuilt.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

from starlette.middleware import Middleware

from ..config import Settings
from ..errors import AssistantError, ConfigError
from ..indexing.opening import where_served
from ..ingest.uploads import MAX_UPLOAD_BYTES
from ..pipeline import Assistant
from .access import EDITOR, LOCAL_HOSTS, Access, RequestGuard, allowed_hosts
from .app import WebChat
from .assets import CSS, THEME
from .page_images import add_page_image_route

RELOAD_POLL_SECONDS = 2.0
"""How often the server looks for an index swapped in by `assistant index` elsewhere."""
EVERY_INTERFACE = ("0.0.0.0", "::")
"""Addresses that listen on every network interface: any IP address is then a fine Host."""


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, access: Access | None = None,
          extra_hosts: Sequence[str] = ()) -> None:
    """Start the web chat and block until interrupted. `access`: logins and roles (default:
    no logins, read-only); `extra_hosts`: more names the server may be reached by (a reverse
    proxy's), besides localhost's and `host`."""
    access = access or Access()
    check_port_is_free(host, port)
    assistant = Assistant(settings)
    demo = WebChat(settings, assistant, access).build()
    stop = threading.Event()
    threading.Thread(target=watch_index, args=(assistant, stop), name="index-watch", daemon=True).start()
    for warning in access_warnings(host, access):
        print(f"warning: {warning}", flush=True)
    guard = Middleware(RequestGuard, access=access, hosts=allowed_hosts(host, extra_hosts),  # type: ignore[arg-type]
                       any_address=host in EVERY_INTERFACE)
    demo.queue(default_concurrency_limit=1)
    print(f"Web chat on http://{host}:{port} (index {where_served(settings)}, corpus {settings.corpus_dir}); "
          "Ctrl+C stops it", flush=True)
    try:
        app, _url, _share = demo.launch(
            server_name=host, server_port=port, auth=access.check_password if access.logins else None,
            share=False, quiet=True, show_error=False, ssr_mode=False, pwa=False, mcp_server=False,
            enable_monitoring=False, run_history=False, footer_links=["api"], max_file_size=MAX_UPLOAD_BYTES,
            theme=THEME, css=CSS, inbrowser=False, app_kwargs={"middleware": [guard]},
            auth_message="This assistant is password protected.", prevent_thread_lock=True)
        add_page_image_route(app, assistant, access)
        demo.block_thread()
    finally:
        stop.set()


def check_port_is_free(host: str, port: int) -> None:
    """Fail with one clear line (not Gradio's traceback) when the address is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
                              "choose another --port or stop what uses it") from exc


def watch_index(assistant: Assistant, stop: threading.Event) -> None:
    """Swap in an index rebuilt by another process (e.g. `assistant index`) until `stop` is set."""
    while not stop.wait(RELOAD_POLL_SECONDS):
        try:
            assistant.reload_if_changed()
        except AssistantError as exc:
            print(f"warning: cannot load the rebuilt index: {exc}", flush=True)


def access_warnings(host: str, access: Access) -> list[str]:
    """What an operator should know about who can use the server they start."""
    local = host in LOCAL_HOSTS
    out = []
    if not access.logins and not local:
        out.append(f"listening on {host} without a password; anyone on the network can ask "
                   "(use --auth USER:PASSWORD for readers, --editor USER:PASSWORD for editors)")
    if access.open_editing:
        who = "every logged-in user" if access.logins else \
            "anyone who can reach the page" + ("" if local else " on the network")
        out.append(f"--open-editing: {who} can add, change and delete documents and rebuild the index")
    elif not any(login.role == EDITOR for login in access.logins.values()):
        out.append("read-only: nobody can add, change or delete documents from the page "
                   "(give editors with --editor USER:PASSWORD, or start with --open-editing)")
    return out
