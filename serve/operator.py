"""Command routes: acknowledge or clear an alert, silence a sensor, decide on a
recommendation.

A handler checks what it can see (the alert exists, the body is valid), stamps the
command with the caller and the time, and publishes it. The facility's actor decides;
the handler then waits briefly for the outcome in the projections: 200 with the new
state, 409 with the actor's reason, or 202 with the command's READINGS seq if the
projections have not caught up within `command_wait_s`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.events import (
    AcknowledgeAlert,
    ApproveRecommendation,
    ClearAlert,
    Name,
    RejectRecommendation,
    SilenceSensor,
)
from plumeline.serve._params import BadRequest, body
from plumeline.serve.auth import needs

__all__ = ["Note", "Silence", "now_ms", "routes", "submit"]

Text = Annotated[str, msgspec.Meta(max_length=2000)]


class Note(msgspec.Struct, forbid_unknown_fields=True):
    note: Text = ""


class Silence(msgspec.Struct, forbid_unknown_fields=True):
    facility: Name
    sensor: Annotated[str, msgspec.Meta(
        max_length=64, description="empty or absent: every sensor of the facility")] = ""
    until_ms: Annotated[int, msgspec.Meta(ge=0, lt=2**53, description="epoch milliseconds")
                        ] | None = None
    duration_s: Annotated[int, msgspec.Meta(gt=0, le=366 * 86_400)] | None = None
    reason: Text = ""


def now_ms(request: Request) -> int:
    """The command's time: the app's clock, in ms."""
    return int(request.app.state.clock() * 1000)


async def submit(request: Request, command, current) -> JSONResponse:
    """Publish `command` and answer with what it caused once the projections show it:
    409 with the reason if the actor rejected it, else the event and `current()` (the
    state it changed); 202 if nothing is projected within `command_wait_s`. Operator
    and admin routes alike (serve/admin.py)."""
    state = request.app.state
    seq = await state.commands.publish(command)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.command_wait_s
    while True:
        caused = await state.uncached.query("caused_by", seq=seq)
        if caused:
            event = caused[0]
            summary = {"command_seq": seq, "ledger_seq": event["seq"],
                       "event_id": event["event_id"], "event": event["type"]}
            if event["type"] == "command.rejected":
                reason = json.loads(event["record"])["event"]["body"]["reason"]
                return JSONResponse({"error": reason, **summary}, status_code=409)
            return JSONResponse({**summary, "state": await current()})
        if loop.time() >= deadline:
            return JSONResponse({"command_seq": seq, "status": "accepted"}, status_code=202)
        await asyncio.sleep(0.1)


async def _command_on(request: Request, kind, query: str, key: str) -> JSONResponse:
    """A command on one alert or recommendation, named by the path parameter `key`
    and looked up with the projection query `query`: 404 if there is none."""
    ident = request.path_params[key]
    note = await body(request, Note)
    uncached = request.app.state.uncached
    found = await uncached.query(query, **{key: ident})
    if found is None:
        raise HTTPException(404, f"no {query} {ident}")
    command = kind(facility=found["facility"], note=note.note, **{key: ident},
                   user=request.user.display_name, time=now_ms(request))
    return await submit(request, command, lambda: uncached.query(query, **{key: ident}))


@needs("command")
async def acknowledge_alert(request: Request) -> JSONResponse:
    return await _command_on(request, AcknowledgeAlert, "alert", "alert_id")


@needs("command")
async def clear_alert(request: Request) -> JSONResponse:
    return await _command_on(request, ClearAlert, "alert", "alert_id")


@needs("command")
async def approve_recommendation(request: Request) -> JSONResponse:
    return await _command_on(request, ApproveRecommendation, "recommendation",
                             "recommendation_id")


@needs("command")
async def reject_recommendation(request: Request) -> JSONResponse:
    return await _command_on(request, RejectRecommendation, "recommendation",
                             "recommendation_id")


@needs("command")
async def silence(request: Request) -> JSONResponse:
    wanted = await body(request, Silence)
    if (wanted.until_ms is None) == (wanted.duration_s is None):
        raise BadRequest("give exactly one of until_ms and duration_s", 422)
    now = now_ms(request)
    until = wanted.until_ms if wanted.until_ms is not None else now + wanted.duration_s * 1000
    if until <= now:
        raise BadRequest("until_ms is in the past", 422)
    facilities = await request.app.state.uncached.query("facilities")
    found = next((f for f in facilities if f["facility"] == wanted.facility), None)
    if found is None:
        raise HTTPException(404, f"no facility {wanted.facility}")
    if wanted.sensor and wanted.sensor not in {s["sensor"] for s in found["sensors"]}:
        raise HTTPException(404, f"no sensor {wanted.sensor} at {wanted.facility}")
    command = SilenceSensor(facility=wanted.facility, sensor=wanted.sensor, until_ms=until,
                            reason=wanted.reason, user=request.user.display_name, time=now)

    async def current():
        return {"facility": wanted.facility, "sensor": wanted.sensor, "until_ms": until}

    return await submit(request, command, current)


routes = [
    Route("/alerts/{alert_id}/acknowledge", acknowledge_alert, methods=["POST"]),
    Route("/alerts/{alert_id}/clear", clear_alert, methods=["POST"]),
    Route("/silences", silence, methods=["POST"]),
    Route("/recommendations/{recommendation_id}/approve", approve_recommendation,
          methods=["POST"]),
    Route("/recommendations/{recommendation_id}/reject", reject_recommendation,
          methods=["POST"]),
]
