"""The HTTP app: one Starlette application built from explicit lists.

Handlers parse, call, render. They read through a `Reader` (the projections), ask a
`LedgerView` for tree heads and proofs, publish operator commands through a
`Commands`, ingested frames through an `Intake`, and manage webhook subscriptions
through `Webhooks`; all are handed in by the deployment, so the app is tested over HTTP
with plain objects and served on Ray with actor handles. The route lists live next to
their handlers: `views` (reads), `operator` (commands), `ledger` (auditors),
`emissions`, `reports`, `silences`, `ingest`, `metrics`, `forecast` and `simulate`
(emissions ahead, and under what-if scenarios), `webhooks` (notifications), `stream`
and `dashboard`.
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

from plumeline.serve import (
    admin,
    dashboard,
    emissions,
    forecast,
    ingest,
    ledger,
    metrics,
    openapi,
    operator,
    reports,
    signin,
    silences,
    simulate,
    stream,
    views,
)
from plumeline.serve import webhooks as webhook_routes
from plumeline.serve.auth import BearerRoles, Verify, on_auth_error
from plumeline.serve.limits import DEFAULT_MAX_BODY, BodyLimit
from plumeline.serve.ratelimit import RateLimit, Rates
from plumeline.serve.stream import MAX_REPLAY, MAX_STREAM_CLIENTS, Feed

__all__ = ["Commands", "Feed", "Intake", "LedgerView", "Reader", "Webhooks", "build_app"]


class Reader(Protocol):
    async def query(self, name: str, **params: Any) -> Any: ...


class LedgerView(Protocol):
    async def head(self) -> dict: ...
    async def inclusion(self, seq: int, tree_size: int | None) -> dict: ...
    async def consistency(self, first: int, second: int) -> dict: ...


class Commands(Protocol):
    async def publish(self, command: Any) -> int: ...


class Intake(Protocol):
    async def publish_frames(self, frames: list[tuple[str, bytes, str]]
                             ) -> list[tuple[int, bool]]: ...


class _NoIntake:
    async def publish_frames(self, frames: list) -> list:
        raise HTTPException(503, "this deployment takes no readings over HTTP")
class Webhooks(Protocol):
    """The notifier's subscriptions (projections/outbound/notifier.py)."""

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
    intake: Intake | None = None,
    webhooks: Webhooks | None = None,
    uncached: Reader | None = None,
    verify: Verify | None = None,
    exporter: Callable[[str], Any] | None = None,
    feed: Feed | None = None,
    open_reads: bool = True,
    command_wait_s: float = 3.0,
    heartbeat_s: float = 15.0,
    clock: Callable[[], float] = time.time,
    what_if: Callable[[dict, dict], dict] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_ingest_body: int = ingest.MAX_BODY,
    max_stream_clients: int = MAX_STREAM_CLIENTS,
    max_replay: int = MAX_REPLAY,
    sign_in: signin.SignIn | None = None,
    rates: Rates | None = None,
) -> Starlette:
    """`uncached` reads past any cache (a command's outcome must not be an old answer);
    `verify(token, now)` returns who is asking or raises ValueError; `exporter(path)`
    writes the ledger bundle to `path`; `intake` publishes posted frames and, if it
    has `stream_figures()`, gives `/metrics` the NATS side; `feed` is the replica's one
    subscription to new ledger records, behind `GET /stream` (a comment every
    `heartbeat_s` when quiet); `what_if(forecast, scenario)` runs a scenario
    (simulator/scenarios.py). Bodies are capped at `max_body` bytes (`/ingest`'s at
    `max_ingest_body`); a replica holds at most `max_stream_clients` streams and
    replays at most `max_replay` records to a resuming one. `sign_in` signs people
    in (serve/signin.py); its gate then refuses revoked and disabled identities.
    Every route is rate-limited per identity and per address (`rates`,
    serve/ratelimit.py)."""

    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    async def on_value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"a service did not answer: {exc!r}"}, status_code=503)

    app = Starlette(
        routes=(views.routes + operator.routes + ledger.routes + openapi.routes
                + emissions.routes + reports.routes + silences.routes + ingest.routes
                + metrics.routes + forecast.routes + simulate.routes
                + webhook_routes.routes + stream.routes + dashboard.routes + signin.routes
                + admin.routes),
        # EventSource cannot set headers: the stream alone takes its token as ?token=
        middleware=[Middleware(BodyLimit, limit=max_body,
                               by_path={"/ingest": max(max_ingest_body, max_body)}),
                    Middleware(AuthenticationMiddleware, backend=BearerRoles(
            verify, open_reads=open_reads, clock=clock, query_token_paths={"/stream"},
            admit=sign_in.gate.admit if sign_in else None),
            on_error=on_auth_error),
                    Middleware(RateLimit, rates=rates)],
        exception_handlers={
            HTTPException: on_http_error,
            ValueError: on_value_error,
            TimeoutError: on_unavailable,
            ConnectionError: on_unavailable,
        },
    )
    app.state.reader = reader
    app.state.uncached = uncached or reader
    app.state.ledger = ledger_view
    app.state.commands = commands or _NoCommands()
    app.state.intake = intake or _NoIntake()
    app.state.webhooks = webhooks or _NoWebhooks()
    app.state.exporter = exporter
    app.state.feed = feed
    app.state.heartbeat_s = heartbeat_s
    app.state.max_stream_clients = max_stream_clients
    app.state.stream_clients = 0  # streams open on this replica now
    app.state.max_replay = max_replay
    app.state.open_reads = open_reads
    app.state.command_wait_s = command_wait_s
    app.state.clock = clock
    app.state.what_if = what_if
    app.state.signin = sign_in
    return app
