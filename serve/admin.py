"""Sensor management for admins: `/admin/facilities/{facility}/sensors`.

An admin declares a sensor (what a device's manifest declares: name, quantity, unit,
role), changes its unit or role, or retires it. Each is a command on the facility's
command subject (events/wire.py, `DeclareSensor`, `ChangeSensor`, `RetireSensor`),
decided by the facility's actor like an operator's (actors/roster.py) and recorded as
`sensor.registered`, `sensor.changed` or `sensor.retired`; so the ledger holds who
changed what, and `audit replay` reproduces it. The handler checks what it can see
first (the facility and sensor exist, the unit suits the role: `spec_refusal`, the
rule the actor applies too) and answers as the operator's routes do (serve/operator.py):
200 (201 for a declaration) with the sensor, 409 with the actor's reason, 202 while
the projections catch up. The `manage` scope: admins.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.events import (
    ChangeSensor,
    DeclareSensor,
    Name,
    RetireSensor,
    Role,
    spec_refusal,
)
from plumeline.serve._params import BadRequest, body
from plumeline.serve.auth import needs
from plumeline.serve.operator import now_ms, submit

__all__ = ["BODIES", "OPENAPI_PATHS", "NewSensor", "SensorChange", "routes"]

_Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NewSensor(msgspec.Struct, forbid_unknown_fields=True):
    sensor: Name
    quantity: _Label
    unit: _Label
    role: Role = "process"


class SensorChange(msgspec.Struct, forbid_unknown_fields=True):
    unit: Annotated[str, msgspec.Meta(max_length=64, description="absent: as it is")] = ""
    role: Role | None = None


async def _roster(request: Request) -> dict:
    """The facility's sensors as the ledger knows them; 404 for a facility it does not."""
    facility = request.path_params["facility"]
    found = await request.app.state.uncached.query("sensors", facility=facility)
    if found is None:
        raise HTTPException(404, f"no facility {facility}")
    return found


def _sensor(roster: dict, sensor: str, *, retired_ok: bool = False) -> dict:
    """The sensor of the roster; 404 if there is none, 409 if it is retired."""
    found = next((s for s in roster["sensors"] if s["sensor"] == sensor), None)
    if found is None:
        raise HTTPException(404, f"no sensor {sensor} at {roster['facility']}")
    if found["retired"] and not retired_ok:
        raise HTTPException(409, f"sensor {sensor} was retired already at {roster['facility']}")
    return found


async def _submit_on(request: Request, command, status: int = 200) -> JSONResponse:
    """Publish `command` and answer with the sensor as the projections then show it."""
    facility, sensor = command.facility, command.sensor

    async def current() -> dict:
        roster = await request.app.state.uncached.query("sensors", facility=facility)
        return _sensor(roster, sensor, retired_ok=True)

    response = await submit(request, command, current)
    if response.status_code == 200:
        response.status_code = status
    return response


def _refuse_spec(unit: str, role: str) -> None:
    if why := spec_refusal(unit, role):
        raise BadRequest(why, 422)


@needs("manage")
async def list_sensors(request: Request) -> JSONResponse:
    return JSONResponse(await _roster(request))


@needs("manage")
async def declare(request: Request) -> JSONResponse:
    wanted = await body(request, NewSensor)
    _refuse_spec(wanted.unit, wanted.role)
    roster = await _roster(request)
    if any(s["sensor"] == wanted.sensor for s in roster["sensors"]):
        raise HTTPException(409, f"sensor {wanted.sensor} is declared already at "
                                 f"{roster['facility']} (retired sensors' names stay taken)")
    command = DeclareSensor(facility=roster["facility"], sensor=wanted.sensor,
                            quantity=wanted.quantity, unit=wanted.unit, role=wanted.role,
                            user=request.user.display_name, time=now_ms(request))
    return await _submit_on(request, command, 201)


@needs("manage")
async def change(request: Request) -> JSONResponse:
    wanted = await body(request, SensorChange)
    if not wanted.unit and wanted.role is None:
        raise BadRequest("give a unit, a role or both", 422)
    roster = await _roster(request)
    now = _sensor(roster, request.path_params["sensor"])
    _refuse_spec(wanted.unit or now["unit"], wanted.role or now["role"])
    command = ChangeSensor(facility=roster["facility"], sensor=now["sensor"],
                           unit=wanted.unit, role=wanted.role,
                           user=request.user.display_name, time=now_ms(request))
    return await _submit_on(request, command)


@needs("manage")
async def retire(request: Request) -> JSONResponse:
    roster = await _roster(request)
    now = _sensor(roster, request.path_params["sensor"])
    command = RetireSensor(facility=roster["facility"], sensor=now["sensor"],
                           user=request.user.display_name, time=now_ms(request))
    return await _submit_on(request, command)


_PATH = "/admin/facilities/{facility}/sensors"
routes = [
    Route(_PATH, list_sensors, methods=["GET"]),
    Route(_PATH, declare, methods=["POST"]),
    Route(_PATH + "/{sensor}", change, methods=["PATCH"]),
    Route(_PATH + "/{sensor}", retire, methods=["DELETE"]),
]

# The OpenAPI description (serve/openapi.py adds it, with the bodies from BODIES).
_ANSWER = {"description": "a JSON answer", "content": {"application/json": {
    "schema": {"type": "object"}}}}
_ADMIN = {"security": [{"bearer": []}], "description": "role admin only"}
_STR = {"type": "string"}
_IN_PATH = [{"name": "facility", "in": "path", "required": True, "schema": _STR}]
_OF_SENSOR = [*_IN_PATH, {"name": "sensor", "in": "path", "required": True, "schema": _STR}]
_REFUSED = {code: _ANSWER for code in ("401", "403", "404", "409")}
OPENAPI_PATHS = {
    _PATH: {
        "get": {"summary": "the facility's sensors as the ledger knows them, retired ones "
                           "too, each with who last declared, changed or retired it",
                **_ADMIN, "parameters": _IN_PATH,
                "responses": {"200": _ANSWER, "401": _ANSWER, "403": _ANSWER,
                              "404": _ANSWER}},
        "post": {"summary": "declare a sensor, as a manifest would; recorded in the ledger "
                            "as sensor.registered", **_ADMIN, "parameters": _IN_PATH,
                 "responses": {"201": _ANSWER, "202": _ANSWER, **_REFUSED,
                               "422": _ANSWER}}},
    _PATH + "/{sensor}": {
        "patch": {"summary": "change a sensor's unit or role (a CO2 flow reads in t/h); "
                             "recorded as sensor.changed", **_ADMIN, "parameters": _OF_SENSOR,
                  "responses": {"200": _ANSWER, "202": _ANSWER, **_REFUSED,
                                "422": _ANSWER}},
        "delete": {"summary": "retire a sensor: its readings are refused from then on, as "
                              "an undeclared sensor's; recorded as sensor.retired",
                   **_ADMIN, "parameters": _OF_SENSOR,
                   "responses": {"200": _ANSWER, "202": _ANSWER, **_REFUSED}}},
}
BODIES = {(_PATH, "post"): NewSensor, (_PATH + "/{sensor}", "patch"): SensorChange}
