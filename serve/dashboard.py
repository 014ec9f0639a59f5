"""The operators' page: `GET /` and its assets under `/static`, checked in, no build.

The page is static; it reads the API and `/stream` with the visitor's token like any
other client, so serving it needs no role. serve/static/README.md says what is there.
The page runs only scripts and styles of its own (no inline ones), which its Content
Security Policy holds it to, and it may not be framed (clickjacking an acknowledge).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["CSP", "STATIC", "routes"]

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                 "X-Frame-Options": "DENY",
                                 "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/", index),
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]
