"""The OpenAPI 3.1 description of the HTTP API, kept next to the routes it describes.

Paths, parameters and prose are written out: the handlers stay parse-call-render, and
a test checks that every route of the app appears here and nothing else does. Request
bodies are not: each is generated from the msgspec type its handler decodes it with
(`request_body`), so the description cannot promise what the decoder refuses. The
vocabularies (severities, alert and webhook event types) come from where they are
defined.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.serve.admin import BODIES as _ADMIN_BODIES
from plumeline.serve.admin import OPENAPI_PATHS as _ADMIN_PATHS
from plumeline.serve.signin import OPENAPI_PATHS as _AUTH_PATHS
from plumeline.serve.signin import Login, NewKey, Refresh

__all__ = ["SPEC", "routes"]
from plumeline.events import SEVERITIES, Frame
from plumeline.projections import (
    ALERT_STATES,
    RECOMMENDATION_STATES,
    WEBHOOK_EVENT_TYPES,
    WEBHOOK_OUTCOMES,
    WebhookRequest,
)
from plumeline.serve.ingest import MAX_FRAMES
from plumeline.serve.operator import Note, Silence
from plumeline.serve.simulate import WhatIf, WhatIfBatch

__all__ = ["COMPONENTS", "INGEST_BODY", "SPEC", "request_body", "routes"]

# The schemas request bodies refer to, by Struct name (#/components/schemas/...).
COMPONENTS: dict[str, Any] = {}
# What `POST /ingest` decodes, with the frame count its handler allows.
INGEST_BODY = Frame | Annotated[list[Frame], msgspec.Meta(min_length=1, max_length=MAX_FRAMES)]


def request_body(kind: Any, *, required: bool = True) -> dict:
    """The request body a handler decoding `kind` takes, its schema generated from it."""
    (schema,), components = msgspec.json.schema_components(
        [kind], ref_template="#/components/schemas/{name}")
    for name, component in components.items():
        if COMPONENTS.setdefault(name, component) != component:
            raise ValueError(f"two request types share the schema name {name!r}")
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_OBJ = {"type": "object"}
_ERROR = {"description": "a message saying what is wrong", "content": {"application/json": {
    "schema": {"type": "object", "properties": {"error": {"type": "string"}},
               "required": ["error"]}}}}


def _json(description: str, schema: dict | None = None) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": schema or _OBJ}}}


def _q(name: str, description: str, schema: dict | None = None, required: bool = False):
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _p(name: str, description: str, schema: dict | None = None):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


_AS_OF = _q("as_of", "a ledger seq, or an ISO-8601 time with zone: the view as it was then",
            {"anyOf": [{"type": "integer", "minimum": 0},
                       {"type": "string", "format": "date-time"}]})
_LIMIT = _q("limit", "at most this many", {"type": "integer", "minimum": 1, "maximum": 10000})
_FACILITY = _q("facility", "only this facility")
_SEVERITY = {"type": "string", "enum": list(SEVERITIES)}
_ALERT_STATE = {"type": "string", "enum": list(ALERT_STATES)}
_REC_STATE = {"type": "string", "enum": list(RECOMMENDATION_STATES)}
_SEQ = {"type": "integer", "minimum": 1}
_NOTE = request_body(Note, required=False)
_SILENCE = request_body(Silence)


def _read(summary: str, params: list, ok: str, *, found: bool = False) -> dict:
    responses = {"200": _json(ok), "400": _ERROR, "401": _ERROR, "403": _ERROR}
    if found:
        responses["404"] = _ERROR
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def _command(summary: str, params: list, request_body: dict) -> dict:
    return {"post": {
        "summary": summary, "parameters": params, "requestBody": request_body,
        "security": [{"bearer": []}],
        "responses": {
            "200": _json("carried out; the new state"),
            "202": _json("published (command_seq); the projections have not shown it yet"),
            "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR,
            "409": _json("refused by the facility, with the reason", _ERROR["content"][
                "application/json"]["schema"]),
            "422": _ERROR, "503": _ERROR,
        }}}


_HOURS = {"type": "integer", "minimum": 1, "maximum": 168}


def _simulate(summary: str, kind: type) -> dict:
    return {"post": {
        "summary": summary, "parameters": [], "requestBody": request_body(kind),
        "responses": {
            "200": _json("baseline and projected hourly balance (emitted, captured, stored, "
                         "vented, net) and the difference in tCO2e/day"),
            "400": _ERROR, "401": _ERROR, "403": _ERROR,
            "404": _json("no forecast yet to use as the baseline", _ERROR["content"][
                "application/json"]["schema"]),
            "422": _ERROR, "503": _ERROR}}}
_WEBHOOK_TYPES = {"type": "string", "enum": list(WEBHOOK_EVENT_TYPES)}
_WEBHOOK = {"type": "object", "properties": {
    "id": {"type": "string"}, "url": {"type": "string"},
    "facility": {"type": ["string", "null"]},
    "severities": {"type": ["array", "null"], "items": _SEVERITY},
    "event_types": {"type": "array", "items": _WEBHOOK_TYPES},
    "created_ms": {"type": "integer"}, "created_by": {"type": "string"}}}
_NEW_WEBHOOK = request_body(WebhookRequest)
_DELIVERY = {"type": "object", "properties": {
    "subscription": {"type": "string"}, "event_seq": _SEQ, "event_id": {"type": "string"},
    "event_type": _WEBHOOK_TYPES, "attempt": {"type": "integer", "minimum": 1},
    "time_ms": {"type": "integer"}, "status": {"type": ["integer", "null"]},
    "result": {"type": "string", "enum": list(WEBHOOK_OUTCOMES),
               "description": "what happened, as a class; never the receiver's words"},
    "outcome": {"type": "string", "enum": ["delivered", "retry", "failed"]},
    "next_retry_ms": {"type": ["integer", "null"]}}}
_WEBHOOK_ID = _p("webhook_id", "the subscription's id")
_OPERATOR = [{"bearer": []}]
_DENIED = {"401": _ERROR, "403": _ERROR}


def _webhook_paths() -> dict:
    return {
        "/webhooks": {
            "post": {"summary": "subscribe a URL to alert events", "security": _OPERATOR,
                     "parameters": [], "requestBody": _NEW_WEBHOOK,
                     "responses": {"201": _json("the subscription, with its secret", _WEBHOOK),
                                   "400": _ERROR, "422": _ERROR, **_DENIED, "503": _ERROR}},
            "get": {"summary": "webhook subscriptions, oldest first", "security": _OPERATOR,
                    "parameters": [], "responses": {"200": _json("subscriptions"), **_DENIED}}},
        "/webhooks/{webhook_id}": {
            "get": {"summary": "one subscription (without its secret)", "security": _OPERATOR,
                    "parameters": [_WEBHOOK_ID],
                    "responses": {"200": _json("the subscription", _WEBHOOK), **_DENIED,
                                  "404": _ERROR}},
            "delete": {"summary": "unsubscribe; pending deliveries and the log go too",
                       "security": _OPERATOR, "parameters": [_WEBHOOK_ID],
                       "responses": {"204": {"description": "deleted"}, **_DENIED,
                                     "404": _ERROR}}},
        "/webhooks/{webhook_id}/deliveries": {"get": {
            "summary": "the delivery log: one entry per attempt, newest first",
            "security": _OPERATOR,
            "parameters": [_WEBHOOK_ID, _q("limit", "at most this many (default 100)",
                                           {"type": "integer", "minimum": 1, "maximum": 1000})],
            "responses": {"200": _json("attempts", {"type": "object", "properties": {
                "deliveries": {"type": "array", "items": _DELIVERY}}}),
                "400": _ERROR, **_DENIED, "404": _ERROR}}},
    }


_ALERT_ID = _p("alert_id", "the alert's id")
_REC_ID = _p("recommendation_id", "the recommendation's id")

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Plumeline", "version": "1",
             "description": "Emissions monitoring on a verifiable ledger."},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                   "schemas": COMPONENTS},
    "paths": {
        "/health": _read("liveness and projection progress", [], "ok"),
        "/alerts": _read("alerts, most recently raised first", [
            _q("state", "one side of one axis", _ALERT_STATE), _q("severity", "", _SEVERITY),
            _FACILITY, _LIMIT, _AS_OF], "alerts and their count"),
        "/alerts/{alert_id}": _read("one alert with its history", [_ALERT_ID, _AS_OF],
                                    "the alert", found=True),
        "/alerts/{alert_id}/acknowledge": _command("acknowledge an alert", [_ALERT_ID], _NOTE),
        "/alerts/{alert_id}/clear": _command("clear an alert by hand", [_ALERT_ID], _NOTE),
        "/silences": _command("no new alerts from a sensor or facility for a while", [],
                              _SILENCE),
        "/recommendations": _read("recommendations, newest first", [
            _q("state", "", _REC_STATE), _FACILITY, _LIMIT, _AS_OF], "recommendations"),
        "/recommendations/pending": _read("recommendations awaiting a decision",
                                          [_FACILITY, _LIMIT, _AS_OF], "recommendations"),
        "/recommendations/{recommendation_id}": _read("one recommendation", [_REC_ID, _AS_OF],
                                                      "the recommendation", found=True),
        "/recommendations/{recommendation_id}/approve": _command(
            "approve a recommendation", [_REC_ID], _NOTE),
        "/recommendations/{recommendation_id}/reject": _command(
            "reject a recommendation", [_REC_ID], _NOTE),
        "/facilities": _read("facilities with their sensors", [_AS_OF], "facilities"),
        "/facilities/{facility}": _read("one facility", [_p("facility", "its id"), _AS_OF],
                                        "the facility", found=True),
        "/hotspots": _read("hotspots, newest first", [_FACILITY, _LIMIT, _AS_OF], "hotspots"),
        "/emissions/forecast": _read(
            "hourly CO2 emitted and net ahead, with 80% and 95% prediction intervals", [
                _q("facility", "the facility", required=True),
                _q("horizon_h", "hours ahead (default 168)", _HOURS), _AS_OF],
            "the forecast's points", found=True),
        "/simulate": _simulate("a what-if scenario against a facility's forecast; "
                               "nothing is recorded", WhatIf),
        "/simulate/batch": _simulate("up to 16 scenarios at once, answered in order",
                                     WhatIfBatch),
        "/ledger/head": _read("the latest signed tree head", [], "tree head"),
        "/ledger/proof": _read("RFC 6962 inclusion proof of an event", [
            _q("event_id", "the event's id", required=True),
            _q("tree_size", "in the tree of this size", _SEQ)], "audit path", found=True),
        "/ledger/proof/{seq}": _read("RFC 6962 inclusion proof of a record", [
            _p("seq", "ledger position", _SEQ), _q("tree_size", "in the tree of this size", _SEQ)],
            "audit path", found=True),
        "/ledger/consistency": _read("RFC 6962 consistency proof between two tree sizes", [
            _q("first", "the older tree size", _SEQ, True),
            _q("second", "the newer tree size", _SEQ, True)], "proof", found=True),
        "/ledger/events": _read("ledger records by position, with their exact bytes", [
            _q("from", "first seq", _SEQ), _q("to", "last seq", _SEQ)], "records"),
        "/ledger/export": {"get": {
            "summary": "the whole ledger as a bundle `plumeline verify` checks",
            "security": [{"bearer": []}], "parameters": [],
            "responses": {"200": {"description": "the bundle",
                                  "content": {"application/x-ndjson": {}}},
                          "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
        "/stream": {"get": {
            "summary": "new ledger records as server-sent events, as they are appended",
            "description": (
                "Each record is an event with `id:` its ledger seq, `event:` its type and "
                "`data:` the JSON `/ledger/events` renders. Reconnect with `Last-Event-ID` "
                "(or `?last_event_id=`) to be replayed what was missed first. A comment "
                "every 15 s keeps the connection open; a client that falls too far behind "
                "gets `event: overflow` (its `id:` is the seq to resume after) and is "
                "closed. A resume from further back than 5,000 records first gets "
                "`event: gap` (`missed_from`, `missed_to`, `resume_after`) and then the "
                "newest 5,000. A replica serves 1,000 streams at most: beyond, 503 with "
                "Retry-After. EventSource cannot set headers, so `?token=` is accepted "
                "here (and only here)."),
            "parameters": [
                _FACILITY, _q("types", "comma-separated event types, e.g. alert.raised"),
                _q("last_event_id", "resume after this seq (as the Last-Event-ID header)",
                   {"type": "integer", "minimum": 0}),
                _q("token", "a bearer token, for clients that cannot set headers")],
            "responses": {"200": {"description": "the event stream",
                                  "content": {"text/event-stream": {}}},
                          "400": _ERROR, "401": _ERROR, "403": _ERROR, "503": _ERROR}}},
        "/": {"get": {"summary": "the operators' dashboard page", "parameters": [],
                      "responses": {"200": {"description": "HTML",
                                            "content": {"text/html": {}}}}}},
        **_webhook_paths(),
        "/openapi.json": {"get": {"summary": "this description", "parameters": [],
                                  "responses": {"200": _json("OpenAPI 3.1")}}},
    },
}

# Emissions, reports, silences, ingest and metrics.
_WHEN = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "format": "date-time"}],
         "description": "epoch milliseconds or ISO-8601 with a zone"}
_FROM = _q("from", "start of the period (inclusive)", _WHEN)
_TO = _q("to", "end of the period (exclusive); default now", _WHEN)
_FAC = _p("facility", "the facility's id")
_REPORT_ONLY = {"security": [{"bearer": []}], "description":
                "readable by the roles operator, auditor and admin; never anonymously"}

_API_PATHS = {
    "/emissions/current": _read(
        "per facility, the latest sealed hour of CO2 emitted, captured, stored, vented and "
        "the capture efficiency, and an estimate of the open hour from the readings",
        [_AS_OF], "facilities"),
    "/emissions/summary": _read(
        "totals of the sealed hours starting in a period, per facility and overall; "
        "default the last 24 hours",
        [_FROM, _TO, _FACILITY, _AS_OF], "totals"),
    "/emissions/windows": _read(
        "each facility's latest sealed hours, oldest first, each with the ledger seq of "
        "its emissions.measured record",
        [_q("hours", "how many per facility (default 48)",
            {"type": "integer", "minimum": 1, "maximum": 744}), _AS_OF], "windows"),
    "/facilities/{facility}/metrics": _read(
        "CO2 flows and capture efficiency per minute (estimated from the readings) or per "
        "hour (the sealed windows); default the last hour or day",
        [_FAC, _FROM, _TO, _q("resolution", "", {"type": "string",
                                                 "enum": ["minute", "hour"]})],
        "points", found=True),
    "/facilities/{facility}/sensors": _read(
        "a facility's sensors with their latest reading", [_FAC], "sensors", found=True),
    "/facilities/{facility}/sensors/{sensor}/history": _read(
        "a sensor's readings, raw or averaged per minute or hour; default the last hour",
        [_FAC, _p("sensor", "the sensor's id"), _FROM, _TO,
         _q("resolution", "", {"type": "string", "enum": ["raw", "minute", "hour"]}), _LIMIT],
        "points", found=True),
    "/reports/emissions": {"get": {
        "summary": "a period's measured emissions and capture per facility, each hour with "
                   "the ledger seq of its EmissionsMeasured record",
        **_REPORT_ONLY,
        "parameters": [
            _q("from", "start of the period (inclusive)", _WHEN, True),
            _q("to", "end of the period (exclusive)", _WHEN, True),
            _q("format", "json (default) or csv (attachment, a header row, one row per "
                         "hour and a total per facility)",
               {"type": "string", "enum": ["json", "csv"]}), _AS_OF],
        "responses": {"200": {"description": "the report", "content": {
                          "application/json": {"schema": _OBJ},
                          "text/csv": {"schema": {"type": "string"}}}},
                      "400": _ERROR, "401": _ERROR, "403": _ERROR}}},
    "/silences": {"get": {
        "summary": "silences in force now (or at an as_of time), by facility and sensor",
        "parameters": [_FACILITY, _AS_OF],
        "responses": {"200": _json("silences"), "400": _ERROR, "401": _ERROR,
                      "403": _ERROR}}},
    "/ingest": {"post": {
        "summary": "frames for devices that cannot speak NATS: published to the "
                   "facility's READINGS subject, deduplicated by content",
        "security": [{"bearer": []}],
        "description": ("roles device, operator and admin; a device only for the "
                        "facilities its token names (403 otherwise)"),
        "parameters": [],
        "requestBody": request_body(INGEST_BODY),
        "responses": {"202": _json("published: the frames' READINGS seqs"),
                      "400": _ERROR, "401": _ERROR, "403": _ERROR, "413": _ERROR,
                      "422": _ERROR, "503": _ERROR}}},
    "/metrics": {"get": {
        "summary": "figures in Prometheus text format 0.0.4", "parameters": [],
        "responses": {"200": {"description": "exposition text",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                      "401": _ERROR, "403": _ERROR}}},
}
# sign-in takes a form as well as JSON: the same fields either way
for (_path, _method), _kind in {("/auth/login", "post"): Login, ("/auth/refresh", "post"): Refresh,
                                ("/auth/logout", "post"): Refresh,
                                ("/auth/keys", "post"): NewKey}.items():
    _body = request_body(_kind)
    if _kind is Login:
        _body["content"]["application/x-www-form-urlencoded"] = _body["content"]["application/json"]
    _AUTH_PATHS[_path][_method]["requestBody"] = _body
for (_path, _method), _kind in _ADMIN_BODIES.items():
    _ADMIN_PATHS[_path][_method]["requestBody"] = request_body(_kind)
for _path, _ops in {**_API_PATHS, **_AUTH_PATHS, **_ADMIN_PATHS}.items():
    SPEC["paths"].setdefault(_path, {}).update(_ops)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(SPEC)


routes = [Route("/openapi.json", openapi, include_in_schema=False)]
