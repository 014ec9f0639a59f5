"""`plumeline bench`: readings/s through the whole loop next to the raw JetStream pipe.

Both runs carry the same simulator frames, encoded before the clock starts, through
the same embedded nats-server in one process run, so the ratio between them says how
much of the machine's pipe Plumeline's processing leaves unused.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from nats.js import api

from events import decode_wire, encode_wire, readings_subject
from infra.nats import NatsServer, connect, ensure_streams
from infra.settings import Settings
from infra.system import System
from simulator import Simulation

__all__ = ["run_bench"]

T0 = 1_767_225_600_000
PARTITIONS = 16


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _workload(facilities: int, sensors: int, readings: int):
    sim = Simulation(seed=1, facilities=facilities, sensors_per_facility=sensors, rate_hz=1.0,
                     start_ms=T0)
    steps = max(1, readings // (facilities * sensors))
    per_frame = sim.steps_for_frames_of(250)
    manifests = [(readings_subject(m.facility, PARTITIONS), encode_wire(m))
                 for m in sim.manifests()]
    frames = [(readings_subject(f.facility, PARTITIONS), encode_wire(f), len(f.values))
              for f in sim.frames(0, steps, per_frame)]
    return manifests, frames


async def _publish(js, messages, in_flight: int = 1000) -> None:
    pending = []
    for subject, payload, *_ in messages:
        pending.append(js.publish(subject, payload))
        if len(pending) >= in_flight:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


async def _raw_pipe(url: str, frames) -> dict:
    """Publish the frames to a scratch stream while a consumer fetches and decodes them."""
    nc = await connect(url, name="bench-raw")
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="BENCH", subjects=["bench.>"]))
    renamed = [("bench." + s, p) for s, p, _ in frames]
    sub = await js.pull_subscribe("bench.>", durable="raw", stream="BENCH",
                                  config=api.ConsumerConfig(ack_policy=api.AckPolicy.ALL))
    readings = 0

    async def consume():
        nonlocal readings
        got = 0
        while got < len(renamed):
            try:
                msgs = await sub.fetch(1000, timeout=2.0)
            except TimeoutError:
                continue
            for m in msgs:
                readings += len(decode_wire(m.data).values)
            got += len(msgs)
            await msgs[-1].ack()

    started = time.perf_counter()
    consumer = asyncio.create_task(consume())
    await _publish(js, renamed)
    published = time.perf_counter() - started
    await consumer
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH")
    await nc.close()
    return {"readings": readings, "seconds": elapsed,
            "readings_per_s": readings / elapsed, "publish_readings_per_s": readings / published}


def _whole_loop(url: str, data_dir: Path, shards: int, manifests, frames) -> dict:
    readings = sum(n for *_, n in frames)
    system = System(Settings(data_dir=data_dir, nats_url=url, partitions=PARTITIONS,
                             shards=shards)).start(http=False)
    try:
        async def feed():
            nc = await connect(url, name="bench-feed")
            js = nc.jetstream()
            await _publish(js, manifests)
            await _publish(js, frames)
            await nc.close()

        started = time.perf_counter()
        asyncio.run(feed())
        last_seq = len(manifests) + len(frames)  # READINGS held nothing before
        published = time.perf_counter() - started
        last_report = 0.0
        while True:
            stats = system.stats()
            done = stats["readings"] + stats["rejected"] >= readings
            stored = stats["readings_projected"] >= last_seq
            if done and stored and stats["projected"] >= stats["ledger_size"]:
                break
            now = time.perf_counter() - started
            if now - last_report >= 5:
                _say(f"  … {stats['readings']:,}/{readings:,} readings, "
                     f"ledger {stats['ledger_size']:,}, projected {stats['projected']:,}")
                last_report = now
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        system.stop()
    return {"readings": readings, "seconds": elapsed, "readings_per_s": readings / elapsed,
            "publish_readings_per_s": readings / published, "ledger_events":
            stats["ledger_size"], "shards": shards}


def run_bench(args) -> int:
    facilities = args.facilities or (10 if args.quick else 100)
    sensors = args.sensors_per_facility or 100
    total = 200_000 if args.quick else 3_000_000
    _say(f"bench: {facilities} facilities x {sensors} sensors, {total:,} readings")
    manifests, frames = _workload(facilities, sensors, total)
    readings = sum(n for *_, n in frames)
    _say(f"  {len(frames):,} frames of ~{readings // max(1, len(frames))} readings encoded")
    with (
        tempfile.TemporaryDirectory(prefix="plumeline-bench-") as tmp,
        NatsServer(Path(tmp) / "nats") as server,
    ):
        async def declare():
            nc = await connect(server.url)
            await ensure_streams(nc.jetstream())
            await nc.close()

        asyncio.run(declare())
        _say("raw pipe: publish -> JetStream -> fetch + decode")
        raw = asyncio.run(_raw_pipe(server.url, frames))
        _say("whole loop: READINGS -> shard hosts -> ledger -> projections")
        loop = _whole_loop(server.url, Path(tmp) / "data", 2, manifests, frames)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "sensors": facilities * sensors,
        "readings": readings,
        "frame_readings": readings // max(1, len(frames)),
        "raw_pipe": raw,
        "whole_loop": loop,
        "ratio": loop["readings_per_s"] / raw["readings_per_s"],
    }
    print(f"\n{'':<34}{'readings/s':>14}{'seconds':>10}")
    print(f"{'raw pipe (publish -> fetch)':<34}{raw['readings_per_s']:>14,.0f}"
          f"{raw['seconds']:>10.2f}")
    print(f"{'whole loop (acked and projected)':<34}{loop['readings_per_s']:>14,.0f}"
          f"{loop['seconds']:>10.2f}")
    print(f"{'ratio whole loop / raw pipe':<34}{result['ratio']:>14.3f}")
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    return 0
