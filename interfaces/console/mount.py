"""Serving the console's files from the API process.

``/console/static/...`` are the files themselves (Starlette's `StaticFiles`: ETag and
Last-Modified, so a reload revalidates instead of downloading again). Every other path under
``/console`` answers ``index.html``: the page routes on the client, so a deep link such as
``/console/executions/<id>`` or a reload on it must load the same document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "index.html"
# The document changes with every release and is tiny: always revalidated. The modules it loads
# are revalidated too (no-cache still uses the cached copy when the ETag matches).
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class _RevalidatedFiles(StaticFiles):
    """The console's modules, revalidated on every load: a new release's `app.js` must not meet
    a cached `api.js` of the old one (ES modules import each other by URL, without versions)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


# The page runs only its own modules and talks only to its own origin: data from the API that
# slipped into markup could not run a script or send anything elsewhere. Inline styles are
# allowed for the SVG drawings Mermaid makes (it styles them with a <style> element).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def _index() -> FileResponse:
    headers = {**_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers=headers)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/console`` on `app` (outside the OpenAPI document: it is a page,
    not an operation of the API)."""
    app.mount(
        f"{CONSOLE_PATH}/static", _RevalidatedFiles(directory=STATIC_DIR), name="console-static"
    )

    @app.get(CONSOLE_PATH, include_in_schema=False, name="console")
    async def console() -> FileResponse:
        return _index()

    @app.get(CONSOLE_PATH + "/{path:path}", include_in_schema=False, name="console_page")
    async def console_page(path: str) -> FileResponse:
        return _index()
