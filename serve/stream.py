"""`GET /stream`: new ledger records as server-sent events, fanned out from one feed.

Each record goes out once per client as `id: <seq>`, `event: <type>`, `data: <JSON>`
(the JSON `/ledger/events` renders), encoded once and shared by every client. A
client holds a bounded queue; when it falls `queue_size` records behind it is
dropped with a last `event: overflow` whose id is the last seq it got, so it never
slows the others, and its EventSource reconnects with `Last-Event-ID` and is
replayed what it missed from the LEDGER stream before the live records resume.

What one replica spends on streams is bounded: at most `max_stream_clients` at once
(beyond: 503 with Retry-After), and a resume replays at most `max_replay` records. A
client further behind first gets `event: gap` (`{"missed_from", "missed_to",
"resume_after"}`, its id the last seq skipped): the records in between are not sent,
and the client reloads its views (or reads `/ledger/events`) instead.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from plumeline.events import Event, decode_record, leaf_hash
from plumeline.serve._params import BadRequest
from plumeline.serve.auth import needs

__all__ = ["MAX_REPLAY", "MAX_STREAM_CLIENTS", "RETRY_AFTER_S", "Broadcast", "Entry", "Feed",
           "Listener", "entry", "routes"]

log = structlog.get_logger("plumeline.stream")

MAX_STREAM_CLIENTS = 1000  # per replica; Serve's max_ongoing_requests leaves room beside
# records replayed on resume at most: above the 4,096 a client falls behind before it is
# dropped (serve/feed.py), so a dropped client resumes without a gap
MAX_REPLAY = 5_000
RETRY_AFTER_S = 30

EVENT_TYPES = frozenset(t.__struct_config__.tag for t in typing.get_args(Event))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    type: str
    facility: str
    frame: bytes  # the whole SSE event, encoded once for every client


def entry(data: bytes) -> Entry:
    """A LEDGER record's bytes as an SSE event; ValueError if they are not a record."""
    record = decode_record(data)
    e = record.event
    shown = {
        "seq": record.seq, "event_id": e.id, "type": e.type, "facility": e.facility,
        "sensor": e.sensor, "time_ms": e.time,
        "time": (_EPOCH + timedelta(milliseconds=e.time)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "causation": {"stream": e.causation.stream, "seq": e.causation.seq,
                      "index": e.causation.index},
        "leaf_hash": leaf_hash(data).hex(), "record": data.decode(),
    }
    frame = f"id: {record.seq}\nevent: {e.type}\ndata: {json.dumps(shown)}\n\n"
    return Entry(record.seq, e.type, e.facility, frame.encode())


class _Overflow:
    """Put in a dropped listener's queue: the client is told and the stream ends."""


OVERFLOW = _Overflow()
_BURST = 256  # records per write at most


class Listener:
    """One client's place in the broadcast: its filters and its bounded queue."""

    def __init__(self, queue_size: int, facility: str | None,
                 types: frozenset[str] | None) -> None:
        self.queue: asyncio.Queue[Entry | _Overflow] = asyncio.Queue(queue_size)
        self.facility = facility
        self.types = types

    def wants(self, e: Entry) -> bool:
        return ((self.facility is None or e.facility == self.facility)
                and (self.types is None or e.type in self.types))

    def drop(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(OVERFLOW)


class Broadcast:
    """Fan-out of one upstream to many listeners, never waiting on any of them."""

    def __init__(self, queue_size: int = 1024) -> None:
        assert queue_size > 0, "a listener's queue holds at least one record"
        self.queue_size = queue_size
        self.listeners: set[Listener] = set()
        self.last_seq = 0
        self.dropped = 0

    def listen(self, facility: str | None = None,
               types: frozenset[str] | None = None) -> Listener:
        listener = Listener(self.queue_size, facility, types)
        self.listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def publish(self, e: Entry) -> None:
        if e.seq <= self.last_seq:
            return  # the upstream delivered it again after a reconnect
        self.last_seq = e.seq
        for listener in [x for x in self.listeners if x.wants(e)]:
            try:
                listener.queue.put_nowait(e)
            except asyncio.QueueFull:
                self.listeners.discard(listener)
                listener.drop()
                self.dropped += 1


class Feed(Protocol):
    """The replica's one upstream: live records through `listen`, older ones by `replay`."""

    async def listen(self, facility: str | None, types: frozenset[str] | None) -> Listener: ...
    async def end(self) -> int: ...
    def leave(self, listener: Listener) -> None: ...
    def replay(self, after: int) -> AsyncIterator[Entry]: ...


def _filters(request: Request) -> tuple[str | None, frozenset[str] | None, int | None]:
    facility = request.query_params.get("facility") or None
    if facility is not None and len(facility) > 64:
        raise BadRequest("facility is at most 64 characters")
    types = None
    if raw := request.query_params.get("types"):
        types = frozenset(t.strip() for t in raw.split(",") if t.strip())
        if unknown := types - EVENT_TYPES:
            raise BadRequest(f"unknown event types {sorted(unknown)}; "
                             f"known: {', '.join(sorted(EVENT_TYPES))}")
    last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if last is not None:
        if not last.isdigit() or len(last) > 18:
            raise BadRequest(f"Last-Event-ID must be a ledger seq, got {last!r}")
        last = int(last)
    return facility, types, last


def _gap(after: int, resume_after: int) -> bytes:
    shown = {"missed_from": after + 1, "missed_to": resume_after, "resume_after": resume_after}
    return f"id: {resume_after}\nevent: gap\ndata: {json.dumps(shown)}\n\n".encode()


async def _events(feed: Feed, listener: Listener, after: int | None, end: int,
                  request: Request) -> AsyncIterator[bytes]:
    sent = after or 0
    heartbeat_s = request.app.state.heartbeat_s
    try:
        yield b"retry: 2000\n\n"
        if after is not None and end - after > (most := request.app.state.max_replay):
            log.info("stream_resume_gap", after=after, end=end, replayed=most)
            yield _gap(after, end - most)
            after = sent = end - most
        if after is not None:
            async for e in feed.replay(after):
                if listener.wants(e):
                    yield e.frame
                sent = e.seq
        while True:
            try:
                async with asyncio.timeout(heartbeat_s):  # no task per wait, as wait_for makes
                    items = [await listener.queue.get()]
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            # what queued up meanwhile goes out in one write: one send per burst, not per record
            while not listener.queue.empty() and len(items) < _BURST:
                items.append(listener.queue.get_nowait())
            frames = []
            for item in items:
                if isinstance(item, _Overflow):
                    log.info("stream_client_dropped", resume_after=sent)
                    frames.append(f"id: {sent}\nevent: overflow\ndata: "
                                  f'{{"resume_after": {sent}}}\n\n'.encode())
                    yield b"".join(frames)
                    return
                if item.seq > sent:
                    sent = item.seq
                    frames.append(item.frame)
            if frames:
                yield b"".join(frames)
    finally:
        feed.leave(listener)


class _Held(StreamingResponse):
    """A stream that gives back its client's place when it ends, however it ends (its
    body generator never runs if the client leaves before the first byte)."""

    def __init__(self, body: AsyncIterator[bytes], release: typing.Callable[[], None]) -> None:
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


@needs("read")
async def stream(request: Request) -> StreamingResponse:
    state = request.app.state
    feed: Feed | None = state.feed
    if feed is None:
        raise HTTPException(503, "this deployment has no live stream")
    facility, types, after = _filters(request)
    if state.stream_clients >= state.max_stream_clients:
        raise HTTPException(503, f"this replica serves {state.max_stream_clients} live "
                                 "streams already; try again later",
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    state.stream_clients += 1  # taken before any wait, so that the cap holds exactly
    if state.stream_clients == state.max_stream_clients:
        log.warning("stream_clients_full", clients=state.stream_clients)  # once, not per refusal
    try:
        end = await feed.end() if after is not None else 0
        if after is not None and after > end:
            # an id from another ledger (a data dir started afresh): resuming would skip
            # every record up to it
            raise BadRequest(f"Last-Event-ID {after} is past the ledger's end ({end}); "
                             "reconnect without it")
        listener = await feed.listen(facility, types)
    except BaseException:
        state.stream_clients -= 1
        raise

    def release() -> None:
        state.stream_clients -= 1
        feed.leave(listener)

    return _Held(_events(feed, listener, after, end, request), release)


routes = [Route("/stream", stream)]
