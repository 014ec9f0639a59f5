"""`POST /simulate` and `POST /simulate/batch`: what-if scenarios against a facility's
forecast. Nothing is written anywhere; the ledger never hears of a scenario.

The body is validated here, once (a bad kind or parameter is a 422 naming the field);
the scenario's physics is a function the deployment hands in (`what_if`,
simulator/scenarios.py), applied to the facility's forecast from the projections.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.events import Name
from plumeline.serve._params import BadRequest, body
from plumeline.serve.auth import needs

__all__ = ["MAX_BATCH", "WhatIf", "WhatIfBatch", "routes"]

MAX_BATCH = 16
Hours = Annotated[int, msgspec.Meta(ge=1, le=168)]


class _Scenario(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    start_h: Annotated[int, msgspec.Meta(ge=0, lt=168)] = 0
    duration_h: Hours | None = None  # None: to the end of the horizon


class LoadChange(_Scenario, tag="load_change"):
    factor: Annotated[float, msgspec.Meta(gt=0, le=2)]


class CaptureOutage(_Scenario, tag="capture_outage"):
    fraction: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1.0


class SolventChange(_Scenario, tag="solvent_change"):
    capture_rate_pct: Annotated[float, msgspec.Meta(ge=50, le=99)]


class FuelSwitch(_Scenario, tag="fuel_switch"):
    co2_factor: Annotated[float, msgspec.Meta(ge=0, le=2)]


Scenario = LoadChange | CaptureOutage | SolventChange | FuelSwitch


class WhatIf(msgspec.Struct, forbid_unknown_fields=True):
    facility: Name
    scenario: Scenario
    horizon_h: Hours = 168


class WhatIfBatch(msgspec.Struct, forbid_unknown_fields=True):
    scenarios: Annotated[list[WhatIf], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


async def _run(request: Request, asked: WhatIf, forecasts: dict, where: str = "") -> dict:
    what_if = request.app.state.what_if
    if what_if is None:
        raise HTTPException(503, "this deployment runs no scenarios")
    if asked.scenario.start_h >= asked.horizon_h:
        raise BadRequest(f"{where}scenario.start_h ({asked.scenario.start_h}) must lie "
                         f"inside the horizon of {asked.horizon_h} h", 422)
    key = (asked.facility, asked.horizon_h)
    if key not in forecasts:
        forecasts[key] = await request.app.state.reader.query(
            "emissions_forecast", facility=asked.facility, horizon_h=asked.horizon_h)
    forecast = forecasts[key]
    if forecast["points"] is None:
        raise HTTPException(404, f"{where}no baseline: {forecast['reason']}")
    scenario = msgspec.to_builtins(asked.scenario)
    try:
        return what_if(forecast, scenario)
    except ValueError as exc:
        raise BadRequest(f"{where}{asked.facility}: {exc}", 422) from None


@needs("read")
async def simulate(request: Request) -> JSONResponse:
    asked = await body(request, WhatIf)
    return JSONResponse(await _run(request, asked, {}))


@needs("read")
async def simulate_batch(request: Request) -> JSONResponse:
    batch = await body(request, WhatIfBatch)
    forecasts: dict = {}  # one forecast per facility and horizon, however many scenarios
    results = [await _run(request, asked, forecasts, f"scenarios[{i}]: ")
               for i, asked in enumerate(batch.scenarios)]
    return JSONResponse({"results": results, "count": len(results)})


routes = [
    Route("/simulate", simulate, methods=["POST"]),
    Route("/simulate/batch", simulate_batch, methods=["POST"]),
]
