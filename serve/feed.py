"""The replica's one subscription to the LEDGER stream, behind every `/stream` client.

An ordered push consumer (ephemeral, no acks, flow-controlled; nats-py recreates it
from the last sequence it saw after a reconnect) delivers each new record once to
this replica, which fans it out through a `Broadcast`. A thousand clients cost one
subscription, not a thousand. Missed records for a reconnecting client are read with
a short-lived pull consumer from the seq it names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import structlog
from nats.js import api

from plumeline.events.bus import connect_options
from plumeline.projections.deadletter import dead_letter
from plumeline.serve.stream import Broadcast, Entry, Listener, entry

__all__ = ["LedgerFeed"]

LEDGER_STREAM = "LEDGER"
RECORDS_SUBJECT = "ledger.records"
REPLAY_BATCH = 500

log = structlog.get_logger("plumeline.feed")


class LedgerFeed:
    def __init__(self, nats_url: str, *, queue_size: int = 4096) -> None:
        """`queue_size` records per client: above the 1,000 records of one ledger append,
        which arrive here in one burst before any client's turn to send."""
        self.nats_url = nats_url
        self.broadcast = Broadcast(queue_size)
        self._nc = None
        self._sub = None
        self._starting = asyncio.Lock()
        self.dead_lettered = 0  # records it could not read, dead-lettered and skipped

    async def listen(self, facility: str | None = None,
                     types: frozenset[str] | None = None) -> Listener:
        if self._sub is None:
            await self._start()
        return self.broadcast.listen(facility, types)

    async def end(self) -> int:
        """The seq of the last record in LEDGER now."""
        if self._sub is None:
            await self._start()
        return (await self._nc.jetstream().stream_info(LEDGER_STREAM)).state.last_seq

    def leave(self, listener: Listener) -> None:
        self.broadcast.leave(listener)

    async def replay(self, after: int) -> AsyncIterator[Entry]:
        """The records after seq `after` up to the stream's end now, in order."""
        js = self._nc.jetstream()
        last = (await js.stream_info(LEDGER_STREAM)).state.last_seq
        if last <= after:
            return
        sub = await js.pull_subscribe(
            RECORDS_SUBJECT, stream=LEDGER_STREAM,
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1,
                ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0),
        )
        try:
            seq = after
            while seq < last:
                for msg in await sub.fetch(min(REPLAY_BATCH, last - seq), timeout=10.0):
                    seq = msg.metadata.sequence.stream
                    if seq > last:
                        return
                    if (e := await self._entry(msg.data, seq)) is not None:
                        yield e
        finally:
            await sub.unsubscribe()

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._sub = None

    async def _start(self) -> None:
        # connected on first use, inside the event loop that serves the clients
        async with self._starting:
            if self._sub is not None:
                return
            self._nc = await nats.connect(**connect_options(self.nats_url), name="serve-stream",
                                          max_reconnect_attempts=-1)
            js = self._nc.jetstream()
            last = (await js.stream_info(LEDGER_STREAM)).state.last_seq
            self.broadcast.last_seq = last
            self._sub = await js.subscribe(
                RECORDS_SUBJECT, stream=LEDGER_STREAM, ordered_consumer=True,
                cb=self._on_record, idle_heartbeat=5.0,
                config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                          opt_start_seq=last + 1),
            )
            log.info("stream_feed_started", from_seq=last + 1)

    async def _on_record(self, msg) -> None:
        e = await self._entry(msg.data, msg.metadata.sequence.stream)
        if e is not None:
            self.broadcast.publish(e)

    async def _entry(self, data: bytes, seq: int) -> Entry | None:
        """The record as clients get it; None, once dead-lettered, if it cannot be
        read (no exception leaves: it would end the subscription's callback)."""
        try:
            return entry(data)
        except Exception as exc:  # msgspec's errors are ValueErrors; anything else too
            reason = f"cannot stream: {type(exc).__name__}: {exc}"
            log.error("ledger_record_unreadable", seq=seq, error=reason)
        self.dead_lettered += 1
        try:
            await dead_letter(self._nc.jetstream(), "stream_feed", RECORDS_SUBJECT, seq, data,
                              reason)
        except Exception as exc:  # NATS away: the log line above still says it
            log.warning("dead_letter_failed", seq=seq, error=repr(exc))
        return None
