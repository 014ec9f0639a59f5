"""ShardHost: hosts the facilities of some READINGS partitions and their sensors.

One shard host is one Ray actor (infra places it); inside it live thousands of logical
actors. For each partition it owns it runs a durable pull consumer and, per batch of
frames: decode, let the facilities decide, append the events to the ledger, and only
then acknowledge (AckAll up to the batch's last frame). Nothing is acknowledged that
is not in the ledger, so a crash loses nothing; the ledger drops what a restarted host
derives again, so nothing is doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import nats
import structlog
from nats.js import api

from plumeline.actors.columns import SensorColumns
from plumeline.actors.derivation import Derivation, Derived, derive_batches
from plumeline.actors.facility import FacilityActor, FacilityConfig
from plumeline.actors.lane_snapshots import LaneSnapshots, SnapshotPolicy
from plumeline.actors.lanes import Lane, facility_of, wrong_partition
from plumeline.actors.ledger_writer import LedgerClient
from plumeline.events import Envelope, encode_envelopes
from plumeline.events.aio import cancel_and_wait, dead_letter
from plumeline.events.bus import connect_options

__all__ = ["Lane", "ShardHost", "SnapshotPolicy"]

READINGS_STREAM = "READINGS"

Append = Callable[[bytes], Awaitable[int]]


class DeliveryGap(Exception):
    def __init__(self, expected: int, delivered: int) -> None:
        super().__init__(f"consumer delivery {delivered} where {expected} was expected")
        self.expected = expected
        self.delivered = delivered


@dataclass
class _Partition:
    lane: Lane
    derivation: Derivation
    processed: int = 0  # last READINGS sequence whose events are derived
    time_ms: int = 0  # the stream time of that message
    snapped_seq: int = 0  # the seq of the last snapshot taken or restored
    snapped_ms: int = 0
    since_snapshot: int = 0  # messages derived since then

    @property
    def number(self) -> int:
        return self.lane.partition

    @property
    def facilities(self) -> dict[str, FacilityActor]:
        return self.derivation.facilities


class ShardHost:
    def __init__(
        self,
        nats_url: str,
        partitions: Iterable[int | Lane],
        append: Append | None = None,
        *,
        config: FacilityConfig | None = None,
        batch: int = 64,
        name: str = "shard-0",
        skip: Iterable[str] = (),
        snapshots: SnapshotPolicy | None = None,
        gather_s: float = 0.01,
        partition_count: int | None = None,
    ) -> None:
        """`partitions`: the lanes to consume, a number standing for the whole
        partition. `append`: how events reach the ledger, by default a request to the
        ledger writer on this host's NATS connection (`LedgerClient`). `skip`:
        facilities pinned to hosts of their own, whose messages the whole-partition
        lanes pass over. `snapshots`: when to snapshot (None: never). `gather_s`: how
        long a lane's batch waits for the other lanes' to be judged with them, at
        most (`_derive_with_others`). `partition_count`: how many partitions READINGS
        has; a message on a subject whose partition is not its facility's is then
        dead-lettered, never given to a second actor of the facility (None: the
        subject is trusted, as in tests that publish no such thing)."""
        self.nats_url = nats_url
        self.append = append
        self.config = config or FacilityConfig()
        self.batch = batch
        self.name = name
        self.skip = frozenset(skip)
        self.snapshots = snapshots
        self.gather_s = gather_s
        self.partition_count = partition_count
        lanes = [p if isinstance(p, Lane) else Lane(p) for p in partitions]
        # one set of columns for every lane's sensors: lanes with batches ready at
        # the same moment have their quiet frames judged in one round (_derive_ready)
        self._columns = SensorColumns(self.config)
        self._ready: list[tuple[Derivation, list, asyncio.Future]] = []
        self._gathering: asyncio.TimerHandle | None = None
        self.partitions = {lane: _Partition(lane, self._derivation()) for lane in lanes}
        self.counters = {"frames": 0, "readings": 0, "rejected": 0, "events": 0, "malformed": 0,
                         "commands": 0, "snapshots": 0, "snapshot_bytes": 0,
                         "in_columns": 0}
        self.restored: dict[str, dict] = {}  # lane: how its last start was restored
        self.log = structlog.get_logger("plumeline.shard").bind(shard=name)
        self._tasks: list[asyncio.Task] = []
        self._nc = None

    async def start(self) -> None:
        self._nc = await nats.connect(**connect_options(self.nats_url), name=self.name,
                                      max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        self._snapshots = LaneSnapshots(
            self.js, self.snapshots, skip=self.skip, config=self.config, columns=self._columns,
            counters=self.counters, log=self.log, readings_stream=READINGS_STREAM)
        if self.append is None:
            self.append = (await LedgerClient(self._nc).start()).append
        for p in self.partitions.values():
            self._tasks.append(asyncio.create_task(self._run(p), name=f"partition-{p.number}"))
        self.log.info("shard_started", lanes=[lane.durable for lane in self.partitions])

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._gathering is not None:
            self._gathering.cancel()
        if self._nc is not None:
            await self._nc.close()
        self.log.info("shard_stopped", **self.counters)

    def stats(self) -> dict:
        return {
            "shard": self.name,
            **self.counters,
            "facilities": sum(len(p.facilities) for p in self.partitions.values()),
            "sensors": sum(
                len(f.sensors) for p in self.partitions.values() for f in p.facilities.values()
            ),
            "processed": {p.lane.durable: p.processed for p in self.partitions.values()},
            "restored": dict(self.restored),
        }

    async def _run(self, part: _Partition) -> None:
        while True:
            try:
                await self._restore(part)
                await self._consume(part)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the ledger or NATS failed: rebuild and go on
                self.log.warning("partition_restarting", lane=part.lane.durable,
                                 error=repr(exc))
                part.derivation.release()
                part.derivation = self._derivation()
                part.processed = part.time_ms = part.snapped_seq = part.snapped_ms = 0
                part.since_snapshot = 0
                await asyncio.sleep(1.0)

    async def _restore(self, part: _Partition) -> None:
        """Rebuild the partition's actors: from the newest usable snapshot, then by
        re-deriving, without appending, every frame the durable consumer has
        acknowledged since (their events are in the ledger already)."""
        started = time.monotonic()
        try:
            floor = (await self.js.consumer_info(READINGS_STREAM, part.lane.durable)
                     ).ack_floor.stream_seq
        except nats.js.errors.NotFoundError:
            floor = 0
        snap_seq = await self._snapshots.load(part) if self.snapshots is not None else 0
        from_snapshot = time.monotonic() - started
        rederived = 0
        if floor > part.processed:
            rederived = await self._rederive(part, floor)
        self.restored[part.lane.durable] = {
            "snapshot_seq": snap_seq, "snapshot_s": round(from_snapshot, 3),
            "rederived": rederived, "seconds": round(time.monotonic() - started, 3),
        }
        self.log.info("partition_restored", lane=part.lane.durable, upto=part.processed,
                      facilities=len(part.facilities), **self.restored[part.lane.durable])

    async def _rederive(self, part: _Partition, floor: int) -> int:
        sub = await self.js.pull_subscribe(
            part.lane.subjects[0], stream=READINGS_STREAM,
            config=api.ConsumerConfig(
                filter_subjects=part.lane.subjects,
                ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=part.processed + 1,
            ),
        )
        n = 0
        try:
            while part.processed < floor:
                try:
                    msgs = await sub.fetch(self.batch, timeout=5.0)
                except TimeoutError:  # nats-py raises the builtin on an empty fetch
                    break  # the stream no longer holds them: resume with what was derived
                msgs = [m for m in msgs if m.metadata.sequence.stream <= floor]
                if not msgs:
                    break
                await self._derive(part, msgs, live=False)
                n += len(msgs)
                await asyncio.sleep(0)
        finally:
            await sub.unsubscribe()
        return n

    async def _consume(self, part: _Partition) -> None:
        """Messages an earlier run of this partition fetched and never acknowledged
        would come back only after ack_wait, and AckAll of a later message would
        acknowledge them unprocessed: so the durable consumer is made afresh, to
        deliver from right after what was derived. Its only state worth keeping is the
        ack floor, which `_restore` has just read (a crash in between leaves no
        consumer: the next start derives from the first message, the ledger drops
        what it holds)."""
        durable = part.lane.durable
        while True:  # a consumer afresh after every delivery gap, state kept
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_consumer(READINGS_STREAM, durable)
            sub = await self.js.pull_subscribe(
                part.lane.subjects[0], durable=durable, stream=READINGS_STREAM,
                config=api.ConsumerConfig(
                    filter_subjects=part.lane.subjects,
                    ack_policy=api.AckPolicy.ALL, ack_wait=60.0, max_ack_pending=20_000,
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=part.processed + 1,
                ),
            )
            try:
                await self._consume_from(part, sub)
            except DeliveryGap as gap:
                self.log.warning("delivery_gap", lane=durable, expected=gap.expected,
                                 delivered=gap.delivered, resume_after=part.processed)
            finally:
                await asyncio.gather(sub.unsubscribe(), return_exceptions=True)

    async def _consume_from(self, part: _Partition, sub) -> None:
        """Derive, append, then acknowledge, batch after batch. Deliveries are counted
        by the consumer's own sequence: a delivery lost on the way (a connection the
        server dropped, a fetch that expired with messages in flight) shows as a gap,
        and acknowledging past it would acknowledge a message never derived. So the
        batch stops at the gap, what came before it is appended and acknowledged, and
        DeliveryGap makes `_consume` resume from there."""
        expected = None
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=0.25)
            except TimeoutError:  # nats-py raises the builtin on an empty fetch
                continue
            last_good, gap, fresh = None, None, []
            for msg in msgs:
                delivered = msg.metadata.sequence.consumer
                if expected is not None and delivered != expected:
                    gap = DeliveryGap(expected, delivered)
                    break
                expected, last_good = delivered + 1, msg
                if msg.metadata.sequence.stream > part.processed:
                    fresh.append(msg)  # else redelivered after a restart, derived in restore
            envelopes = await self._derive(part, fresh, live=True)
            if envelopes:
                await self.append(encode_envelopes(envelopes))
                self.counters["events"] += len(envelopes)
            if last_good is not None:
                await last_good.ack()
                if self._snapshots.due(part):
                    await self._snapshots.take(part)
            if gap is not None:
                raise gap

    async def _derive(self, part: _Partition, msgs: list, *, live: bool) -> list[Envelope]:
        """The events of consecutive READINGS messages, applied to the actors, which
        then reflect the last of them (`part.processed`), judged together, and with
        the other lanes' (`_derive_with_others`). `live` is False while restoring:
        the messages were handled before, so nothing is counted or dead-lettered
        again."""
        if not msgs:
            return []
        batch, misplaced = [], []
        for msg in msgs:
            if part.lane.facility is None and facility_of(msg.subject) in self.skip:
                continue  # a pinned facility's: its own host derives it
            if (reason := wrong_partition(msg.subject, self.partition_count)) is not None:
                misplaced.append((msg, reason))
                continue
            batch.append((msg.subject, msg.metadata.sequence.stream,
                          int(msg.metadata.timestamp.timestamp() * 1000), msg.data))
        last = msgs[-1].metadata
        part.processed = last.sequence.stream
        part.time_ms = int(last.timestamp.timestamp() * 1000)
        part.since_snapshot += len(msgs)
        if live:
            for msg, reason in misplaced:
                self.counters["malformed"] += 1
                self.log.warning("frame_refused", reason=reason, seq=msg.metadata.sequence.stream)
                await self._deadletter(msg.subject, msg.data, msg.metadata.sequence.stream,
                                       reason)
        derivation = part.derivation
        in_columns = derivation.in_columns
        derived = await self._derive_with_others(derivation, batch)
        envelopes: list[Envelope] = []
        for (subject, seq, _, data), d in zip(batch, derived):
            envelopes += d.envelopes
            if not live:
                continue
            for name, n in d.counts.items():
                self.counters[name] += n
            if d.deadletter is not None:
                reason, payload = d.deadletter
                log = self.log.bind(facility=facility_of(subject), seq=seq)
                if d.rejected is not None:
                    log.info("readings_rejected", reasons=d.rejected.counts())
                else:
                    log.warning("frame_refused", reason=reason)
                await self._deadletter(subject, data, seq, reason, payload=payload)
        if live:  # frames judged in columns, of the frames counted
            self.counters["in_columns"] += derivation.in_columns - in_columns
        return envelopes

    def _derivation(self) -> Derivation:
        return Derivation(self.config, self._columns)

    async def _derive_with_others(self, derivation: Derivation, batch: list) -> list[Derived]:
        """`derivation.derive_batch(batch)`, judged together with the batches of the
        other lanes: once every lane has one, or `gather_s` after the first. At a
        paced rate each lane fetches a frame or two at a time, and a round of one
        frame pays the arrays' fixed cost for ~100 readings (docs/benchmarks.md,
        "Lanes judged together"); the lanes' rounds together pay it once. Flat out,
        every lane has a full batch at once and nothing waits."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._ready.append((derivation, batch, done))
        if len(self._ready) >= len(self.partitions):  # no lane left to wait for
            loop.call_soon(self._derive_ready)
        elif len(self._ready) == 1:
            self._gathering = loop.call_later(self.gather_s, self._derive_ready)
        return await done

    def _derive_ready(self) -> None:
        if self._gathering is not None:
            self._gathering.cancel()
            self._gathering = None
        ready = [r for r in self._ready if not r[2].done()]  # else its lane is stopping
        self._ready = []
        if not ready:  # taken already: every lane had come before the timer
            return
        try:
            results = derive_batches([(d, batch) for d, batch, _ in ready])
        except Exception as exc:  # every lane of the round restarts from its snapshot (_run)
            for *_, done in ready:
                if not done.done():
                    done.set_exception(exc)
            return
        for (*_, done), derived in zip(ready, results):
            if not done.done():  # else its lane is stopping
                done.set_result(derived)

    async def _deadletter(self, subject: str, data: bytes, seq: int, reason: str,
                          payload: bytes | None = None) -> None:
        await dead_letter(self.js, "deadletter." + facility_of(subject).replace(".", "_"),
                          payload if payload is not None else data, reason=reason,
                          source_subject=subject, seq=seq, msg_id=f"deadletter:{seq}")

