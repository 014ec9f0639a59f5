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

Given the projections' positions (serve/positions.py), an answer to a view that
depends only on them is kept for as long as they have not moved, whatever its age:
a request then costs no query and no encoding, only a lookup. Once they move, the
old answer (current moments ago) is served while one refresh runs, as above. The
body's ETag lets a client that has it already be answered 304, without the body.

The key is the view's name and every parameter its answer depends on. Who is asking
is not in it: every caller allowed to read (the routes check that before they ask)
sees the same answers, so an answer is never one that a caller may not see.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["CachedReader", "Shape", "encode", "etag", "json_view"]

# (answer, query parameters) -> the response's JSON content. A module-level function,
# so that its identity names one body per answer.
Shape = Callable[[Any, dict], Any]


def encode(content: Any) -> bytes:
    """JSON exactly as Starlette's JSONResponse renders it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


def etag(body: bytes) -> str:
    """A strong validator of the body: the same bytes, the same tag."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


class _Entry:
    __slots__ = ("answer", "at", "bodies", "made", "position")

    def __init__(self, answer: Any, position: Any) -> None:
        self.answer = answer
        self.position = position  # the projections' position before the answer was asked
        self.made = self.at = time.monotonic()  # `at`: when last known to be current
        self.bodies: dict[Shape, tuple[bytes, str]] = {}


class CachedReader:
    def __init__(self, reader, ttl: float = 0.5, stale: float = 2.0,
                 max_entries: int = 4096, positions=None, min_age: float = 0.1) -> None:
        """`positions.of(name)` is the position an answer to `name` depends on, or
        None if unknown (serve/positions.py); without it answers are kept by age. An
        answer kept by position is asked again at most every `min_age` seconds: under
        a steady flow of events the projections move many times a second, and each
        question is a Ray call and a ClickHouse query."""
        self.reader = reader
        self.ttl = ttl
        self.min_age = min_age
        self.stale = stale
        self.max_entries = max_entries
        self.positions = positions
        self._answers: dict[tuple, _Entry] = {}
        self._asking: dict[tuple, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()  # the loop holds tasks only weakly

    async def query(self, name: str, **params: Any) -> Any:
        return (await self._entry(name, params)).answer

    async def rendered(self, name: str, shape: Shape, **params: Any) -> tuple[bytes, str]:
        """The JSON body of `shape(answer, params)` and its ETag, made once per answer."""
        entry = await self._entry(name, params)
        found = entry.bodies.get(shape)
        if found is None:
            body = encode(shape(entry.answer, params))
            found = entry.bodies[shape] = (body, etag(body))
        return found

    def _position(self, name: str) -> Any:
        return None if self.positions is None else self.positions.of(name)

    async def _entry(self, name: str, params: dict) -> _Entry:
        key = (name, tuple(sorted(params.items())))
        hit = self._answers.get(key)
        if hit is not None:
            now = time.monotonic()
            position = self._position(name)
            if position is not None and hit.position is not None:
                if hit.position == position or now - hit.made < self.min_age:
                    hit.at = now
                    return hit
                fresh_until = hit.at  # the projections moved on: stale from now
            else:
                fresh_until = hit.at + self.ttl
                if now < fresh_until:
                    return hit
            if now < fresh_until + self.stale:
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
        # asked before the query: the answer is current as of this position at least
        position = self._position(name)
        try:
            answer = await self.reader.query(name, **params)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:  # not cached: the next asker asks again
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not logged
        else:
            entry = _Entry(answer, position)
            if len(self._answers) >= self.max_entries and key not in self._answers:
                self._answers.clear()
            self._answers[key] = entry
            future.set_result(entry)
        finally:
            del self._asking[key]


def _matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 13.1.2: `*`, or any of the listed tags, compared weakly."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in if_none_match.split(","))


async def json_view(request: Request, name: str, shape: Shape, **params: Any) -> Response:
    """The response `shape(reader.query(name, **params), params)` with its ETag, from
    the app's reader's encoded bodies when it keeps them (a CachedReader), else
    encoded here; 304 and no body to a caller whose If-None-Match names it. Private:
    a shared cache must not hand one caller's answer to another who may not read."""
    reader = request.app.state.reader
    rendered = getattr(reader, "rendered", None)
    if rendered is not None:
        body, tag = await rendered(name, shape, **params)
    else:
        body = encode(shape(await reader.query(name, **params), params))
        tag = etag(body)
    headers = {"etag": tag, "cache-control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
