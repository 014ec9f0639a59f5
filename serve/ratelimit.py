"""Rate limits on every route: token buckets per identity and per address, and per
device on `/ingest`.

A bucket holds up to `burst` requests and refills at `per_s`; a request finds a token
or is answered 429 with `Retry-After` (whole seconds until one is back). Identities
and addresses have buckets of their own, so one caller's burst empties its bucket
only: everyone else's requests are taken as before. The middleware sits inside
authentication (it needs to know who is asking); a request without a good token is
limited by its address alone. Buckets are per replica: with N replicas behind a
balancer a caller gets up to N times the rate, which the defaults allow for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Rate", "RateLimit", "Rates"]


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.per_s > 0 and self.burst >= 1):
            raise ValueError(f"a rate is more than 0 a second with a burst of at least 1, "
                             f"not {self.per_s}/s, burst {self.burst}")


@dataclass(frozen=True, slots=True)
class Rates:
    """Generous defaults, far above what a dashboard (a few reads a second), an
    integration or a device (a frame or a batch a second) asks, and above what
    `plumeline bench` offers from one address: they stop a runaway client, and a
    deployment tightens them (`--rate-limits`, PLUMELINE_RATE_LIMITS) for fairness."""

    identity: Rate = Rate(1000.0, 5000.0)
    address: Rate = Rate(5000.0, 10000.0)
    device: Rate = Rate(200.0, 1000.0)  # per device token, on /ingest

    @classmethod
    def parse(cls, text: str) -> Rates:
        """`identity=100/500,address=200/1000,device=50/200` (per second / burst, the
        burst defaulting to the rate); the ones not named keep their defaults."""
        given = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            per_s, _, burst = value.partition("/")
            if name not in ("identity", "address", "device"):
                raise ValueError(f"unknown rate {name!r}: identity, address or device")
            try:
                given[name] = Rate(float(per_s), float(burst or per_s))
            except ValueError as exc:
                raise ValueError(f"rate {part!r}: {exc}") from None
        return cls(**given)


class _Buckets:
    MAX = 100_000  # callers remembered; past it, the ones with full buckets are forgotten

    def __init__(self) -> None:
        self.levels: dict[str, tuple[float, float]] = {}  # key: (tokens, when)

    def take(self, key: str, rate: Rate, now: float) -> float:
        """0 if a token was taken, else the seconds until there is one."""
        tokens, when = self.levels.get(key, (rate.burst, now))
        tokens = min(rate.burst, tokens + (now - when) * rate.per_s)
        if tokens >= 1:
            self.levels[key] = (tokens - 1, now)
            if len(self.levels) > self.MAX:
                self._forget(rate, now)
            return 0.0
        self.levels[key] = (tokens, now)
        return (1 - tokens) / rate.per_s

    def _forget(self, rate: Rate, now: float) -> None:
        full = [k for k, (t, w) in self.levels.items() if t + (now - w) * rate.per_s >= rate.burst]
        for k in full or list(self.levels)[: self.MAX // 2]:
            del self.levels[k]


class RateLimit:
    """ASGI middleware; `clock` is the app's."""

    def __init__(self, app: ASGIApp, rates: Rates | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.rates = rates or Rates()
        self.clock = clock
        self.buckets = _Buckets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self.clock()
        client = scope.get("client")
        wait = self.buckets.take(f"a:{client[0] if client else '-'}", self.rates.address, now)
        user = scope.get("user")
        if not wait and user is not None and user.is_authenticated:
            if getattr(user, "role", "") == "device" and scope["path"] == "/ingest":
                wait = self.buckets.take(f"d:{user.display_name}", self.rates.device, now)
            else:
                wait = self.buckets.take(f"i:{user.display_name}", self.rates.identity, now)
        if wait:
            seconds = max(1, math.ceil(wait))
            answer = JSONResponse({"error": f"too many requests: try again in {seconds} s"},
                                  status_code=429, headers={"Retry-After": str(seconds)})
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)
