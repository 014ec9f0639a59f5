"""The OpenAPI 3.1 description of the HTTP API, kept next to the routes it describes.

Written out rather than generated: the handlers stay parse-call-render, and a test
checks that every route of the app appears here and nothing else does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["SPEC", "routes"]

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


_AS_OF = _q("as_of", "a ledger seq, or an ISO-8601 time with zone: the view as it was then")
_LIMIT = _q("limit", "at most this many", {"type": "integer", "minimum": 1, "maximum": 10000})
_FACILITY = _q("facility", "only this facility")
_SEVERITY = {"type": "string", "enum": ["warning", "minor", "major", "critical"]}
_ALERT_STATE = {"type": "string", "enum": ["active", "cleared", "acknowledged", "unacknowledged"]}
_REC_STATE = {"type": "string", "enum": ["pending", "approved", "rejected"]}
_SEQ = {"type": "integer", "minimum": 1}
_NOTE = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"note": {"type": "string", "maxLength": 2000}}}}}}
_SILENCE = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "required": ["facility"],
    "properties": {
        "facility": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "sensor": {"type": "string", "maxLength": 64,
                   "description": "empty or absent: every sensor of the facility"},
        "until_ms": {"type": "integer", "minimum": 0, "description": "epoch milliseconds"},
        "duration_s": {"type": "integer", "minimum": 1, "maximum": 31622400},
        "reason": {"type": "string", "maxLength": 2000}}}}}}


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


_WEBHOOK_TYPES = {"type": "string", "enum": ["alert.raised", "alert.updated", "alert.escalated",
                                              "alert.acknowledged", "alert.cleared"]}
_WEBHOOK = {"type": "object", "properties": {
    "id": {"type": "string"}, "url": {"type": "string"},
    "facility": {"type": ["string", "null"]},
    "severities": {"type": ["array", "null"], "items": _SEVERITY},
    "event_types": {"type": "array", "items": _WEBHOOK_TYPES},
    "created_ms": {"type": "integer"}, "created_by": {"type": "string"}}}
_NEW_WEBHOOK = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "required": ["url"],
    "properties": {
        "url": {"type": "string", "format": "uri", "maxLength": 2048,
                "description": "http or https; receives a POST per matching event"},
        "facility": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                     "description": "absent: every facility"},
        "severities": {"type": "array", "items": _SEVERITY, "minItems": 1,
                       "description": "absent: every severity"},
        "event_types": {"type": "array", "items": _WEBHOOK_TYPES, "minItems": 1,
                        "description": "absent: alert.raised, alert.escalated, alert.cleared"},
        "secret": {"type": "string", "minLength": 16, "maxLength": 256,
                   "description": "HMAC-SHA256 key of X-Plumeline-Signature; "
                                  "absent: one is made and returned once"}}}}}}
_DELIVERY = {"type": "object", "properties": {
    "subscription": {"type": "string"}, "event_seq": _SEQ, "event_id": {"type": "string"},
    "event_type": _WEBHOOK_TYPES, "attempt": {"type": "integer", "minimum": 1},
    "time_ms": {"type": "integer"}, "status": {"type": ["integer", "null"]},
    "error": {"type": ["string", "null"]},
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
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
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
        **_webhook_paths(),
        "/openapi.json": {"get": {"summary": "this description", "parameters": [],
                                  "responses": {"200": _json("OpenAPI 3.1")}}},
    },
}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(SPEC)


routes = [Route("/openapi.json", openapi, include_in_schema=False)]
