"""`GET /emissions/forecast`: a facility's next hours of CO2, with prediction intervals.

The projections fit and cache the model (projections/forecast.py); this parses, asks,
renders. No model yet (under two days of emissions) is a 404 that says how much
history there is, never a made-up forecast.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.projections import MAX_HORIZON_H
from plumeline.serve._params import BadRequest, as_of, integer, text
from plumeline.serve.auth import needs

__all__ = ["routes"]


@needs("read")
async def emissions_forecast(request: Request) -> JSONResponse:
    facility = text(request, "facility")
    if facility is None:
        raise BadRequest("facility is required, e.g. ?facility=ccs-01")
    horizon = integer(request, "horizon_h", MAX_HORIZON_H, low=1)
    if horizon > MAX_HORIZON_H:
        raise BadRequest(f"horizon_h must be at most {MAX_HORIZON_H}, got {horizon}")
    found = await request.app.state.reader.query(
        "emissions_forecast", facility=facility, horizon_h=horizon,
        as_of_seq=await as_of(request))
    if found["points"] is None:
        raise HTTPException(404, found["reason"])
    return JSONResponse(found)


routes = [Route("/emissions/forecast", emissions_forecast)]
