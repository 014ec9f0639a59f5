"""The HTTP app: one Starlette application built from explicit lists.

Handlers parse, call, render. They read through a `Reader` (the projections) and ask a
`LedgerView` for tree heads and proofs; both are handed in by the deployment, so the
app is tested over HTTP with plain objects and served on Ray with actor handles.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["LedgerView", "Reader", "build_app"]

ALERT_STATES = ("active", "cleared", "acknowledged", "unacknowledged")


class Reader(Protocol):
    async def query(self, name: str, **params: Any) -> Any: ...


class LedgerView(Protocol):
    async def head(self) -> dict: ...
    async def inclusion(self, seq: int, tree_size: int | None) -> dict: ...


class BadRequest(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


def _int(request: Request, name: str, default: int | None = None, *, low: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < low:
        raise BadRequest(f"{name} must be at least {low}, got {value}")
    return value


def _str(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def build_app(reader: Reader, ledger: LedgerView) -> Starlette:
    async def health(request: Request) -> JSONResponse:
        status = await reader.query("projection_status")
        head = await ledger.head()
        return JSONResponse({"status": "ok", "ledger_size": head["tree_size"],
                             "projections": status})

    async def alerts(request: Request) -> JSONResponse:
        rows = await reader.query(
            "alerts",
            state=_str(request, "state"),
            severity=_str(request, "severity"),
            facility=_str(request, "facility"),
            limit=_int(request, "limit", 100, low=1),
            as_of_seq=_int(request, "as_of", None, low=1),
        )
        return JSONResponse({"alerts": rows, "count": len(rows)})

    async def hotspots(request: Request) -> JSONResponse:
        rows = await reader.query(
            "hotspots",
            facility=_str(request, "facility"),
            limit=_int(request, "limit", 100, low=1),
            as_of_seq=_int(request, "as_of", None, low=1),
        )
        return JSONResponse({"hotspots": rows, "count": len(rows)})

    async def ledger_head(request: Request) -> JSONResponse:
        return JSONResponse(await ledger.head())

    async def ledger_proof(request: Request) -> JSONResponse:
        raw = request.path_params["seq"]
        if not raw.isdigit():
            raise BadRequest(f"seq must be a positive integer, got {raw!r}")
        seq = int(raw)
        tree_size = _int(request, "tree_size", None, low=1)
        try:
            return JSONResponse(await ledger.inclusion(seq, tree_size))
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None

    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def on_value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/alerts", alerts),
            Route("/hotspots", hotspots),
            Route("/ledger/head", ledger_head),
            Route("/ledger/proof/{seq}", ledger_proof),
        ],
        exception_handlers={HTTPException: on_http_error, ValueError: on_value_error},
    )
