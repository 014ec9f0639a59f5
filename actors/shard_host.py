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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats
import structlog
from nats.js import api

from actors.derivation import Derivation
from actors.facility import FacilityActor, FacilityConfig
from events import Envelope, encode_envelopes

__all__ = ["ShardHost"]

READINGS_STREAM = "READINGS"

Append = Callable[[bytes], Awaitable[int]]


class DeliveryGap(Exception):
    def __init__(self, expected: int, delivered: int) -> None:
        super().__init__(f"consumer delivery {delivered} where {expected} was expected")
        self.expected = expected
        self.delivered = delivered


@dataclass
class _Partition:
    number: int
    derivation: Derivation
    processed: int = 0  # last READINGS sequence whose events are derived

    @property
    def facilities(self) -> dict[str, FacilityActor]:
        return self.derivation.facilities


class ShardHost:
    def __init__(
        self,
        nats_url: str,
        partitions: list[int],
        append: Append,
        *,
        config: FacilityConfig | None = None,
        batch: int = 64,
        name: str = "shard-0",
    ) -> None:
        self.nats_url = nats_url
        self.append = append
        self.config = config or FacilityConfig()
        self.batch = batch
        self.name = name
        self.partitions = {p: _Partition(p, Derivation(self.config)) for p in partitions}
        self.counters = {"frames": 0, "readings": 0, "rejected": 0, "events": 0, "malformed": 0,
                         "commands": 0}
        self.log = structlog.get_logger("plumeline.shard").bind(shard=name)
        self._tasks: list[asyncio.Task] = []
        self._nc = None

    async def start(self) -> None:
        self._nc = await nats.connect(self.nats_url, name=self.name, max_reconnect_attempts=-1)
        self.js = self._nc.jetstream()
        for p in self.partitions.values():
            self._tasks.append(asyncio.create_task(self._run(p), name=f"partition-{p.number}"))
        self.log.info("shard_started", partitions=sorted(self.partitions))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
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
            "processed": {p.number: p.processed for p in self.partitions.values()},
        }

    async def _run(self, part: _Partition) -> None:
        while True:
            try:
                await self._restore(part)
                await self._consume(part)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the ledger or NATS failed: rebuild and go on
                self.log.warning("partition_restarting", partition=part.number, error=repr(exc))
                part.derivation = Derivation(self.config)
                part.processed = 0
                await asyncio.sleep(1.0)

    def _subject(self, part: _Partition) -> str:
        return f"readings.{part.number}.>"

    async def _restore(self, part: _Partition) -> None:
        """Rebuild the partition's actors by re-deriving, without appending, every frame
        the durable consumer has acknowledged: their events are in the ledger already."""
        durable = f"shard-p{part.number}"
        try:
            floor = (await self.js.consumer_info(READINGS_STREAM, durable)).ack_floor.stream_seq
        except nats.js.errors.NotFoundError:
            floor = 0
        if floor <= part.processed:
            return
        sub = await self.js.pull_subscribe(
            self._subject(part), stream=READINGS_STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0),
        )
        try:
            while part.processed < floor:
                try:
                    msgs = await sub.fetch(self.batch, timeout=5.0)
                except TimeoutError:  # nats-py raises the builtin on an empty fetch
                    break  # the stream no longer holds them: resume with what was derived
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq > floor:
                        break
                    await self._derive(part, msg, live=False)
                    part.processed = seq
        finally:
            await sub.unsubscribe()
        self.log.info("partition_restored", partition=part.number, upto=floor,
                      facilities=len(part.facilities))

    async def _consume(self, part: _Partition) -> None:
        """Messages an earlier run of this partition fetched and never acknowledged
        would come back only after ack_wait, and AckAll of a later message would
        acknowledge them unprocessed: so the durable consumer is made afresh, to
        deliver from right after what was derived. Its only state worth keeping is the
        ack floor, which `_restore` has just read (a crash in between leaves no
        consumer: the next start derives from the first message, the ledger drops
        what it holds)."""
        durable = f"shard-p{part.number}"
        while True:  # a consumer afresh after every delivery gap, state kept
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_consumer(READINGS_STREAM, durable)
            sub = await self.js.pull_subscribe(
                self._subject(part), durable=durable, stream=READINGS_STREAM,
                config=api.ConsumerConfig(
                    ack_policy=api.AckPolicy.ALL, ack_wait=60.0, max_ack_pending=20_000,
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=part.processed + 1,
                ),
            )
            try:
                await self._consume_from(part, sub)
            except DeliveryGap as gap:
                self.log.warning("delivery_gap", partition=part.number, expected=gap.expected,
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
            envelopes: list[Envelope] = []
            last_good, gap = None, None
            for i, msg in enumerate(msgs):
                delivered = msg.metadata.sequence.consumer
                if expected is not None and delivered != expected:
                    gap = DeliveryGap(expected, delivered)
                    break
                expected, last_good = delivered + 1, msg
                seq = msg.metadata.sequence.stream
                if seq <= part.processed:
                    continue  # redelivered after a restart, derived during restore
                envelopes += await self._derive(part, msg, live=True)
                part.processed = seq
                if i % 16 == 15:
                    await asyncio.sleep(0)  # let the client read its socket meanwhile
            if envelopes:
                await self.append(encode_envelopes(envelopes))
                self.counters["events"] += len(envelopes)
            if last_good is not None:
                await last_good.ack()
            if gap is not None:
                raise gap

    async def _derive(self, part: _Partition, msg, *, live: bool) -> list[Envelope]:
        """The events of one READINGS message, applied to the actors. `live` is False
        while restoring: the message was handled before, so nothing is counted or
        dead-lettered again."""
        seq = msg.metadata.sequence.stream
        arrived = int(msg.metadata.timestamp.timestamp() * 1000)
        derived = part.derivation.derive(msg.subject, seq, arrived, msg.data)
        if live:
            for name, n in derived.counts.items():
                self.counters[name] += n
            if derived.deadletter is not None:
                reason, payload = derived.deadletter
                log = self.log.bind(facility=msg.subject.split(".", 2)[-1], seq=seq)
                if derived.rejected is not None:
                    log.info("readings_rejected", reasons=derived.rejected.counts())
                else:
                    log.warning("frame_refused", reason=reason)
                await self._deadletter(msg, seq, reason, payload=payload)
        return derived.envelopes

    async def _deadletter(self, msg, seq: int, reason: str, payload: bytes | None = None) -> None:
        await self.js.publish(
            "deadletter." + msg.subject.split(".", 2)[-1].replace(".", "_"),
            payload if payload is not None else msg.data,
            headers={
                "Plumeline-Reason": reason[:1000],
                "Plumeline-Source-Subject": msg.subject,
                "Plumeline-Source-Seq": str(seq),
                "Nats-Msg-Id": f"deadletter:{seq}",
            },
        )
