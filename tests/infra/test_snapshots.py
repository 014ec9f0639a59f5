"""Snapshots on a real nats-server: a host started again restores its lanes' snapshots
from the SNAPSHOTS object store and re-derives only what came after; a snapshot that
does not load is ignored and its lane rebuilt from the first message. Either way the
ledger holds exactly the events of an uninterrupted derivation, each once."""

from __future__ import annotations

import asyncio

import msgspec

from plumeline.actors import Derivation, FacilityConfig, SnapshotPolicy
from plumeline.infra.runtime.nats import SNAPSHOTS, connect
from plumeline.infra.runtime.streams import ledger_records, messages

_canonical = msgspec.json.Encoder(order="sorted")
EVERY = SnapshotPolicy(every_messages=20, every_ms=10**12)


def test_a_restart_restores_snapshots_and_ignores_a_broken_one(nats_server, pipeline, story):
    # four facilities, two per partition with 4 partitions: ccs-01..04 hash to lanes
    plants = [f"ccs-0{i}" for i in range(1, 5)]
    first = sum((story(f, 120) for f in plants), [])
    assert pipeline(first, snapshots=EVERY) > 0

    objects = asyncio.run(_snapshots(nats_server.url))
    assert objects, "no snapshot was taken"
    broken = sorted(objects)[0]
    asyncio.run(_put(nats_server.url, broken, b"PLSNAP\x00\x00\x00\x02{}"))

    more = [m for f in plants for m in story(f, 240)[121:]]  # the same plants, later
    stats: dict = {}
    pipeline(more, snapshots=EVERY, stats=stats)
    restored = stats["restored"]
    assert restored[broken]["snapshot_seq"] == 0  # ignored: rebuilt from the start
    assert all(restored[lane]["snapshot_seq"] > 0 for lane in objects if lane != broken)
    intact = [r for lane, r in restored.items() if lane in objects and lane != broken]
    assert all(r["rederived"] < 20 for r in intact)  # only what came after the snapshot

    ledger, replayed = asyncio.run(_ledger_and_replay(nats_server.url))
    ids = [e.id for e in ledger]
    assert len(ids) == len(set(ids))
    assert [_canonical.encode(e) for e in sorted(ledger, key=_order)] == [
        _canonical.encode(e) for e in sorted(replayed, key=_order)]
    assert {e.type for e in ledger} >= {"alert.raised", "emissions.measured"}


def _order(e):
    return (e.causation.seq, e.causation.index)


async def _snapshots(url) -> set[str]:
    nc = await connect(url)
    try:
        store = await nc.jetstream().object_store(SNAPSHOTS)
        return {o.name for o in await store.list()}
    finally:
        await nc.close()


async def _put(url, name: str, blob: bytes) -> None:
    nc = await connect(url)
    try:
        await (await nc.jetstream().object_store(SNAPSHOTS)).put(name, blob)
    finally:
        await nc.close()


async def _ledger_and_replay(url):
    nc = await connect(url)
    try:
        js = nc.jetstream()
        ledger = [record.event async for _, record in ledger_records(js)]
        derivation, replayed = Derivation(FacilityConfig()), []
        async for m in messages(js, "readings.>"):
            replayed += derivation.derive(m.subject, m.seq, m.arrived, m.data).envelopes
    finally:
        await nc.close()
    return ledger, replayed
