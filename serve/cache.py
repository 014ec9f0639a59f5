"""A short-lived cache in front of the projections, for views many people watch.

Two hundred operators refreshing `GET /alerts` ask the same question; the projections
answer it once per `ttl` and concurrent askers share the answer in flight.

Stale while revalidating: an answer older than `ttl` but younger than `ttl + stale` is
still served, while one refresh per question runs in its own task. Were askers to wait
for the refresh instead, every one of them would stall for a round trip to the
projections (a Ray call and a ClickHouse query) twice a second: that wait, not the
work, was the API's p99 under load. Only an answer older than `ttl + stale`, or none
at all, is waited for, so a view is at most `ttl + stale` seconds older than the
projections, which already trail the ledger; a command's outcome is read past this
cache (the app's `uncached` reader), never through it.

`rendered` also keeps each answer's response body, encoded once per refresh: encoding
a hundred alerts to JSON on every request was a fifth of the replica's time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

__all__ = ["CachedReader", "Shape", "encode", "json_view"]

# (answer, query parameters) -> the response's JSON content. A module-level function,
# so that its identity names one body per answer.
Shape = Callable[[Any, dict], Any]


def encode(content: Any) -> bytes:
    """JSON exactly as Starlette's JSONResponse renders it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


class _Entry:
    __slots__ = ("answer", "at", "bodies")

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.at = time.monotonic()
        self.bodies: dict[Shape, bytes] = {}


class CachedReader:
    def __init__(self, reader, ttl: float = 0.5, stale: float = 2.0,
                 max_entries: int = 4096) -> None:
        self.reader = reader
        self.ttl = ttl
        self.stale = stale
        self.max_entries = max_entries
        self._answers: dict[tuple, _Entry] = {}
        self._asking: dict[tuple, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()  # the loop holds tasks only weakly

    async def query(self, name: str, **params: Any) -> Any:
        return (await self._entry(name, params)).answer

    async def rendered(self, name: str, shape: Shape, **params: Any) -> bytes:
        """The JSON body of `shape(answer, params)`, encoded once per answer."""
        entry = await self._entry(name, params)
        body = entry.bodies.get(shape)
        if body is None:
            body = entry.bodies[shape] = encode(shape(entry.answer, params))
        return body

    async def _entry(self, name: str, params: dict) -> _Entry:
        key = (name, tuple(sorted(params.items())))
        hit = self._answers.get(key)
        if hit is not None:
            age = time.monotonic() - hit.at
            if age < self.ttl:
                return hit
            if age < self.ttl + self.stale:
                if key not in self._asking:
                    self._refresh(key, name, params)
                return hit
        pending = self._asking.get(key) or self._refresh(key, name, params)
        # shielded: an asker that goes away does not cancel the others' answer
        return await asyncio.shield(pending)

    def _refresh(self, key: tuple, name: str, params: dict) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        task = asyncio.ensure_future(self._ask(key, name, params, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _ask(self, key: tuple, name: str, params: dict, future: asyncio.Future) -> None:
        try:
            answer = await self.reader.query(name, **params)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:  # not cached: the next asker asks again
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not logged
        else:
            entry = _Entry(answer)
            if len(self._answers) >= self.max_entries and key not in self._answers:
                self._answers.clear()
            self._answers[key] = entry
            future.set_result(entry)
        finally:
            del self._asking[key]


async def json_view(reader, name: str, shape: Shape, **params: Any) -> Response:
    """The response `shape(reader.query(name, **params), params)`, from the reader's
    encoded bodies when it keeps them (a CachedReader), else encoded here."""
    rendered = getattr(reader, "rendered", None)
    if rendered is not None:
        body = await rendered(name, shape, **params)
    else:
        body = encode(shape(await reader.query(name, **params), params))
    return Response(body, media_type="application/json")
