"""Emissions routes: each facility's carbon balance now and over a period, its CO2
flows per minute or hour, its sensors and their history. Parse, ask, render."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plumeline.serve._params import as_of, choice, instant, integer, text
from plumeline.serve.auth import needs
from plumeline.serve.cache import json_view

__all__ = ["routes"]

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
# /history names resolutions as the other routes do; the projection's own names differ
_HISTORY = {"raw": "raw", "minute": "1m", "hour": "1h"}


def _reader(request: Request):
    return request.app.state.reader


def period(request: Request, span_ms: int) -> tuple[int, int]:
    """`?from=&to=` (epoch ms or ISO-8601); by default the `span_ms` up to now, taken
    to the whole second so that the dashboards polling one view within a second share
    its cached answer (serve/cache.py) instead of each asking for a period of its own."""
    now = int(request.app.state.clock()) * 1000
    to = instant(request, "to", now)
    return instant(request, "from", max(0, to - span_ms)), to


async def _facility(request: Request) -> dict:
    facility = request.path_params["facility"]
    for row in await _reader(request).query("facilities"):
        if row["facility"] == facility:
            return row
    raise HTTPException(404, f"no facility {facility}")


# the bodies of the views kept encoded with their ETags (serve/cache.py)
def _current(rows: list, p: dict) -> dict:
    return {"facilities": rows, "count": len(rows)}


def _as_answered(answer: dict, p: dict) -> dict:
    return answer


def _windows(rows: list, p: dict) -> dict:
    return {"hours": p["hours"], "windows": rows, "count": len(rows)}


@needs("read")
async def current(request: Request) -> Response:
    return await json_view(request, "emissions_current", _current,
                           as_of_seq=await as_of(request))


@needs("read")
async def summary(request: Request) -> Response:
    lo, hi = period(request, _DAY_MS)
    return await json_view(request, "emissions_summary", _as_answered, from_ms=lo, to_ms=hi,
                           facility=text(request, "facility"), as_of_seq=await as_of(request))


def _metrics(rows: list, p: dict) -> dict:
    """The body of /metrics, encoded once per cached answer (serve/cache.py)."""
    return {"facility": p["facility"], "resolution": p["resolution"], "from_ms": p["from_ms"],
            "to_ms": p["to_ms"], "points": rows, "count": len(rows)}


@needs("read")
async def windows(request: Request) -> Response:
    """Each facility's latest sealed hours (`?hours=`, default 48), oldest first: what
    the dashboard draws on load. The figures are those of the ledger's
    emissions.measured records (`seq`), readable there too."""
    return await json_view(request, "emissions_recent", _windows,
                           hours=integer(request, "hours", 48, low=1),
                           as_of_seq=await as_of(request))


@needs("read")
async def metrics(request: Request) -> Response:
    facility = (await _facility(request))["facility"]
    resolution = choice(request, "resolution", ("minute", "hour"), "minute")
    lo, hi = period(request, _HOUR_MS if resolution == "minute" else _DAY_MS)
    return await json_view(request, "facility_metrics", _metrics, facility=facility,
                           from_ms=lo, to_ms=hi, resolution=resolution)


@needs("read")
async def sensors(request: Request) -> JSONResponse:
    found = await _facility(request)
    latest = {r["sensor"]: r for r in await _reader(request).query(
        "latest_readings", facility=found["facility"])}
    rows = [{**s, "latest": latest.get(s["sensor"])} for s in found["sensors"]]
    return JSONResponse({"facility": found["facility"], "sensors": rows, "count": len(rows)})


@needs("read")
async def history(request: Request) -> JSONResponse:
    found = await _facility(request)
    sensor = request.path_params["sensor"]
    if sensor not in {s["sensor"] for s in found["sensors"]}:
        raise HTTPException(404, f"no sensor {sensor} at {found['facility']}")
    resolution = choice(request, "resolution", tuple(_HISTORY), "minute")
    lo, hi = period(request, _HOUR_MS)
    limit = integer(request, "limit", 10_000, low=1)
    if limit > 10_000:
        raise HTTPException(400, f"limit is at most 10000, got {limit}")
    if hi <= lo:
        raise HTTPException(400, "from must lie before to")
    rows = await _reader(request).query(
        "sensor_history", facility=found["facility"], sensor=sensor, from_ms=lo, to_ms=hi,
        resolution=_HISTORY[resolution], limit=limit)
    return JSONResponse({"facility": found["facility"], "sensor": sensor,
                         "resolution": resolution, "from_ms": lo, "to_ms": hi,
                         "points": rows, "count": len(rows)})


routes = [
    Route("/emissions/current", current),
    Route("/emissions/summary", summary),
    Route("/emissions/windows", windows),
    Route("/facilities/{facility}/metrics", metrics),
    Route("/facilities/{facility}/sensors", sensors),
    Route("/facilities/{facility}/sensors/{sensor}/history", history),
]
