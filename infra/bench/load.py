"""Benchmarks of the running system: the raw pipe, the whole loop at several fleet
sizes, reading-to-alert latency under an offered load, and the HTTP API under
concurrent clients. Each run gets its own nats-server and system, torn down after."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nats.js import api

from plumeline.actors import read_stream
from plumeline.events import decode_record, decode_wire, encode_wire, readings_subject
from plumeline.infra.bench.parts import percentiles
from plumeline.infra.runtime.nats import (
    LEDGER,
    READINGS,
    NatsServer,
    connect,
    ensure_streams,
    free_port,
)
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System
from plumeline.simulator import Simulation

__all__ = ["api_figures", "latency_figures", "raw_pipe", "whole_loop", "workload"]

T0 = 1_767_225_600_000
PARTITIONS = 16


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def workload(sensors: int, readings: int, *, seed: int = 1, anomalies: bool = True):
    """Encoded manifests and frames (~250 readings each) of a fleet of 100-sensor plants."""
    per_facility = min(100, sensors)
    sim = Simulation(seed=seed, facilities=max(1, sensors // per_facility),
                     sensors_per_facility=per_facility, rate_hz=1.0, start_ms=T0,
                     anomalies=anomalies)
    steps = max(1, readings // sensors)
    manifests = [(readings_subject(m.facility, PARTITIONS), encode_wire(m), 0)
                 for m in sim.manifests()]
    frames = [(readings_subject(f.facility, PARTITIONS), encode_wire(f), f.count)
              for f in sim.packed_frames(0, steps, sim.steps_for_frames_of(250))]
    return manifests, frames


async def _publish(js, messages, in_flight: int = 1000) -> None:
    pending = []
    for subject, payload, _ in messages:
        pending.append(js.publish(subject, payload))
        if len(pending) >= in_flight:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


async def _feed(url: str, manifests, frames) -> None:
    """Everything at once, as fast as JetStream acknowledges: manifests, then frames."""
    nc = await connect(url, name="bench-feed")
    js = nc.jetstream()
    await _publish(js, manifests)
    await _publish(js, frames)
    await nc.close()


async def _declare(url: str) -> None:
    nc = await connect(url, name="bench")
    await ensure_streams(nc.jetstream())
    await nc.close()


async def _raw(url: str, frames) -> dict:
    nc = await connect(url, name="bench-raw")
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="BENCH", subjects=["bench.>"]))
    renamed = [("bench." + s, p, n) for s, p, n in frames]
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
                readings += decode_wire(m.data).count
            got += len(msgs)
            await msgs[-1].ack()

    started = time.perf_counter()
    consumer = asyncio.create_task(consume())
    await _publish(js, renamed)
    await consumer
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH")
    await nc.close()
    return {"readings": readings, "seconds": elapsed, "readings_per_s": readings / elapsed}


@contextmanager
def _fresh(tmp: Path, name: str) -> Iterator[Path]:
    """A directory of its own for one run, removed after it. The curve runs the loop
    at three fleet sizes in one process, each with as many frames (2,000,000 readings
    in frames of ~200-250): named by the number of frames, the second and third
    system started on the first's NATS store and data dir, and so resumed its ledger,
    snapshots and READINGS (docs/benchmarks.md, "The curve's later points resumed the
    earlier ones")."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def raw_pipe(tmp: Path, frames) -> dict:
    """The ceiling: the same frames published to JetStream and fetched by a consumer
    that only decodes them."""
    with _fresh(tmp, "raw") as run, NatsServer(run / "nats") as server:
        return asyncio.run(_raw(server.url, frames))


def _settle(system: System, readings: int, last_seq: int, started: float) -> dict:
    last_report = 0.0
    while True:
        stats = system.stats()
        done = stats["readings"] + stats["rejected"] >= readings
        stored = stats["readings_projected"] >= last_seq
        if done and stored and stats["projected"] >= stats["ledger_size"]:
            return stats
        now = time.perf_counter() - started
        if now - last_report >= 5:
            say(f"    … {stats['readings']:,}/{readings:,} readings, ledger "
                f"{stats['ledger_size']:,}, projected {stats['projected']:,}")
            last_report = now
        time.sleep(0.05)


def _quiet(system: System, still_s: float = 1.0) -> None:
    """Return once the ledger has stopped growing for `still_s` and is all projected."""
    last, since = -1, time.perf_counter()
    while True:
        stats = system.stats()
        if stats["ledger_size"] != last:
            last, since = stats["ledger_size"], time.perf_counter()
        elif stats["projected"] >= last and time.perf_counter() - since >= still_s:
            return
        time.sleep(0.05)


def whole_loop(tmp: Path, manifests, frames, *, shards: int = 2) -> dict:
    """Readings/s fully processed: acknowledged, in the ledger, and projected (events
    and raw readings) — from the first frame published to the last row stored.

    The fleet is registered first, and timed on its own: a sensor's registration (its
    SensorRegistered through the ledger and the projections, its actor made) is paid
    once per sensor, not per reading. Timed together, a short run of a large fleet
    measured mostly registrations (100,000 sensors, 20 readings each)."""
    readings = sum(n for *_, n in frames)
    with _fresh(tmp, "loop") as run, NatsServer(run / "nats") as server:
        asyncio.run(_declare(server.url))
        settings = Settings(data_dir=run / "system", nats_url=server.url,
                            partitions=PARTITIONS, shards=shards)
        system = System(settings).start(http=False)
        try:
            started = time.perf_counter()
            asyncio.run(_feed(server.url, manifests, []))
            _quiet(system)
            registered_s = time.perf_counter() - started
            registered = system.stats()["ledger_size"]
            started = time.perf_counter()
            asyncio.run(_feed(server.url, [], frames))
            stats = _settle(system, readings, len(manifests) + len(frames), started)
            elapsed = time.perf_counter() - started
        finally:
            system.stop()
    return {"readings": readings, "seconds": elapsed, "readings_per_s": readings / elapsed,
            "ledger_events": stats["ledger_size"] - registered, "shards": shards,
            "registration": {"sensors": sum(len(_manifest_sensors(m)) for m in manifests),
                             "events": registered, "seconds": registered_s}}


def _manifest_sensors(message) -> list:
    return decode_wire(message[1]).sensors


def latency_figures(tmp: Path, sensors: int, rate: float, seconds: float) -> dict:
    """Offer `rate` readings/s for `seconds`, paced, with anomalies; for every
    AlertRaised, the time from its reading's arrival in READINGS to (a) its record in
    LEDGER (both JetStream timestamps, one clock), (b) its row in the table GET /alerts
    reads, and (c) the projection's checkpoint covering it, one insert (the `ledger`
    table's) after (b).

    The fleet is registered first and the feed starts once the projections hold the
    registrations: the figure is a running system's, not the transient of 10,000
    SensorRegistered events going through, which the simulator's first anomaly (45
    simulated seconds, 4.5 s into the feed) would otherwise meet or miss by chance."""
    manifests, frames = workload(sensors, int(rate * seconds), seed=5)
    with NatsServer(tmp / "latency-nats") as server:
        asyncio.run(_declare(server.url))
        settings = Settings(data_dir=tmp / "latency", nats_url=server.url,
                            partitions=PARTITIONS, shards=2)
        system = System(settings).start(http=False)
        seen: list[tuple[float, int, int]] = []
        stop = threading.Event()

        def watch():  # when did the views, and the checkpoint, cover which position
            import ray

            runner = system.projections
            while not stop.is_set():
                at = time.time()
                seen.append((at, *ray.get([runner.visible.remote(), runner.checkpoint.remote()])))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        try:
            async def register():
                nc = await connect(server.url, name="bench-feed")
                await _publish(nc.jetstream(), manifests)
                await nc.close()

            async def feed():
                nc = await connect(server.url, name="bench-feed")
                js = nc.jetstream()
                started = time.perf_counter()
                sent = 0
                pending = []
                for subject, payload, n in frames:
                    pending.append(js.publish(subject, payload))
                    sent += n
                    ahead = sent / rate - (time.perf_counter() - started)
                    if ahead > 0.005:
                        await asyncio.gather(*pending)
                        pending = []
                        await asyncio.sleep(ahead)
                await asyncio.gather(*pending)
                await nc.close()

            asyncio.run(register())
            _quiet(system)
            watcher.start()
            started = time.perf_counter()
            asyncio.run(feed())
            offered = sum(n for *_, n in frames) / (time.perf_counter() - started)
            _settle(system, sum(n for *_, n in frames), len(manifests) + len(frames), started)
            stop.set()
            watcher.join()
            latencies = asyncio.run(_alert_latencies(server.url, seen))
        finally:
            stop.set()
            system.stop()
    return {"offered_readings_per_s": offered, "alerts": len(latencies["reading_to_ledger"]),
            **{name: percentiles(xs) if len(xs) > 1 else None
               for name, xs in latencies.items()}}


async def _alert_latencies(url: str, seen: list[tuple[float, int, int]]) -> dict:
    nc = await connect(url, name="bench-latency")
    js = nc.jetstream()
    last = (await js.stream_info(LEDGER)).state.last_seq
    out = {"reading_to_ledger": [], "reading_to_api": [], "reading_to_checkpoint": []}
    async for m in read_stream(js, LEDGER, "ledger.records", 1, last):
        record = decode_record(m.data)
        if record.event.type != "alert.raised":
            continue
        cause = await js.get_msg(READINGS, record.event.causation.seq)
        arrived = cause.time.timestamp()
        out["reading_to_ledger"].append(m.metadata.timestamp.timestamp() - arrived)
        for name, column in (("reading_to_api", 1), ("reading_to_checkpoint", 2)):
            at = next((s[0] for s in seen if s[column] >= record.seq), None)
            if at is not None:
                out[name].append(at - arrived)
    await nc.close()
    return out


def api_figures(tmp: Path, clients: int, seconds: float, stream_clients: int = 1000,
                stream_rate: float = 20.0, paced_rate: float = 2000.0) -> dict:
    """GET /alerts and a facility's metrics from `clients` concurrent clients in a
    separate process, against a system holding a few minutes of a small fleet: closed
    loop (each client asks again as soon as it has its answer: the most the API
    serves), then open loop at `paced_rate` requests a second between them (what that
    many dashboards polling see), and the same open loop on the ingress's own
    `/-/routes`, which no replica answers: the floor this machine and client allow.
    Then `stream_clients` listeners held on /stream for `seconds` while `stream_rate`
    ledger events a second flow to them."""
    manifests, frames = workload(1000, 300_000, seed=9)
    with NatsServer(tmp / "api-nats") as server:
        asyncio.run(_declare(server.url))
        settings = Settings(data_dir=tmp / "api", nats_url=server.url, partitions=PARTITIONS,
                            shards=1, port=free_port())
        system = System(settings).start(http=True)
        try:
            started = time.perf_counter()
            asyncio.run(_feed(server.url, manifests, frames))
            _settle(system, sum(n for *_, n in frames), len(manifests) + len(frames), started)
            facility = decode_wire(manifests[0][1]).facility
            paths = ["/alerts", f"/facilities/{facility}/metrics?resolution=minute"
                     f"&from={T0}&to={T0 + 3_600_000}"]
            if shutil.which("wrk"):
                figures = {p: _wrk(system.http_url + p, clients, seconds) for p in paths}
                client = "wrk"
            else:
                out = subprocess.run(
                    [sys.executable, "-m", "plumeline.infra.bench.api", system.http_url, str(clients),
                     str(seconds), *paths],
                    capture_output=True, text=True, timeout=seconds * 4 + 120, check=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                client = "httpx (install wrk for a client that is not itself the limit)"
            paced = {"offered_per_s": paced_rate, "clients": clients, **{
                p: _paced(system.http_url, clients, paced_rate, seconds, p)
                for p in [*paths, "/-/routes"]}}
            out = subprocess.run(
                [sys.executable, "-m", "plumeline.infra.bench.api", "stream", system.http_url, server.url,
                 str(PARTITIONS), facility, str(stream_clients), str(seconds), str(stream_rate)],
                capture_output=True, text=True, timeout=seconds * 4 + 300, check=True,
            )
            stream = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            system.stop()
    return {"clients": clients, "client": client, **figures, "paced": paced, "stream": stream}


def _paced(url: str, clients: int, rate: float, seconds: float, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "plumeline.infra.bench.api", "paced", url, str(clients), str(rate),
         str(seconds), path],
        capture_output=True, text=True, timeout=seconds * 4 + 120, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wrk(url: str, clients: int, seconds: float) -> dict:
    """wrk (C, two threads) as the load: a Python client saturates first on 2 cores.
    A request wrk gives up on is left out of its percentiles, and it gives up after 2 s
    by default: 10 s, so that a stall shows in the p99 instead of in the errors."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
         "--latency", url],
        capture_output=True, text=True, timeout=seconds * 4 + 60, check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m[2]]

    requests = int(re.search(r"(\d+) requests in", out)[1])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50_ms": ms("50%"), "p99_ms": ms("99%"), "requests": requests,
        "errors": (int(bad[1]) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
    }
