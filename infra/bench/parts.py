"""Benchmarks of single parts, each in this process: the ledger, the verifier, proofs,
the projections, and the logical actors' memory. Figures, never assertions."""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from plumeline.actors import Derivation, FacilityConfig, LedgerWriter
from plumeline.events import (
    AlertRaised,
    Causation,
    Envelope,
    Ledger,
    MerkleTree,
    SigningKey,
    decode_envelopes,
    encode_envelopes,
    encode_wire,
    readings_subject,
    write_bundle,
)
from plumeline.infra.runtime.nats import NatsServer, connect, ensure_streams
from plumeline.projections import Projector, open_store
from plumeline.projections.queries import alerts as alerts_query
from plumeline.projections.readings import ReadingsProjector, latest_readings, sensor_history
from plumeline.simulator import Simulation

__all__ = ["ledger_figures", "memory_figures", "projection_figures", "percentiles"]

T0 = 1_767_225_600_000


def percentiles(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def _envelopes(n: int, start: int = 0) -> list[Envelope]:
    return [
        Envelope.wrap(
            AlertRaised(facility=f"ccs-{i % 100:02d}", alert_id=f"{i:020d}", sensor="solvent_temp",
                        kind="deviation", severity="minor", value=50.0 + i % 7, baseline=40.0,
                        score=9.5, model="robust-baseline", message="solvent temperature high"),
            time=T0 + i, causation=Causation("readings", i + 1, 0),
        )
        for i in range(start, start + n)
    ]


APPEND_CALLERS = 4  # as shard hosts append: several partitions' batches at once
# as an anomaly across a fleet appends: every lane a few events at the same moment
BURST_CALLERS, BURST_EVENTS = 16, 3


async def _appended(url: str, key: Path, per_caller: list[list[bytes]],
                    size: int) -> tuple[float, list[float]]:
    """A fresh ledger writer on `url`; each caller appends its encoded batches in turn,
    all callers at once. The seconds it took, each append's latency; the ledger must
    then hold `size` records."""
    nc = await connect(url)
    await ensure_streams(nc.jetstream())
    await nc.close()
    writer = LedgerWriter(url, str(key), head_interval_s=3600)
    await writer.start()
    latencies: list[float] = []

    async def caller(mine: list[bytes]) -> None:
        for payload in mine:
            started = time.perf_counter()
            await writer.append(payload)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller(mine) for mine in per_caller))
    elapsed = time.perf_counter() - started
    await writer.stop()
    assert writer.size() == size
    return elapsed, latencies


_VERIFY = ("import sys, time; from plumeline.events import verify_bundle; "
           "t = time.perf_counter(); r = verify_bundle(sys.argv[1]); "
           "t = time.perf_counter() - t; assert r.ok, r.problem; print(t)")


def verify_seconds(path: Path) -> float:
    """verify_bundle of the file at `path`, timed as `plumeline verify` runs it: in a
    process of one thread, whose workers are forked and read their chunks from the
    file. In this process (Ray's and BLAS's threads) they would come from a fork
    server and be sent every chunk."""
    out = subprocess.run([sys.executable, "-c", _VERIFY, str(path)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout)


def ledger_figures(appends: int, proof_tree: int, tmp: Path) -> dict:
    # only the encoded batches are kept, as a shard host hands them over: hundreds of
    # thousands of live event objects would make every garbage collection of the
    # writer's process walk them, which the writer's own process never has to
    batches = [encode_envelopes(_envelopes(min(1000, appends - i), i))
               for i in range(0, appends, 1000)]

    async def append_all(url: str, callers: int) -> float:
        """Batches of 1,000 events from `callers` callers at once, each awaiting its
        append before the next: one caller waits out every ack, more let the writer
        seal and send a batch while the server stores the one before."""
        elapsed, _ = await _appended(url, tmp / "bench.key",
                                     [batches[k::callers] for k in range(callers)], appends)
        return elapsed

    async def burst(url: str) -> tuple[float, list[float]]:
        """BURST_CALLERS callers appending BURST_EVENTS events each, again and again:
        the appends/s and each append's latency, which group commit decides."""
        rounds = max(1, appends // 20 // (BURST_CALLERS * BURST_EVENTS))
        payloads = [[encode_envelopes(_envelopes(BURST_EVENTS, (r * BURST_CALLERS + k)
                                                 * BURST_EVENTS))
                     for r in range(rounds)] for k in range(BURST_CALLERS)]
        elapsed, latencies = await _appended(url, tmp / "burst.key", payloads,
                                             rounds * BURST_CALLERS * BURST_EVENTS)
        return len(latencies) / elapsed, latencies

    append_s = {}
    for callers in (1, APPEND_CALLERS):
        with NatsServer(tmp / f"ledger-nats-{callers}") as server:
            append_s[callers] = asyncio.run(append_all(server.url, callers))
    with NatsServer(tmp / "ledger-nats-burst") as server:
        burst_rate, burst_latencies = asyncio.run(burst(server.url))

    ledger = Ledger()
    sealed = ledger.seal([e for payload in batches for e in decode_envelopes(payload)])
    key = SigningKey.generate()
    with open(tmp / "bench.bundle", "wb") as bundle:
        write_bundle(bundle, key.public_key_hex, [r.data for r in sealed],
                     [key.sign_head(ledger.size, ledger.tree.root(), T0)])
    verify_s = verify_seconds(tmp / "bench.bundle")

    tree = MerkleTree()
    rng = random.Random(1)
    for i in range(proof_tree):
        tree.append(i.to_bytes(32, "big"))
    samples = []
    for _ in range(2000):
        index = rng.randrange(proof_tree)
        started = time.perf_counter()
        tree.inclusion_proof(index, proof_tree)
        samples.append(time.perf_counter() - started)
    return {
        "appends": appends,
        "appends_per_s": appends / append_s[APPEND_CALLERS],
        "append_callers": APPEND_CALLERS,
        "appends_per_s_one_caller": appends / append_s[1],
        "burst": {"callers": BURST_CALLERS, "events_each": BURST_EVENTS,
                  "appends": len(burst_latencies), "appends_per_s": burst_rate,
                  "latency": percentiles(burst_latencies)},
        "verify_events_per_s": appends / verify_s,
        "proof_tree_size": proof_tree,
        "inclusion_proof": percentiles(samples),
    }


def projection_figures(events: int, readings: int, tmp: Path) -> dict:
    ledger = Ledger()
    sealed = ledger.seal(_envelopes(events))
    records = [(r.seq, r.data) for r in sealed]
    with open_store(path=str(tmp / "bench-chdb")) as store:
        projector = Projector(store)
        projector.rebuild()
        started = time.perf_counter()
        for i in range(0, len(records), 2000):
            projector.apply(records[i:i + 2000])
        rebuild_s = time.perf_counter() - started

        sim = Simulation(seed=3, facilities=100, sensors_per_facility=100, rate_hz=1.0,
                         start_ms=T0, anomalies=False)
        frames = ReadingsProjector(store)
        frames.reset()
        from plumeline.events import encode_wire

        steps = max(1, readings // 10_000)
        seq, stored, started = 0, 0, time.perf_counter()
        for lo in range(0, steps, 10):
            batch = [(seq + i + 1, encode_wire(f))
                     for i, f in enumerate(sim.frames(lo, min(lo + 10, steps), 10))]
            seq += len(batch)
            frames.apply(batch)
            stored += 10_000 * (min(lo + 10, steps) - lo)
        insert_s = time.perf_counter() - started

        queries = {
            "alerts": lambda: alerts_query(store, state="active", limit=100),
            "latest_readings": lambda: latest_readings(store, sim.facilities[7]),
            "sensor_history_1m": lambda: sensor_history(
                store, sim.facilities[7], sim.sensor_ids[700], T0, T0 + steps * 1000, "1m"),
        }
        latency = {}
        for name, query in queries.items():
            samples = []
            for _ in range(50):
                started = time.perf_counter()
                query()
                samples.append(time.perf_counter() - started)
            latency[name] = percentiles(samples)
    return {
        "rebuild_events": events,
        "rebuild_events_per_s": events / rebuild_s,
        "readings_stored": stored,
        "readings_insert_per_s": stored / insert_s,
        "queries": latency,
    }


def memory_figures(sensors: int) -> dict:
    """Memory and time to bring up `sensors` logical sensor actors (100 per facility),
    as a shard host does on the facilities' manifests; the memory is what the host
    holds once each sensor has read twice (its detector's state in the objects and in
    the columns `Derivation.derive_batch` judges quiet frames in)."""
    facilities = max(1, sensors // 100)
    sim = Simulation(seed=1, facilities=facilities, sensors_per_facility=sensors // facilities,
                     rate_hz=1.0, start_ms=T0, anomalies=False)
    manifests = [(readings_subject(m.facility, 1), T0, encode_wire(m)) for m in sim.manifests()]
    frames = [(readings_subject(f.facility, 1), max(f.times), encode_wire(f))
              for f in sim.frames(0, 2, 1)]

    def bring_up(messages) -> Derivation:
        hosted = Derivation(FacilityConfig())
        hosted.derive_batch([(s, i, at, data) for i, (s, at, data) in enumerate(messages, 1)])
        return hosted

    gc.collect()
    started = time.perf_counter()
    hosted = bring_up(manifests)
    bring_up_s = time.perf_counter() - started
    count = sum(len(a.sensors) for a in hosted.facilities.values())
    del hosted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    hosted = bring_up(manifests + frames)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del hosted
    return {
        "sensors": count,
        "bytes_per_sensor_actor": used / count,
        "bring_up_s": bring_up_s,
        "note": "logical actors as a shard host holds them after two readings each, "
                "columns included; memory by tracemalloc",
    }
