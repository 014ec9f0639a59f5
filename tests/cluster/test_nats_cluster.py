"""Nothing lost, nothing doubled when a NATS node is lost: three nats-server processes
form a JetStream cluster, every stream has three replicas, and the node leading LEDGER,
then the one leading READINGS, is killed with SIGKILL while readings flow. JetStream
elects new leaders; the clients reconnect to the nodes left; the shard hosts and the
ledger writer retry through the election. Afterwards the ledger is exactly an
uninterrupted derivation of READINGS, each event once, and verifies.

The cluster is configured as `plumeline nats-config` configures one: the components'
users and permissions, routes that need the route password; every component logs in
as itself. How long ingest stood still after each loss is logged
(`nats_leader_lost`): from the SIGKILL to the first publish sent after it and
acknowledged, and to the first record the ledger appended after it."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

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
                   sent: list[int] | None = None,
                   acked: list[tuple[float, float]] | None = None) -> dict[int, int]:
    """Publish in order, as a device would through a leader election: a publish that
    times out or finds no leader is sent again under the same message id, which
    JetStream's duplicate window keeps from being stored twice. `sent` counts them;
    `acked` gets (when the attempt that got through was sent, when its ack came)."""
    nc = await connect(url, name="devices")
    js = nc.jetstream()
    last: dict[int, int] = {}
    for i, (subject, payload) in enumerate(batch, first):
        while True:
            try:
                attempt = time.monotonic()
                ack = await js.publish(subject, payload, timeout=2.0,
                                       headers={"Nats-Msg-Id": f"m{i}"})
                if acked is not None:
                    acked.append((attempt, time.monotonic()))
                break
            except Exception as exc:
                log.info("publish_retried", error=repr(exc))
                await asyncio.sleep(0.2)
        last[int(subject.split(".")[1])] = ack.seq
        if sent is not None:
            sent[0] += 1
    await nc.close()
    return last


def _ledger_grew(url: str, done: threading.Event) -> list[float]:
    """Watch LEDGER from now on (its last sequence, as the stream's leader tells it);
    the list gets the moment it first holds a record more than now (it stays empty
    if none is stored before `done`). Returns once the starting point is read."""
    grew: list[float] = []
    watching = threading.Event()

    async def watch() -> None:
        nc = await connect(url, name="ledger-watch")
        try:
            js = nc.jetstream(timeout=1.0)
            start = (await js.stream_info(LEDGER)).state.last_seq
            watching.set()
            while not done.is_set():
                try:
                    if (await js.stream_info(LEDGER)).state.last_seq > start:
                        grew.append(time.monotonic())
                        return
                except Exception:  # no leader yet
                    pass
                await asyncio.sleep(0.05)
        finally:
            watching.set()
            await nc.close()

    threading.Thread(target=lambda: asyncio.run(watch()), daemon=True).start()
    watching.wait(30)
    return grew


def _seconds(since: float, moments: list[float]) -> float | None:
    return round(min(moments) - since, 2) if moments else None


def _kill_leader_mid_stream(cluster: NatsCluster, system: System, stream: str,
                            batch: list, first: int, last: dict[int, int]) -> None:
    """Kill the node leading `stream` a quarter of the way through publishing a batch;
    log the seconds until ingest resumed (a publish sent after the kill acknowledged,
    a record stored in LEDGER after it) and until every reading is in the ledger and projected again."""
    victim = asyncio.run(cluster.leader(stream))
    sent, acked = [0], []
    publisher = threading.Thread(target=lambda: last.update(
        asyncio.run(_publish(system.url_for("simulator"), batch, first, sent, acked))))
    publisher.start()
    while sent[0] < len(batch) // 4 and publisher.is_alive():
        time.sleep(0.01)
    caught_up = threading.Event()
    grew = _ledger_grew(system.url_for("reader"), caught_up)
    killed = time.monotonic()
    cluster.kill(victim)
    publisher.join(DEADLINE_S)
    assert not publisher.is_alive(), "publishing never got through"
    published = time.monotonic() - killed
    resumed = [ack for attempt, ack in acked if attempt >= killed]
    assert resumed, "no publish sent after the loss was acknowledged"
    _caught_up(_checked_as_setup(system), last)
    caught_up.set()
    log.info("nats_leader_lost", stream=stream, node=cluster.nodes[victim].name,
             ingest_resumed_s=_seconds(killed, resumed),
             ledger_resumed_s=_seconds(killed, grew),
             published_s=round(published, 2),
             recovered_s=round(time.monotonic() - killed, 2))


def _checked_as_setup(system: System) -> SimpleNamespace:
    """The system as `_caught_up` reads it, its consumers read as `setup`, whose
    rights include READINGS' consumer info (no test user is added to the cluster)."""
    return SimpleNamespace(nats_url=system.url_for("setup"), ledger=system.ledger,
                           projections=system.projections)


def test_losing_the_nodes_that_lead_ledger_then_readings(ray_session, tmp_path):
    data = tmp_path / "plumeline"
    with NatsCluster.secured(3, tmp_path / "nats", data, PARTITIONS) as cluster:
        settings = Settings(data_dir=data, nats_url=cluster.url, nats_replicas=3,
                            partitions=PARTITIONS, shards=2, snapshot_every=200)
        system = System(settings).start(http=False)
        try:
            workload = _workload()
            third = len(workload) // 3
            assert set(system.credentials) >= {"ledger", "shard", "simulator", "reader"}
            last = asyncio.run(_publish(system.url_for("simulator"), workload[:third], 0))
            while ray.get(system.ledger.size.remote()) == 0:  # let it get going
                time.sleep(0.05)

            _kill_leader_mid_stream(cluster, system, LEDGER, workload[third:2 * third],
                                    third, last)
            killed = next(i for i, node in enumerate(cluster.nodes) if not node.running)
            cluster.restart(killed)  # back to three, current: losing another keeps a quorum

            _kill_leader_mid_stream(cluster, system, READINGS, workload[2 * third:],
                                    2 * third, last)

            ledger, replayed = asyncio.run(_ledger_and_replay(system.url_for("reader")))
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
