"""The HTTP app: one Starlette application built from explicit lists.

Handlers parse, call, render. They read through a `Reader` (the projections), ask a
`LedgerView` for tree heads and proofs, and publish operator commands through a
`Commands`, and manage webhook subscriptions through `Webhooks`; all are handed in by
the deployment, so the app is tested over HTTP with plain objects and served on Ray
with actor handles. The route lists live next to their handlers: `views` (reads),
`operator` (commands), `ledger` (auditors), `webhooks` (notifications).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from serve import ledger, openapi, operator, views
from serve import webhooks as webhook_routes
from serve.auth import BearerRoles, Verify, on_auth_error

__all__ = ["Commands", "LedgerView", "Reader", "Webhooks", "build_app"]


class Reader(Protocol):
    async def query(self, name: str, **params: Any) -> Any: ...


class LedgerView(Protocol):
    async def head(self) -> dict: ...
    async def inclusion(self, seq: int, tree_size: int | None) -> dict: ...
    async def consistency(self, first: int, second: int) -> dict: ...


class Commands(Protocol):
    async def publish(self, command: Any) -> int: ...


class Webhooks(Protocol):
    """The notifier's subscriptions (projections/notifier.py)."""

    async def subscribe(self, request: Any, user: str) -> dict: ...
    async def subscriptions(self) -> list[dict]: ...
    async def subscription(self, subscription: str) -> dict | None: ...
    async def unsubscribe(self, subscription: str) -> bool: ...
    async def deliveries(self, subscription: str, limit: int) -> list[dict] | None: ...


class _NoCommands:
    async def publish(self, command: Any) -> int:
        raise HTTPException(503, "this deployment takes no commands")


class _NoWebhooks:
    async def _unavailable(self, *args: Any) -> Any:
        raise HTTPException(503, "this deployment sends no webhooks")

    subscribe = subscriptions = subscription = unsubscribe = deliveries = _unavailable


def build_app(
    reader: Reader,
    ledger_view: LedgerView,
    *,
    commands: Commands | None = None,
    webhooks: Webhooks | None = None,
    fresh: Reader | None = None,
    verify: Verify | None = None,
    exporter: Callable[[str], Any] | None = None,
    open_reads: bool = True,
    command_wait_s: float = 3.0,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """`fresh` reads past any cache (a command's outcome must not be an old answer);
    `verify(token, now)` returns who is asking or raises ValueError; `exporter(path)`
    writes the ledger bundle to `path`."""

    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    async def on_value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"a service did not answer: {exc!r}"}, status_code=503)

    app = Starlette(
        routes=(views.routes + operator.routes + ledger.routes + webhook_routes.routes
                + openapi.routes),
        middleware=[Middleware(AuthenticationMiddleware, backend=BearerRoles(
            verify, open_reads=open_reads, clock=clock), on_error=on_auth_error)],
        exception_handlers={
            HTTPException: on_http_error,
            ValueError: on_value_error,
            TimeoutError: on_unavailable,
            ConnectionError: on_unavailable,
        },
    )
    app.state.reader = reader
    app.state.fresh = fresh or reader
    app.state.ledger = ledger_view
    app.state.commands = commands or _NoCommands()
    app.state.webhooks = webhooks or _NoWebhooks()
    app.state.exporter = exporter
    app.state.command_wait_s = command_wait_s
    app.state.clock = clock
    return app
