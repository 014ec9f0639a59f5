"""A publisher that may write readings of any facility (the HTTP layer, the
simulator, a device given readings.> by hand) puts a facility's frames on another
partition's subject: the shard host of that partition must not become a second home
of the facility, whose two actors would then decide apart."""

from __future__ import annotations

import asyncio

from plumeline.actors import ShardHost
from plumeline.events import Manifest, SensorSpec, encode_wire, partition_of
from plumeline.infra.runtime.nats import connect, ensure_streams

PARTITIONS = 16


def test_a_frame_on_another_partitions_subject_is_dead_lettered(nats_server):
    own = partition_of("ccs-01", PARTITIONS)
    wrong = (own + 1) % PARTITIONS
    manifest = encode_wire(Manifest(facility="ccs-01", name="ccs-01", kind="ccs", time=1_000,
                                    sensors=[SensorSpec("flue_co2", "CO2 flow", "t/h")]))

    async def go():
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_streams(js)
        appended = []

        async def append(payload: bytes) -> int:
            appended.append(payload)
            return len(appended)

        host = ShardHost(nats_server.url, [own, wrong], append, partition_count=PARTITIONS)
        await host.start()
        try:
            await js.publish(f"readings.{wrong}.ccs-01", manifest)
            await js.publish(f"readings.{own}.ccs-01", manifest)
            while not (appended and (await js.stream_info("DEADLETTER")).state.messages):
                await asyncio.sleep(0.05)
            homes = {lane.partition: set(part.facilities) for lane, part in host.partitions.items()}
        finally:
            await host.stop()
        dead = await js.get_msg("DEADLETTER", 1)
        await nc.close()
        return homes, dead, host.counters

    homes, dead, counters = asyncio.run(asyncio.wait_for(go(), 60))
    assert homes == {own: {"ccs-01"}, wrong: set()}
    assert dead.headers["Plumeline-Source-Subject"] == f"readings.{wrong}.ccs-01"
    assert f"belongs to partition {own}" in dead.headers["Plumeline-Reason"]
    assert dead.data == manifest
    assert counters["malformed"] == 1
