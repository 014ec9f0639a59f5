"""Read routes: alerts, recommendations, facilities, hotspots, each as of any ledger
position (`?as_of=`). Handlers parse, ask the projections, render."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plumeline.serve._params import as_of, integer, text
from plumeline.serve.auth import needs
from plumeline.serve.cache import json_view

__all__ = ["routes"]


def _reader(request: Request):
    return request.app.state.reader


@needs("read")
async def health(request: Request) -> JSONResponse:
    status = await _reader(request).query("projection_status")
    head = await request.app.state.ledger.head()
    return JSONResponse({"status": "ok", "ledger_size": head["tree_size"],
                         "projections": status})


# the bodies of the list views, encoded once per cached answer (serve/cache.py)
def _alerts(rows: list, params: dict) -> dict:
    return {"alerts": rows, "count": len(rows)}


def _recommendations_body(rows: list, params: dict) -> dict:
    return {"recommendations": rows, "count": len(rows)}


def _facilities(rows: list, params: dict) -> dict:
    return {"facilities": rows, "count": len(rows)}


def _hotspots(rows: list, params: dict) -> dict:
    return {"hotspots": rows, "count": len(rows)}


@needs("read")
async def list_alerts(request: Request) -> Response:
    return await json_view(
        request, "alerts", _alerts, state=text(request, "state"),
        severity=text(request, "severity"), facility=text(request, "facility"),
        limit=integer(request, "limit", 100, low=1), as_of_seq=await as_of(request),
    )


@needs("read")
async def one_alert(request: Request) -> JSONResponse:
    return await _one(request, "alert", "alert_id")


async def _recommendations(request: Request, state: str | None) -> Response:
    return await json_view(
        request, "recommendations", _recommendations_body, state=state,
        facility=text(request, "facility"), limit=integer(request, "limit", 100, low=1),
        as_of_seq=await as_of(request),
    )


@needs("read")
async def list_recommendations(request: Request) -> Response:
    return await _recommendations(request, text(request, "state"))


@needs("read")
async def pending_recommendations(request: Request) -> Response:
    return await _recommendations(request, "pending")


@needs("read")
async def one_recommendation(request: Request) -> JSONResponse:
    return await _one(request, "recommendation", "recommendation_id")


async def _one(request: Request, query: str, key: str) -> JSONResponse:
    """The `query` row whose `key` is the path's, as of the request's position; 404 if none."""
    value = request.path_params[key]
    found = await _reader(request).query(query, **{key: value}, as_of_seq=await as_of(request))
    if found is None:
        raise HTTPException(404, f"no {query} {value}")
    return JSONResponse(found)


@needs("read")
async def list_facilities(request: Request) -> Response:
    return await json_view(request, "facilities", _facilities,
                           as_of_seq=await as_of(request))


@needs("read")
async def one_facility(request: Request) -> JSONResponse:
    facility = request.path_params["facility"]
    rows = await _reader(request).query("facilities", as_of_seq=await as_of(request))
    for row in rows:
        if row["facility"] == facility:
            return JSONResponse(row)
    raise HTTPException(404, f"no facility {facility}")


@needs("read")
async def list_hotspots(request: Request) -> Response:
    return await json_view(
        request, "hotspots", _hotspots, facility=text(request, "facility"),
        limit=integer(request, "limit", 100, low=1), as_of_seq=await as_of(request),
    )


routes = [
    Route("/health", health),
    Route("/alerts", list_alerts),
    Route("/alerts/{alert_id}", one_alert),
    Route("/recommendations", list_recommendations),
    Route("/recommendations/pending", pending_recommendations),
    Route("/recommendations/{recommendation_id}", one_recommendation),
    Route("/facilities", list_facilities),
    Route("/facilities/{facility}", one_facility),
    Route("/hotspots", list_hotspots),
]
