"""GET /page-image/DOC_ID/START-END.png: a PDF quote's page(s) with the quote boxed, as one PNG.

The path is what `ask --json` and /ask give as a PDF citation's `page_image`. Made on first
asking, then read from <index>/page-images/ (pipeline.quote_pages). When the server has logins,
only a signed-in browser (Gradio's session cookie) gets an image; a PDF changed since indexing
is answered 409 with the reason, an unknown document or a span that is no quote 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from ..errors import PageViewError, SourceChangedError
from ..pageview.highlight import stacked_png
from ..pageview.links import PAGE_IMAGE_ROUTE
from ..pipeline import Assistant
from .access import Access

MAX_QUOTE_CHARS = 20_000
"""Longest span a page image is made for: a quote, not a document."""


def add_page_image_route(app: Any, assistant: Assistant, access: Access) -> None:
    """Serve PAGE_IMAGE_ROUTE on a running Gradio app (FastAPI), for the pages of this assistant's index."""
    def page_image(doc_id: str, start: int, end: int, request: Request) -> Response:
        if access.logins and _signed_in_user(app, request) is None:
            return PlainTextResponse("Sign in first.", status_code=401)
        if not 0 <= start < end or end - start > MAX_QUOTE_CHARS:
            return PlainTextResponse(f"characters {start}-{end}: not a quote", status_code=404)
        try:
            pages = assistant.quote_pages_at(doc_id, start, end)
        except SourceChangedError as exc:
            return PlainTextResponse(str(exc), status_code=409)
        except PageViewError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        return Response(stacked_png(pages), media_type="image/png", headers={"Cache-Control": "private, max-age=600"})

    app.add_api_route(PAGE_IMAGE_ROUTE, page_image, methods=["GET"], include_in_schema=False)


def _signed_in_user(app: Any, request: Request) -> str | None:
    """The user Gradio's login cookie names (as Gradio's own /user route reads it)."""
    cookie_id = getattr(app, "cookie_id", "")
    cookies = request.cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    user = getattr(app, "tokens", {}).get(token)
    return str(user) if user else None
