"""The Ray Serve deployment of the app: actor handles in, an ASGI app out."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import ray
from ray import serve

from plumeline.serve.app import build_app
from plumeline.serve.cache import CachedReader
from plumeline.serve.commands import BusPublisher
from plumeline.serve.feed import LedgerFeed
from plumeline.serve.identity import IdentityStore
from plumeline.serve.positions import ProjectionPositions
from plumeline.serve.signin import SignIn
from plumeline.serve.tokens import KeyRing, TokenKey

__all__ = ["ActorLedger", "ActorReader", "ActorWebhooks", "Api"]


async def _call(method, *args, **kwargs):
    try:
        return await method.remote(*args, **kwargs)
    except ray.exceptions.RayTaskError as exc:
        # the actor's own error (a bad filter, a seq outside the tree) is the answer
        raise exc.cause from None


class ActorReader:
    def __init__(self, handle) -> None:
        self.handle = handle

    async def query(self, name: str, **params: Any) -> Any:
        return await _call(self.handle.query, name, **params)


class RunnerPositions(ProjectionPositions):
    """The projection runner's positions, asked of its actor."""

    def __init__(self, handle, **kwargs: Any) -> None:
        super().__init__(self._ask, **kwargs)
        self.handle = handle

    async def _ask(self) -> tuple[int, int]:
        ledger, readings = await asyncio.gather(_call(self.handle.visible),
                                                _call(self.handle.readings_checkpoint))
        return ledger, readings


class ActorLedger:
    def __init__(self, handle) -> None:
        self.handle = handle

    async def head(self) -> dict:
        return await _call(self.handle.head)

    async def inclusion(self, seq: int, tree_size: int | None) -> dict:
        return await _call(self.handle.inclusion, seq, tree_size)

    async def consistency(self, first: int, second: int) -> dict:
        return await _call(self.handle.consistency, first, second)


class ActorWebhooks:
    """The notifier's subscriptions and delivery log, through its actor handle."""

    def __init__(self, handle) -> None:
        self.handle = handle

    async def subscribe(self, request, user: str) -> dict:
        return await _call(self.handle.subscribe, request, user)

    async def subscriptions(self) -> list[dict]:
        return await _call(self.handle.subscriptions)

    async def subscription(self, subscription: str) -> dict | None:
        return await _call(self.handle.subscription, subscription)

    async def unsubscribe(self, subscription: str) -> bool:
        return await _call(self.handle.unsubscribe, subscription)

    async def deliveries(self, subscription: str, limit: int) -> list[dict] | None:
        return await _call(self.handle.deliveries, subscription, limit)


def _quiet_collector() -> None:
    """Once the replica is built: move everything allocated so far (Ray, Serve,
    Starlette, the app) out of the cycle collector's reach, and let the collector run
    less often. Requests allocate and free by the thousand a second, and each full
    collection walked the whole start-up heap on the event loop. At 2,000 requests/s
    offered (docs/benchmarks.md, "The collector in the replica") the p99 fell by a
    tenth to a fifth and the p999 by a third to a half; objects frozen are still freed
    when unreferenced."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# access logs off: at thousands of requests a second they would cost more than the answers.
# A /stream client holds one ongoing request for as long as it listens: the replica
# takes at most MAX_STREAM_CLIENTS (1,000) of them, so that streams can never fill the
# 3,000 and queue a command behind them (tests/security/test_http_floods.py).
@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=3000,
                  logging_config={"enable_access_log": False, "log_level": "WARNING"})
@serve.ingress()
class Api:
    def __init__(self, projections, ledger, *, nats_url: str | None = None,
                 partitions: int = 16, token_keys: KeyRing | None = None,
                 exporter=None, open_reads: bool = True, what_if=None,
                 notifier=None, limits: dict | None = None,
                 signer: TokenKey | None = None) -> None:
        """`token_keys` are the public keys whose tokens are accepted; `signer`, the
        signing key, lets the replica sign people in (serve/signin.py), without it it
        issues nothing; `limits` are build_app's max_body, max_ingest_body,
        max_stream_clients and max_replay, by name."""
        self.uncached = ActorReader(projections)
        self.reader = CachedReader(self.uncached, positions=RunnerPositions(projections))
        self.ledger = ActorLedger(ledger)
        self.commands = BusPublisher(nats_url, partitions) if nats_url else None
        self.feed = LedgerFeed(nats_url) if nats_url else None
        self.verify = token_keys.verify if token_keys else None
        self.limits = limits or {}
        self.exporter = exporter
        self.open_reads = open_reads
        self.what_if = what_if
        self.webhooks = ActorWebhooks(notifier) if notifier is not None else None
        self.sign_in = SignIn(IdentityStore(js_of=self.commands._connect), signer) \
            if signer is not None and self.commands is not None else None

    def __serve_build_asgi_app__(self):
        app = build_app(self.reader, self.ledger, commands=self.commands,
                        intake=self.commands, uncached=self.uncached,
                        verify=self.verify, exporter=self.exporter, feed=self.feed,
                        open_reads=self.open_reads, what_if=self.what_if,
                        webhooks=self.webhooks, sign_in=self.sign_in, **self.limits)
        _quiet_collector()
        return app
