"""Ledger routes for auditors: the signed head, inclusion and consistency proofs,
records by position, and the whole ledger as a verifiable bundle."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from plumeline.serve._params import BadRequest, integer
from plumeline.serve.auth import needs

__all__ = ["routes"]


@needs("read")
async def head(request: Request) -> JSONResponse:
    return JSONResponse(await request.app.state.ledger.head())


async def _inclusion(request: Request, seq: int) -> JSONResponse:
    tree_size = integer(request, "tree_size", None, low=1)
    return await _proof(request.app.state.ledger.inclusion(seq, tree_size))


async def _proof(asked: Awaitable[dict]) -> JSONResponse:
    """The ledger's proof; a position outside its tree is a 404 that says why."""
    try:
        return JSONResponse(await asked)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None


@needs("read")
async def proof_of_seq(request: Request) -> JSONResponse:
    raw = request.path_params["seq"]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"seq must be a positive integer, got {raw!r}")
    return await _inclusion(request, int(raw))


@needs("read")
async def proof_of_event(request: Request) -> JSONResponse:
    event_id = request.query_params.get("event_id")
    if not event_id:
        raise BadRequest("give event_id (or use /ledger/proof/{seq})")
    seq = await request.app.state.reader.query("seq_of", event_id=event_id)
    if seq is None:
        raise HTTPException(404, f"no event {event_id} in the projected ledger")
    return await _inclusion(request, seq)


@needs("read")
async def consistency(request: Request) -> JSONResponse:
    first = integer(request, "first", None, low=1)
    second = integer(request, "second", None, low=1)
    if first is None or second is None:
        raise BadRequest("give first and second tree sizes")
    return await _proof(request.app.state.ledger.consistency(first, second))


@needs("read")
async def events(request: Request) -> JSONResponse:
    first = integer(request, "from", 1, low=1)
    last = integer(request, "to", None, low=1)
    if last is None:
        last = first + 99
    rows = await request.app.state.reader.query("ledger_events", from_seq=first, to_seq=last)
    return JSONResponse({"events": rows, "count": len(rows)})


@needs("audit")
async def export(request: Request) -> FileResponse:
    exporter = request.app.state.exporter
    if exporter is None:
        raise HTTPException(404, "this deployment does not export over HTTP")
    fd, path = tempfile.mkstemp(suffix=".bundle")
    os.close(fd)
    try:
        await run_in_threadpool(exporter, path)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(path, media_type="application/x-ndjson", filename="ledger.bundle",
                        background=BackgroundTask(os.unlink, path))


routes = [
    Route("/ledger/head", head),
    Route("/ledger/proof", proof_of_event),
    Route("/ledger/proof/{seq}", proof_of_seq),
    Route("/ledger/consistency", consistency),
    Route("/ledger/events", events),
    Route("/ledger/export", export),
]
