"""The operators' page: `GET /` and its assets under `/static`, checked in, no build.

The page is static; it reads the API and `/stream` with the visitor's token like any
other client, so serving it needs no role. serve/static/README.md says what is there.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC", "routes"]

STATIC = Path(__file__).parent / "static"


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


routes = [
    Route("/", index),
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]
