"""ProjectionRunner: follows LEDGER from the stored checkpoint into ClickHouse.

The only module of the package that speaks NATS. In embedded mode exactly one process
may hold the chDB directory, so this runner (one Ray actor) owns the store and answers
the queries of the HTTP layer too.

It holds two clients of the store: the raw readings' inserts have one of their own, so
an event never waits behind a block of readings on its way to GET /alerts. chDB runs
two clients' statements side by side (a one-row insert beside a stream of
2,000,000-row inserts: 10 ms, not the 60 ms of waiting for one), and each client is
used by one thread at a time, under its own lock.
"""

from __future__ import annotations

import asyncio
import threading

import nats
import structlog
from nats.js import api

from plumeline.events.aio import cancel_and_wait
from plumeline.events.bus import connect_options
from plumeline.projections import queries, roster
from plumeline.projections.deadletter import dead_letter, transient
from plumeline.projections.emissions import (
    emissions_current,
    emissions_recent,
    emissions_report,
    emissions_summary,
    facility_metrics,
)
from plumeline.projections.figures import figures
from plumeline.projections.forecast import Forecasts
from plumeline.projections.positions import caused_by, seq_at, seq_of
from plumeline.projections.projector import Projector, SequenceGap
from plumeline.projections.readings import ReadingsProjector, latest_readings, sensor_history
from plumeline.projections.recommendations import recommendation, recommendations
from plumeline.projections.silences import silences
from plumeline.projections.store import open_store

__all__ = ["ProjectionRunner"]

LEDGER_STREAM = "LEDGER"
RECORDS_SUBJECT = "ledger.records"
READINGS_STREAM = "READINGS"
_AFTER_LINGER_S = 0.05  # the fetch after a linger: what is there, or this long for one

QUERIES = {
    "alerts": queries.alerts,
    "alert": queries.alert,
    "hotspots": queries.hotspots,
    "ledger_events": queries.ledger_events,
    "facilities": queries.facilities,
    "rejections_summary": queries.rejections_summary,
    "projection_status": queries.projection_status,
    "latest_readings": latest_readings,
    "sensor_history": sensor_history,
    "recommendations": recommendations,
    "recommendation": recommendation,
    "caused_by": caused_by,
    "seq_at": seq_at,
    "seq_of": seq_of,
    "emissions_current": emissions_current,
    "emissions_summary": emissions_summary,
    "emissions_report": emissions_report,
    "emissions_recent": emissions_recent,
    "facility_metrics": facility_metrics,
    "silences": silences,
    "sensors": roster.sensors,
    "figures": figures,
}


class ProjectionRunner:
    def __init__(
        self,
        nats_url: str,
        *,
        clickhouse_url: str | None = None,
        clickhouse_path: str | None = None,
        batch: int = 500,
        idle_s: float = 0.1,
        readings_linger_s: float = 0.25,
        readings_batch: int = 2000,
        readings_bytes: int = 8 << 20,
    ) -> None:
        self.nats_url = nats_url
        self.clickhouse_url = clickhouse_url
        self.clickhouse_path = clickhouse_path
        self.batch = batch
        self.idle_s = idle_s
        # Raw readings are gathered for up to this long per insert: each insert costs
        # a ClickHouse part however few rows it holds, and at 100,000 readings/s
        # without it the follower made ~40 small inserts a second.
        self.readings_linger_s = readings_linger_s
        # ... and up to this many messages (or bytes) go to one insert: per reading, a
        # ClickHouse insert and the merges behind it cost less the more rows an insert
        # holds (docs/benchmarks.md, "Bigger inserts of raw readings")
        self.readings_batch = readings_batch
        self.readings_bytes = readings_bytes
        self.log = structlog.get_logger("plumeline.projections")
        self._tasks: list[asyncio.Task] = []
        self._store_lock = threading.Lock()  # the events' client, also the queries'
        self._readings_lock = threading.Lock()
        self._nc = None
        # stateful queries: the forecasts keep their fitted models between calls
        self._queries = {**QUERIES, "emissions_forecast": Forecasts().forecast,
                         "figures": self._figures}
        # messages each follower could not apply, dead-lettered (GET /metrics)
        self.dead_lettered = {"ledger": 0, "readings": 0}

    async def start(self) -> int:
        self.store = open_store(url=self.clickhouse_url, path=self.clickhouse_path)
        self.projector = Projector(self.store)
        self.projector.ensure_schema()
        self._readings_store = open_store(url=self.clickhouse_url, path=self.clickhouse_path)
        self.readings = ReadingsProjector(self._readings_store)
        self.readings.ensure_schema()
        self._nc = await nats.connect(**connect_options(self.nats_url), name="projections",
                                      max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        self._start_following()
        checkpoint = self.projector.checkpoint()
        self.log.info("projections_started", checkpoint=checkpoint)
        return checkpoint

    def _start_following(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow(
                "ledger", self.projector, self._store_lock, LEDGER_STREAM, RECORDS_SUBJECT)),
            asyncio.create_task(self._follow(
                "readings", self.readings, self._readings_lock, READINGS_STREAM, "readings.>",
                linger=self.readings_linger_s, most=self.readings_batch,
                max_bytes=self.readings_bytes)),
        ]

    async def _stop_following(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def stop(self) -> None:
        await self._stop_following()
        if self._nc is not None:
            await self._nc.close()
        self._readings_store.close()
        self.store.close()

    async def _follow(self, name: str, projector, lock: threading.Lock, stream: str,
                      subject: str, linger: float = 0.0, most: int = 0,
                      max_bytes: int = 0) -> None:
        sub = None
        while True:
            try:
                if sub is None:
                    sub = await self._subscribe(stream, subject, projector.checkpoint() + 1)
                try:
                    msgs = await self._fetch(sub, linger, most, max_bytes)
                except TimeoutError:  # nats-py raises the builtin on an empty fetch
                    continue
                if not msgs:
                    continue
                await self._apply(name, projector, lock, msgs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # resubscribe from the checkpoint, which is the truth
                self.log.warning("projection_failed", error=repr(exc))
                if sub is not None:
                    await asyncio.gather(sub.unsubscribe(), return_exceptions=True)
                sub = None
                await asyncio.sleep(1.0)

    async def _apply(self, name: str, projector, lock: threading.Lock, msgs: list) -> None:
        """The messages as one batch; when that fails for a message's sake, each alone,
        and the one that cannot be applied is dead-lettered and skipped (its
        checkpoint moves on). A gap, or NATS or the store away, is not a message's
        fault: that raises, and the follower resubscribes from its checkpoint."""
        batch = [(m.metadata.sequence.stream, m.data) for m in msgs]
        # the raw readings' "now" is each message's stored time (events/acceptance.py)
        stored = [_stored_ms(m) for m in msgs] if name == "readings" else None
        subjects = [m.subject for m in msgs] if name == "readings" else None
        try:
            # in a thread: the event loop must keep reading the NATS socket while
            # ClickHouse works, or the server drops this client as a slow consumer
            await asyncio.to_thread(_holding, lock, _apply, projector, batch, stored, subjects)
            return
        except Exception as exc:
            if transient(exc) or isinstance(exc, SequenceGap):
                raise
        for k, m in enumerate(msgs):
            alone = [None if x is None else x[k:k + 1] for x in (stored, subjects)]
            try:
                await asyncio.to_thread(_holding, lock, _apply, projector, batch[k:k + 1],
                                        *alone)
            except Exception as exc:
                if transient(exc) or isinstance(exc, SequenceGap):
                    raise
                # the store answers: the message, not the store, is what fails
                await asyncio.to_thread(_holding, lock, projector.store.rows, "SELECT 1")
                seq, reason = batch[k][0], f"cannot project: {type(exc).__name__}: {exc}"
                self.log.error("projection_message_dead_lettered", projection=name, seq=seq,
                               reason=reason)
                await dead_letter(self.js, f"projection_{name}", m.subject, seq, m.data, reason)
                await asyncio.to_thread(_holding, lock, projector.skip, seq)
                self.dead_lettered[name] += 1

    def _figures(self, store) -> dict:
        return {**figures(store), "dead_lettered": dict(self.dead_lettered)}

    async def _fetch(self, sub, linger: float, most: int = 0, max_bytes: int = 0) -> list:
        """What the first fetch brings (up to `batch` messages), then, `linger` seconds
        after it if it was short, whatever more has come, up to `most` messages
        (`batch` by default) or `max_bytes` of them, fetched `batch` at a time. One
        fetch after the wait, not one per arrival: a fetch is a pull request and a
        reply through nats-server, and at 100,000 readings/s the frames came one or
        two to a fetch (~500 a second)."""
        most = most or self.batch
        msgs = await sub.fetch(self.batch, timeout=self.idle_s)
        if not msgs or (len(msgs) < self.batch and linger <= 0):
            return msgs
        if len(msgs) < self.batch:
            await asyncio.sleep(linger)
        size = sum(len(m.data) for m in msgs) if max_bytes else 0
        while len(msgs) < most and (not max_bytes or size < max_bytes):
            asked = min(self.batch, most - len(msgs))
            try:
                more = await sub.fetch(asked, timeout=_AFTER_LINGER_S)
            except TimeoutError:  # nothing more came meanwhile
                break
            msgs += more
            size += sum(len(m.data) for m in more) if max_bytes else 0
            if len(more) < asked:
                break
        return msgs

    async def _subscribe(self, stream: str, subject: str, start: int):
        return await self.js.pull_subscribe(
            subject, stream=stream,
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                ack_policy=api.AckPolicy.NONE, inactive_threshold=60.0,
            ),
        )

    async def query(self, name: str, **params):
        try:
            fn = self._queries[name]
        except KeyError:
            raise ValueError(f"unknown query {name!r}") from None
        return await asyncio.to_thread(_holding, self._store_lock, fn, self.store, **params)

    async def checkpoint(self) -> int:
        return self.projector.checkpoint()

    async def visible(self) -> int:
        """The last ledger seq the views show (GET /alerts and every other but the
        ledger's own): the checkpoint, or further while a batch's `ledger` rows are
        going in."""
        return self.projector.visible()

    async def readings_checkpoint(self) -> int:
        return self.readings.checkpoint()

    async def wait_for(self, seq: int, timeout: float = 30.0) -> int:
        """Return once the projections include ledger record `seq`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (cp := self.projector.checkpoint()) < seq:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"projections at {cp}, waited for {seq}")
            await asyncio.sleep(0.05)
        return cp

    async def rebuild(self) -> None:
        """Drop every table and replay LEDGER from record 1 (projections are disposable)."""
        await self._stop_following()
        await asyncio.to_thread(_holding, self._store_lock, self.projector.rebuild)
        await asyncio.to_thread(_holding, self._readings_lock, self.readings.reset)
        self._start_following()


def _apply(projector, batch: list[tuple[int, bytes]], stored: list[int] | None,
           subjects: list[str] | None) -> int:
    """The ledger's projector takes records; the readings' also their stored times and
    subjects."""
    return projector.apply(batch) if stored is None else projector.apply(batch, stored,
                                                                          subjects)


def _stored_ms(msg) -> int:
    """The time JetStream stored the message at, in ms: the same on every replay."""
    return int(msg.metadata.timestamp.timestamp() * 1000)


def _holding(lock: threading.Lock, fn, *args, **kwargs):
    """One call at a time on a ClickHouse client: a client is not shared across threads."""
    with lock:
        return fn(*args, **kwargs)
