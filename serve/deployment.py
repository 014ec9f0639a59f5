"""The Ray Serve deployment of the app: actor handles in, an ASGI app out."""

from __future__ import annotations

from typing import Any

import ray
from ray import serve

from serve.app import build_app

__all__ = ["ActorLedger", "ActorReader", "Api"]


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


class ActorLedger:
    def __init__(self, handle) -> None:
        self.handle = handle

    async def head(self) -> dict:
        return await _call(self.handle.head)

    async def inclusion(self, seq: int, tree_size: int | None) -> dict:
        return await _call(self.handle.inclusion, seq, tree_size)


# access logs off: at thousands of requests a second they would cost more than the answers
@serve.deployment(ray_actor_options={"num_cpus": 0},
                  logging_config={"enable_access_log": False, "log_level": "WARNING"})
@serve.ingress()
class Api:
    def __init__(self, projections, ledger) -> None:
        self.reader = ActorReader(projections)
        self.ledger = ActorLedger(ledger)

    def __serve_build_asgi_app__(self):
        return build_app(self.reader, self.ledger)
