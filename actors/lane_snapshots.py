"""LaneSnapshots: a shard host's lanes snapshotted to, and restored from, SNAPSHOTS.

A snapshot is the pickled state of a lane's facilities at a READINGS sequence
(actors/snapshot.py makes and checks it); this is when one is taken and where it is
kept: the JetStream object store SNAPSHOTS, one object per lane, replaced each time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import nats

from plumeline.actors import snapshot

__all__ = ["SNAPSHOTS_BUCKET", "LaneSnapshots", "SnapshotPolicy"]

SNAPSHOTS_BUCKET = "SNAPSHOTS"


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """Snapshot a lane after this many messages or this much stream time since the
    last snapshot, whichever comes first (always after the batch is acknowledged)."""

    every_messages: int = 1000
    every_ms: int = 60_000


class LaneSnapshots:
    """The snapshots of one host's lanes. `part` is the host's state of a lane: its
    `lane`, `derivation`, and the sequences and stream times it has reached."""

    def __init__(self, js, policy: SnapshotPolicy | None, *, skip: frozenset[str], config,
                 columns, counters: dict, log, readings_stream: str) -> None:
        self.js, self.policy, self.skip = js, policy, skip
        self.config, self.columns, self.counters, self.log = config, columns, counters, log
        self.readings_stream = readings_stream

    def key(self, part) -> str:
        """What a snapshot must have been taken for: the lane, and for a whole
        partition the facilities it passed over (a change of pins changes which
        facilities its state holds)."""
        if part.lane.facility is not None:
            return part.lane.durable
        return part.lane.durable + "|skip=" + ",".join(sorted(self.skip))

    async def load(self, part) -> int:
        """Restore the lane's snapshot if there is a usable one; its seq, or 0. A
        snapshot that does not load is ignored with a warning: the rebuild then
        starts from the lane's first message, as without snapshots."""
        log = self.log.bind(lane=part.lane.durable)
        try:
            store = await self.js.object_store(SNAPSHOTS_BUCKET)
            blob = (await store.get(part.lane.durable)).data
        except (nats.js.errors.BucketNotFoundError, nats.js.errors.ObjectNotFoundError):
            return 0
        try:
            snap = await asyncio.to_thread(snapshot.restore, blob, lane=self.key(part),
                                           config=self.config, columns=self.columns)
            last = (await self.js.stream_info(self.readings_stream)).state.last_seq
            if snap.seq > last:
                raise snapshot.SnapshotUnusable(f"at seq {snap.seq}, READINGS ends at {last}")
        except snapshot.SnapshotUnusable as exc:
            log.warning("snapshot_ignored", reason=str(exc))
            return 0
        part.derivation.release()
        part.derivation = snap.derivation
        part.processed = part.snapped_seq = snap.seq
        part.time_ms = part.snapped_ms = snap.time_ms
        part.since_snapshot = 0
        log.info("snapshot_restored", seq=snap.seq, bytes=len(blob))
        return snap.seq

    async def take(self, part) -> None:
        """Called right after an acknowledgement, so the state it pickles holds only
        the effects of messages whose events are in the ledger. The pickling runs in a
        thread (this lane's task waits for it; no other task touches its actors) so
        that the NATS client keeps reading meanwhile. A failure costs only a longer
        rebuild, so it is logged and consumption goes on."""
        started = time.monotonic()
        try:
            blob = await asyncio.to_thread(
                snapshot.take, part.derivation, lane=self.key(part),
                seq=part.processed, time_ms=part.time_ms)
            store = await self.js.object_store(SNAPSHOTS_BUCKET)
            await store.put(part.lane.durable, blob)
        except Exception as exc:
            self.log.warning("snapshot_failed", lane=part.lane.durable, error=repr(exc))
            return
        part.snapped_seq, part.snapped_ms, part.since_snapshot = part.processed, part.time_ms, 0
        self.counters["snapshots"] += 1
        self.counters["snapshot_bytes"] = len(blob)
        self.log.info("snapshot_taken", lane=part.lane.durable, seq=part.processed,
                      bytes=len(blob), seconds=round(time.monotonic() - started, 3))

    def due(self, part) -> bool:
        policy = self.policy
        return policy is not None and part.processed > part.snapped_seq and (
            part.since_snapshot >= policy.every_messages
            or part.time_ms - part.snapped_ms >= policy.every_ms)
