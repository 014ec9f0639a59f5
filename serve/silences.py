"""Silences in force, read from the ledger. Starting one is a command (operator.py)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.serve._params import as_of, text
from plumeline.serve.auth import needs

__all__ = ["routes"]


@needs("read")
async def active(request: Request) -> JSONResponse:
    """In force now; with `?as_of=` an ISO time, in force then (a seq keeps the clock)."""
    seq = await as_of(request)  # checks the parameter before it is read again here
    at = int(request.app.state.clock() * 1000)
    raw = request.query_params.get("as_of", "")
    if raw and not raw.isdigit():
        at = int(datetime.fromisoformat(raw).timestamp() * 1000)
    rows = await request.app.state.reader.query(
        "silences", at_ms=at, facility=text(request, "facility"), as_of_seq=seq)
    return JSONResponse({"silences": rows, "count": len(rows), "at_ms": at})


routes = [Route("/silences", active, methods=["GET"])]
