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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
import nats
import structlog
from nats.js import api

from actors.facility import FacilityActor, FacilityConfig
from events import (
    Causation,
    Envelope,
    Frame,
    Manifest,
    ReadingsRejected,
    decode_wire,
    encode_envelopes,
    encode_wire,
)

__all__ = ["ShardHost"]

READINGS_STREAM = "READINGS"
CAUSE = "readings"

Append = Callable[[bytes], Awaitable[int]]


@dataclass
class _Partition:
    number: int
    facilities: dict[str, FacilityActor] = field(default_factory=dict)
    processed: int = 0  # last READINGS sequence whose events are derived


class ShardHost:
    def __init__(
        self,
        nats_url: str,
        partitions: list[int],
        append: Append,
        *,
        config: FacilityConfig | None = None,
        batch: int = 256,
        name: str = "shard-0",
    ) -> None:
        self.nats_url = nats_url
        self.append = append
        self.config = config or FacilityConfig()
        self.batch = batch
        self.name = name
        self.partitions = {p: _Partition(p) for p in partitions}
        self.counters = {"frames": 0, "readings": 0, "rejected": 0, "events": 0, "malformed": 0}
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
                part.facilities.clear()
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
        sub = await self.js.pull_subscribe(
            self._subject(part), durable=f"shard-p{part.number}", stream=READINGS_STREAM,
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.ALL, ack_wait=60.0, max_ack_pending=20_000
            ),
        )
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=0.25)
            except TimeoutError:  # nats-py raises the builtin on an empty fetch
                continue
            if not msgs:
                continue
            envelopes: list[Envelope] = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq <= part.processed:
                    continue  # redelivered after a restart, derived during restore
                envelopes += await self._derive(part, msg, live=True)
                part.processed = seq
            if envelopes:
                await self.append(encode_envelopes(envelopes))
                self.counters["events"] += len(envelopes)
            await msgs[-1].ack()

    async def _derive(self, part: _Partition, msg, *, live: bool) -> list[Envelope]:
        """The events of one READINGS message, applied to the actors. `live` is False
        while restoring: the message was handled before, so nothing is counted or
        dead-lettered again."""
        seq = msg.metadata.sequence.stream
        arrived = int(msg.metadata.timestamp.timestamp() * 1000)
        facility_name = msg.subject.split(".", 2)[-1]
        log = self.log.bind(facility=facility_name, seq=seq)
        try:
            message = decode_wire(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if live:
                self.counters["malformed"] += 1
                log.warning("frame_malformed", reason=str(exc))
                await self._deadletter(msg, seq, f"malformed frame: {exc}")
            body = ReadingsRejected(facility=facility_name, count=0, reasons={"malformed frame": 1})
            return [Envelope.wrap(body, time=arrived, causation=Causation(CAUSE, seq, 0))]
        if message.facility != facility_name:
            reason = f"frame names facility {message.facility!r} on subject of {facility_name!r}"
            if live:
                await self._deadletter(msg, seq, reason)
            body = ReadingsRejected(facility=facility_name, count=0, reasons={reason: 1})
            return [Envelope.wrap(body, time=arrived, causation=Causation(CAUSE, seq, 0))]
        facility = part.facilities.get(facility_name)
        if facility is None:
            facility = part.facilities[facility_name] = FacilityActor(facility_name, self.config)
        match message:
            case Manifest():
                caused = [(message.time or arrived, e) for e in facility.register(message)]
                rejected = None
            case Frame():
                caused, rejected = facility.observe(message, arrived)
                if live:
                    self.counters["frames"] += 1
                    self.counters["readings"] += len(message.values) - (
                        len(rejected.reasons) if rejected else 0
                    )
        if rejected is not None:
            if live:
                self.counters["rejected"] += len(rejected.reasons)
                log.info("readings_rejected", reasons=rejected.counts())
                refused = Frame(facility=facility_name, sensors=rejected.sensors,
                                times=rejected.times, values=rejected.values)
                await self._deadletter(msg, seq, "; ".join(sorted(set(rejected.reasons))),
                                       payload=encode_wire(refused))
            summary = ReadingsRejected(facility=facility_name, count=len(rejected.reasons),
                                       reasons=rejected.counts())
            caused.append((arrived, summary))
        return [
            Envelope.wrap(event, time=t, causation=Causation(CAUSE, seq, i))
            for i, (t, event) in enumerate(caused)
        ]

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
