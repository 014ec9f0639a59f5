"""Every request body /openapi.json describes is the schema msgspec generates from the
type its handler decodes, so the description and the decoder cannot disagree."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.testclient import TestClient

from plumeline.events import SEVERITIES, Frame
from plumeline.projections import ALERT_STATES, WEBHOOK_EVENT_TYPES, WebhookRequest
from plumeline.serve.admin import NewSensor, SensorChange
from plumeline.serve.app import build_app
from plumeline.serve.ingest import MAX_FRAMES
from plumeline.serve.operator import Note, Silence
from plumeline.serve.signin import Login, NewKey, Refresh
from plumeline.serve.simulate import WhatIf, WhatIfBatch

REF = "#/components/schemas/"
# Each body-taking operation and the type its handler decodes (by reading the handler).
DECODED = {
    "POST /alerts/{alert_id}/acknowledge": Note,
    "POST /alerts/{alert_id}/clear": Note,
    "POST /recommendations/{recommendation_id}/approve": Note,
    "POST /recommendations/{recommendation_id}/reject": Note,
    "POST /silences": Silence,
    "POST /webhooks": WebhookRequest,
    "POST /simulate": WhatIf,
    "POST /simulate/batch": WhatIfBatch,
    "POST /auth/login": Login,
    "POST /auth/refresh": Refresh,
    "POST /auth/logout": Refresh,
    "POST /auth/keys": NewKey,
    "POST /admin/facilities/{facility}/sensors": NewSensor,
    "PATCH /admin/facilities/{facility}/sensors/{sensor}": SensorChange,
    "POST /ingest": Frame | Annotated[list[Frame], msgspec.Meta(min_length=1,
                                                                  max_length=MAX_FRAMES)],
}


def inlined(schema, components: dict):
    """`schema` with every $ref replaced by the component it names, recursively."""
    if isinstance(schema, dict):
        if set(schema) == {"$ref"}:
            return inlined(components[schema["$ref"].removeprefix(REF)], components)
        return {k: inlined(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inlined(v, components) for v in schema]
    return schema


def served_spec() -> dict:
    with TestClient(build_app(None, None)) as c:
        response = c.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_request_body_is_generated_from_the_type_its_handler_decodes():
    spec = served_spec()
    served = spec["components"]["schemas"]
    bodies = {f"{method.upper()} {path}": op["requestBody"]
              for path, ops in spec["paths"].items() for method, op in ops.items()
              if "requestBody" in op}
    assert set(bodies) == set(DECODED), "a body is described by hand, or a route is gone"
    for operation, kind in DECODED.items():
        (schema,), components = msgspec.json.schema_components([kind], ref_template=REF + "{name}")
        described = bodies[operation]["content"]["application/json"]["schema"]
        assert inlined(described, served) == inlined(schema, components), operation


def test_the_vocabularies_described_are_those_the_code_defines():
    spec = served_spec()
    alerts = {p["name"]: p["schema"] for p in spec["paths"]["/alerts"]["get"]["parameters"]}
    assert alerts["severity"]["enum"] == list(SEVERITIES)
    assert alerts["state"]["enum"] == list(ALERT_STATES)
    deliveries = spec["paths"]["/webhooks/{webhook_id}/deliveries"]["get"]["responses"]["200"]
    entry = deliveries["content"]["application/json"]["schema"]["properties"]["deliveries"]
    assert entry["items"]["properties"]["event_type"]["enum"] == list(WEBHOOK_EVENT_TYPES)
