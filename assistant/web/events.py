"""Options shared by the page's event listeners: which callbacks stay off the API, and the
concurrency groups that order them.

A callback marked PRIVATE can be called by the page but is neither listed nor callable as
an API endpoint; /ask (gr.api in app.py) is the one public endpoint.
"""

from __future__ import annotations

from typing import Any

PRIVATE = "private"
QUIET: dict[str, Any] = {"api_visibility": PRIVATE, "show_progress": "hidden"}
"""A page-only callback that shows no progress (refreshing lists, showing or hiding controls)."""
ASK_CONCURRENCY = 4
"""Questions answered at once (chat and /ask together); more wait in Gradio's queue."""
ASK_EVENTS: dict[str, Any] = {"concurrency_id": "ask", "concurrency_limit": ASK_CONCURRENCY,
                              "api_visibility": PRIVATE, "show_progress": "minimal"}
"""A question asked on the page: it shares /ask's concurrency group."""
BUILD_EVENTS: dict[str, Any] = {"concurrency_id": "build", "concurrency_limit": 1, "api_visibility": PRIVATE}
"""Anything that changes the library and rebuilds the index: one at a time, so two rebuilds
never run together."""
BRIEFING_EVENTS: dict[str, Any] = {"concurrency_id": "briefing", "concurrency_limit": 1}
"""Every change to a briefing runs in this group: a note saved on leaving its box is
handled before the click that left it (and such calls take milliseconds)."""
