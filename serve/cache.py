"""A short-lived cache in front of the projections, for views many people watch.

Two hundred operators refreshing `GET /alerts` ask the same question; the projections
answer it once per `ttl` and concurrent askers share the answer in flight. A view is
at most `ttl` seconds older than the projections, which already trail the ledger.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["CachedReader"]


class CachedReader:
    def __init__(self, reader, ttl: float = 0.5, max_entries: int = 4096) -> None:
        self.reader = reader
        self.ttl = ttl
        self.max_entries = max_entries
        self._answers: dict[tuple, tuple[float, Any]] = {}
        self._asking: dict[tuple, asyncio.Future] = {}

    async def query(self, name: str, **params: Any) -> Any:
        key = (name, tuple(sorted(params.items())))
        now = time.monotonic()
        hit = self._answers.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        pending = self._asking.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        try:
            answer = await self.reader.query(name, **params)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not logged
            raise
        else:
            future.set_result(answer)
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
            self._answers[key] = (time.monotonic(), answer)
            return answer
        finally:
            del self._asking[key]
