"""Webhook routes: subscribe, list, read, delete, and read a subscription's delivery log.

Subscriptions are an operator's configuration: every route needs the `command` scope
(a URL may carry a receiver's credentials, so even reading them is not open). The
notifier (`projections/outbound/notifier.py`) owns them; the app is handed it as `webhooks`.
A target inside the deployment's networks is refused with a 422 (the notifier says
why: projections/outbound/webhook_targets.py).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plumeline.projections import WebhookRequest
from plumeline.serve._params import BadRequest, body, integer
from plumeline.serve.auth import needs

__all__ = ["routes"]


def _id(request: Request) -> str:
    return request.path_params["webhook_id"]


@needs("command")
async def subscribe(request: Request) -> JSONResponse:
    wanted = await body(request, WebhookRequest)
    try:
        created = await request.app.state.webhooks.subscribe(wanted, request.user.display_name)
    except ValueError as exc:  # TargetRefused; through Ray, an error whose cause it is
        raise BadRequest(str(getattr(exc, "cause", exc)), 422) from None
    return JSONResponse(created, status_code=201,
                        headers={"Location": f"/webhooks/{created['id']}"})


@needs("command")
async def list_webhooks(request: Request) -> JSONResponse:
    found = await request.app.state.webhooks.subscriptions()
    return JSONResponse({"webhooks": found, "count": len(found)})


@needs("command")
async def webhook(request: Request) -> JSONResponse:
    found = await request.app.state.webhooks.subscription(_id(request))
    if found is None:
        raise HTTPException(404, f"no webhook {_id(request)}")
    return JSONResponse(found)


@needs("command")
async def unsubscribe(request: Request) -> Response:
    if not await request.app.state.webhooks.unsubscribe(_id(request)):
        raise HTTPException(404, f"no webhook {_id(request)}")
    return Response(status_code=204)


@needs("command")
async def deliveries(request: Request) -> JSONResponse:
    limit = integer(request, "limit", 100, low=1)
    if limit > 1000:
        raise BadRequest(f"limit must be at most 1000, got {limit}")
    found = await request.app.state.webhooks.deliveries(_id(request), limit)
    if found is None:
        raise HTTPException(404, f"no webhook {_id(request)}")
    return JSONResponse({"webhook": _id(request), "deliveries": found, "count": len(found)})


routes = [
    Route("/webhooks", subscribe, methods=["POST"]),
    Route("/webhooks", list_webhooks, methods=["GET"]),
    Route("/webhooks/{webhook_id}", webhook, methods=["GET"]),
    Route("/webhooks/{webhook_id}", unsubscribe, methods=["DELETE"]),
    Route("/webhooks/{webhook_id}/deliveries", deliveries, methods=["GET"]),
]
