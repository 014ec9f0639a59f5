"""Nothing lost, nothing doubled when a NATS node is lost: three nats-server processes
form a JetStream cluster, every stream has three replicas, and the node leading LEDGER,
then the one leading READINGS, is killed with SIGKILL while readings flow. JetStream
elects new leaders; the clients reconnect to the nodes left; the shard hosts and the
ledger writer retry through the election. Afterwards the ledger is exactly an
uninterrupted derivation of READINGS, each event once, and verifies."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import ray
import structlog
from test_crash import DEADLINE_S, _canonical, _caught_up, _ledger_and_replay, _projected_ids

from plumeline.events import encode_wire, readings_subject
from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import LEDGER, READINGS, connect
from plumeline.infra.runtime.nats_cluster import NatsCluster
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System
from plumeline.simulator import Simulation

pytestmark = pytest.mark.cluster

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PARTITIONS = 4
# 100 facilities x 20 sensors, a frame a minute each for 24 minutes: 2,400 frames,
# 48,000 readings, whose events (registrations, then rejections, hotspots and
# recommendations) reach the ledger in every third of the stream
STEPS = 24
RATE_HZ = 1 / 60

log = structlog.get_logger("plumeline.test.cluster")


def _workload() -> list[tuple[str, bytes]]:
    sim = Simulation(seed=11, facilities=100, sensors_per_facility=20, rate_hz=RATE_HZ,
                     start_ms=T0, anomalies=True)
    out = [(readings_subject(m.facility, PARTITIONS), encode_wire(m)) for m in sim.manifests()]
    out += [(readings_subject(f.facility, PARTITIONS), encode_wire(f))
            for f in sim.frames(0, STEPS, 1)]
    return out


async def _publish(url: str, batch: list[tuple[str, bytes]], first: int,
                   sent: list[int] | None = None) -> dict[int, int]:
    """Publish in order, as a device would through a leader election: a publish that
    times out or finds no leader is sent again under the same message id, which
    JetStream's duplicate window keeps from being stored twice. `sent` counts them."""
    nc = await connect(url, name="devices")
    js = nc.jetstream()
    last: dict[int, int] = {}
    for i, (subject, payload) in enumerate(batch, first):
        while True:
            try:
                ack = await js.publish(subject, payload, timeout=2.0,
                                       headers={"Nats-Msg-Id": f"m{i}"})
                break
            except Exception as exc:
                log.info("publish_retried", error=repr(exc))
                await asyncio.sleep(0.2)
        last[int(subject.split(".")[1])] = ack.seq
        if sent is not None:
            sent[0] += 1
    await nc.close()
    return last


def _kill_leader_mid_stream(cluster: NatsCluster, system: System, stream: str,
                            batch: list, first: int, last: dict[int, int]) -> None:
    """Kill the node leading `stream` a quarter of the way through publishing a batch;
    log the seconds until every reading is in the ledger and projected again."""
    victim = asyncio.run(cluster.leader(stream))
    sent = [0]
    publisher = threading.Thread(target=lambda: last.update(
        asyncio.run(_publish(system.nats_url, batch, first, sent))))
    publisher.start()
    while sent[0] < len(batch) // 4 and publisher.is_alive():
        time.sleep(0.01)
    killed = time.monotonic()
    cluster.kill(victim)
    publisher.join(DEADLINE_S)
    assert not publisher.is_alive(), "publishing never got through"
    published = time.monotonic() - killed
    _caught_up(system, last)
    log.info("nats_leader_lost", stream=stream, node=cluster.nodes[victim].name,
             published_s=round(published, 2),
             recovered_s=round(time.monotonic() - killed, 2))


def test_losing_the_nodes_that_lead_ledger_then_readings(ray_session, tmp_path):
    data = tmp_path / "plumeline"
    with NatsCluster(3, tmp_path / "nats") as cluster:
        settings = Settings(data_dir=data, nats_url=cluster.url, nats_replicas=3,
                            partitions=PARTITIONS, shards=2, snapshot_every=200)
        system = System(settings).start(http=False)
        try:
            workload = _workload()
            third = len(workload) // 3
            last = asyncio.run(_publish(system.nats_url, workload[:third], 0))
            while ray.get(system.ledger.size.remote()) == 0:  # let it get going
                time.sleep(0.05)

            _kill_leader_mid_stream(cluster, system, LEDGER, workload[third:2 * third],
                                    third, last)
            killed = next(i for i, node in enumerate(cluster.nodes) if not node.running)
            cluster.restart(killed)  # back to three, current: losing another keeps a quorum

            _kill_leader_mid_stream(cluster, system, READINGS, workload[2 * third:],
                                    2 * third, last)

            ledger, replayed = asyncio.run(_ledger_and_replay(system.nats_url))
            ids = [e.id for e in ledger]
            assert len(ids) == len(set(ids)), "an event is doubled in the ledger"
            assert {e.type for e in ledger} >= {"facility.registered", "sensor.registered"}
            assert ({(e.id, _canonical.encode(e)) for e in ledger}
                    == {(e.id, _canonical.encode(e)) for e in replayed})
            assert _projected_ids(system, len(ledger)) == ids
            assert main(["verify", "--data-dir", str(data)]) == 0
            assert main(["audit", "replay", "--data-dir", str(data)]) == 0
        finally:
            system.stop()
