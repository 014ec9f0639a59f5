"""Nothing lost, nothing doubled (DESIGN.md property 1) across a crash: a Ray actor of a
running system is killed with SIGKILL in the middle of a stream of readings; Ray
restarts it, it resumes by itself, and the ledger ends up with exactly the events an
uninterrupted derivation of READINGS produces, each once, and verifies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict

import msgspec
import pytest
import ray

from plumeline.actors import Derivation, FacilityConfig, Lane
from plumeline.events import encode_wire, readings_subject
from plumeline.infra.cli.audit_replay import replay_differences
from plumeline.infra.cli.main import main
from plumeline.infra.runtime.nats import READINGS, connect
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.streams import ledger_records, messages
from plumeline.infra.runtime.system import System
from plumeline.projections.queries import MAX_LIMIT
from plumeline.simulator import Simulation

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PARTITIONS = 4
STEPS = 400
DEADLINE_S = 120.0
_canonical = msgspec.json.Encoder(order="sorted")


def _workload() -> list[tuple[str, bytes]]:
    """4 facilities × 20 sensors × STEPS seconds with anomalies, one step per frame."""
    sim = Simulation(seed=11, facilities=4, sensors_per_facility=20, rate_hz=1.0, start_ms=T0,
                     anomalies=True)
    out = [(readings_subject(m.facility, PARTITIONS), encode_wire(m)) for m in sim.manifests()]
    out += [(readings_subject(f.facility, PARTITIONS), encode_wire(f))
            for f in sim.frames(0, STEPS, 1)]
    return out


async def _publish(url: str, batch: list[tuple[str, bytes]], subjects=None) -> dict[int, int]:
    """Publish in order; the last stream sequence of each partition (and of each
    subject in `subjects`, if given)."""
    nc = await connect(url)
    js = nc.jetstream()
    last: dict[int, int] = {}
    for subject, payload in batch:
        ack = await js.publish(subject, payload)
        last[int(subject.split(".")[1])] = ack.seq
        if subjects is not None:
            subjects[subject] = ack.seq
    await nc.close()
    return last


async def _acked(url: str, last: dict[int, int], pinned: dict[str, int]) -> bool:
    """Every partition's consumer, and every pinned facility's, acknowledged up to the
    last message published to it."""
    nc = await connect(url)
    js = nc.jetstream()
    durables = {f"shard-p{p}": seq for p, seq in last.items()}
    durables |= {Lane(int(subject.split(".")[1]), subject.split(".", 2)[2]).durable: seq
                 for subject, seq in pinned.items()}
    try:
        for durable, seq in durables.items():
            try:
                info = await js.consumer_info(READINGS, durable)
            except Exception:  # being made afresh by a resuming host
                return False
            if info.ack_floor.stream_seq < seq:
                return False
        return True
    finally:
        await nc.close()


def _caught_up(system: System, last: dict[int, int], pinned: dict[str, int] | None = None) -> None:
    """Every reading acknowledged (so in the ledger) and the projections at the
    ledger's end, polled with a generous deadline (the machine may be busy)."""
    deadline = time.monotonic() + DEADLINE_S
    state = None
    while time.monotonic() < deadline:
        try:
            if asyncio.run(_acked(system.nats_url, last, pinned or {})):
                size = ray.get(system.ledger.size.remote(), timeout=30)
                projected = ray.get(system.projections.checkpoint.remote(), timeout=30)
                state = (size, projected)
                if size > 0 and projected == size:
                    return
        except (ray.exceptions.RayError, TimeoutError) as exc:  # an actor still restarting
            state = repr(exc)
        time.sleep(0.5)
    pytest.fail(f"not caught up after {DEADLINE_S} s: {state}")


async def _ledger_and_replay(url: str):
    """(the ledger's events, an uninterrupted derivation's events of the same READINGS)."""
    nc = await connect(url)
    try:
        js = nc.jetstream()
        ledger = [record.event async for _, record in ledger_records(js)]
        derivation = Derivation(FacilityConfig())
        replayed = []
        async for m in messages(js, "readings.>"):
            replayed += derivation.derive(m.subject, m.seq, m.arrived, m.data).envelopes
    finally:
        await nc.close()
    return ledger, replayed


def _assert_each_event_once(system: System, data) -> list:
    """The ledger holds exactly the events (id and canonical body) of an uninterrupted
    derivation of READINGS, each once, in each facility's order; `audit replay`
    agrees, the projections hold each record once, and the ledger verifies."""
    ledger, replayed = asyncio.run(_ledger_and_replay(system.nats_url))
    ids = [e.id for e in ledger]
    assert len(ids) == len(set(ids)), "an event is doubled in the ledger"
    assert {e.type for e in ledger} >= {"alert.raised"}  # the anomalies were seen
    assert ({(e.id, _canonical.encode(e)) for e in ledger}
            == {(e.id, _canonical.encode(e)) for e in replayed})
    compared, differences = asyncio.run(
        replay_differences(system.nats_url, FacilityConfig()))
    assert (compared, differences) == (len(ledger), [])
    by_facility = defaultdict(list)
    for e in ledger:
        by_facility[e.facility].append(e.causation.seq)
    assert all(seqs == sorted(seqs) for seqs in by_facility.values())
    assert _projected_ids(system, len(ledger)) == ids  # each once, in ledger order
    assert main(["verify", "--data-dir", str(data)]) == 0
    return ledger


def _projected_ids(system: System, size: int) -> list[str]:
    rows = []
    for lo in range(1, size + 1, MAX_LIMIT):
        hi = min(size, lo + MAX_LIMIT - 1)
        rows += ray.get(system.projections.query.remote("ledger_events", from_seq=lo,
                                                        to_seq=hi))
    return [r["event_id"] for r in rows]


def _victim(system: System, which: str):
    return {"shard": lambda: system.shards[0], "ledger": lambda: system.ledger,
            "projections": lambda: system.projections}[which]()


@pytest.mark.parametrize("which", ["shard", "ledger", "projections"])
def test_a_killed_actor_resumes_and_the_ledger_holds_each_event_once(
        ray_session, nats_server, tmp_path, which):
    data = tmp_path / "plumeline"
    settings = Settings(data_dir=data, nats_url=nats_server.url, partitions=PARTITIONS,
                        shards=2)
    system = System(settings).start(http=False)
    try:
        workload = _workload()
        half = len(workload) // 2
        last = asyncio.run(_publish(system.nats_url, workload[:half]))
        victim = _victim(system, which)
        pid = ray.get(victim.pid.remote())
        deadline = time.monotonic() + DEADLINE_S
        while ray.get(system.ledger.size.remote()) == 0:  # let it get going
            assert time.monotonic() < deadline, "nothing reached the ledger"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)  # mid-stream: the first half is being processed
        last |= asyncio.run(_publish(system.nats_url, workload[half:]))
        _caught_up(system, last)
        assert ray.get(victim.pid.remote()) != pid  # Ray restarted it, and it resumed

        _assert_each_event_once(system, data)
    finally:
        system.stop()


def _wait_for(what: str, ok, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not (found := ok()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)
    return found


def test_a_host_killed_with_snapshots_present_resumes_from_them(ray_session, nats_server,
                                                                 tmp_path):
    """Snapshots every 25 messages and a facility pinned to a host of its own: the shared
    host is killed once it has snapshots, restores them, and re-derives only what came
    after; the pinned facility is derived by its host alone."""
    data = tmp_path / "plumeline"
    workload = _workload()
    pinned = workload[0][0].split(".", 2)[2]
    settings = Settings(data_dir=data, nats_url=nats_server.url, partitions=PARTITIONS,
                        shards=1, pin=(pinned,), snapshot_every=25)
    system = System(settings).start(http=False)
    try:
        shared, own = system.shards
        half = len(workload) // 2
        subjects: dict[str, int] = {}
        last = asyncio.run(_publish(system.nats_url, workload[:half], subjects))
        _wait_for("a snapshot", lambda: ray.get(shared.stats.remote())["snapshots"] >= 2)
        pid = ray.get(shared.pid.remote())
        os.kill(pid, signal.SIGKILL)
        last |= asyncio.run(_publish(system.nats_url, workload[half:], subjects))
        pinned_subjects = {s: seq for s, seq in subjects.items() if s.endswith("." + pinned)}
        _caught_up(system, last, pinned_subjects)
        assert ray.get(shared.pid.remote()) != pid

        restored = ray.get(shared.stats.remote())["restored"]
        assert any(r["snapshot_seq"] > 0 for r in restored.values()), restored
        ledger = _assert_each_event_once(system, data)
        stats = ray.get(own.stats.remote())
        assert stats["facilities"] == 1 and stats["snapshots"] >= 1
        assert ray.get(shared.stats.remote())["facilities"] == 3  # all but the pinned one
        assert {e.facility for e in ledger} >= {pinned}
    finally:
        system.stop()


def test_nats_server_restarted_mid_stream(ray_session, nats_server, tmp_path):
    """nats-server stops and starts again on the same port and store: every client
    reconnects, the lanes rebuild, and the ledger holds each event once."""
    data = tmp_path / "plumeline"
    settings = Settings(data_dir=data, nats_url=nats_server.url, partitions=PARTITIONS,
                        shards=2, snapshot_every=50)
    system = System(settings).start(http=False)
    try:
        workload = _workload()
        half = len(workload) // 2
        last = asyncio.run(_publish(system.nats_url, workload[:half]))
        _wait_for("events in the ledger", lambda: ray.get(system.ledger.size.remote()) > 0)
        nats_server.stop()
        time.sleep(1.0)
        nats_server.start()
        last |= asyncio.run(_publish(system.nats_url, workload[half:]))
        _caught_up(system, last)
        _assert_each_event_once(system, data)
    finally:
        system.stop()
