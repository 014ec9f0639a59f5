"""The fairness section's load keeps working: against an app limited per identity,
the bursting identity is refused past its bucket and the steady ones never are."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from plumeline.infra.bench.fairness import BURST, _load, rows
from plumeline.infra.runtime.nats import free_port
from plumeline.serve.ratelimit import Rate, RateLimit, Rates


class _Named(AuthenticationBackend):
    """The bearer token is the identity's name."""

    async def authenticate(self, conn):
        token = conn.headers["authorization"].removeprefix("Bearer ")
        return AuthCredentials(["read"]), SimpleUser(token)


async def _ok(request):
    return JSONResponse([])


APP = Starlette(routes=[Route("/alerts", _ok)], middleware=[
    Middleware(AuthenticationMiddleware, backend=_Named()),
    Middleware(RateLimit, rates=Rates(identity=Rate(40.0, 40.0)))])


def test_the_burst_is_refused_past_its_bucket_and_the_others_are_not():
    async def go():
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(APP, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        try:
            return await _load(f"http://127.0.0.1:{port}", ["loud", "a", "b"], rate=20.0,
                               seconds=2.0, path="/alerts", rounds=1)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving

    phases = asyncio.run(go())
    steady, burst = phases["unloaded"], phases["burst"]
    assert steady["burster_refused"] == 0 and steady["others_refused"] == 0
    assert burst["others_refused"] == 0 and burst["others_answered"] >= 2 * 20 * 2 * 0.9
    # 200/s offered against 40/s: most of the burst is refused
    assert burst["burster_refused"] > burst["burster_answered"] > 0
    assert burst["burster_offered_per_s"] == 20.0 * BURST
    figures = {"identities": 3, "rate_per_s": 20.0, "burst_x": BURST, "limits": "x",
               **phases, "p99_ratio": burst["others_p99_ms"] / steady["others_p99_ms"]}
    [ratio, refused] = rows({"fairness": figures})
    assert ratio[2].startswith(f"{figures['p99_ratio']:.2f}x") and "429" in refused[0]
