"""`plumeline up`: the whole system, a simulator feeding it, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from urllib.parse import urlsplit

import structlog

from plumeline.infra.runtime import history
from plumeline.infra.runtime.nats import connect
from plumeline.infra.runtime.nats_auth import outside_credentials
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System, check_shards
from plumeline.simulator import Simulation, write_ground_truth

__all__ = ["run_up"]

log = structlog.get_logger("plumeline.up")


def run_up(args) -> int:
    settings = Settings.from_env(
        data_dir=args.data_dir, host=args.host, port=args.port, facilities=args.facilities,
        sensors_per_facility=args.sensors_per_facility, rate_hz=args.rate, seed=args.seed,
        simulator=not args.no_simulator, nats_url=args.nats, clickhouse_url=args.clickhouse,
        history_h=args.history, shards=args.shards, mqtt_port=args.mqtt_port, pin=args.pin,
        snapshot_every=args.snapshot_every, snapshot_every_s=args.snapshot_every_s,
        api_replicas=args.api_replicas, closed_reads=args.closed_reads,
        max_body=args.max_body, nats_replicas=args.replicas, ray_address=args.ray_address,
        allow_private_webhooks=args.allow_private_webhooks, rate_limits=args.rate_limits,
    )
    check_shards(settings)
    if settings.nats_url and not urlsplit(settings.nats_url.split(",")[0]).username \
            and not outside_credentials(settings.nats_url, settings.data_dir):
        print(f"WARNING: {settings.nats_url} is used without credentials: anyone who can "
              "reach it can append to the ledger, send commands and read webhook secrets. "
              "Pass nats://USER:PASSWORD@HOST:PORT (docs/security.md).",
              file=sys.stderr, flush=True)
        log.warning("nats_without_credentials", nats=settings.nats_url)
    history.check_history(settings)
    system = System(settings)
    try:
        try:
            system.start()
        except KeyboardInterrupt:  # Ctrl-C while starting is a stop like any other
            print("\nstopping… (interrupted while starting)", flush=True)
            return 0
        print(f"Plumeline is up: {system.http_url}  (alerts at {system.http_url}/alerts)",
              flush=True)
        if system.mqtt_url:
            print(f"MQTT for devices: {system.mqtt_url}  (topic readings/<partition>/<facility>)",
                  flush=True)
        asyncio.run(_feed(system))
        system.drain()
    finally:
        system.stop()
    return 0


async def _feed(system: System) -> None:
    s = system.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = None
    if s.simulator:
        nc = await connect(system.url_for("simulator"), name="simulator")
        sim, replaying = await history.simulation(nc.jetstream(), s)
    tasks = [asyncio.create_task(_progress(system, stop, sim))]
    if sim is not None:
        tasks.append(asyncio.create_task(history.feed(nc.jetstream(), sim, s, replaying, stop)))
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if sim is not None:
        _write_truth(system, sim)
    print("\nstopping…", flush=True)


async def _progress(system: System, stop: asyncio.Event, sim, every: float = 10.0) -> None:
    """Log throughput, and keep the ground truth file up to the anomalies injected so far."""
    last, last_t = 0, time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(every)
        if sim is not None:
            _write_truth(system, sim)
        stats = await asyncio.to_thread(system.stats)
        now = time.monotonic()
        rate = (stats["readings"] - last) / (now - last_t)
        last, last_t = stats["readings"], now
        log.info("progress", readings_per_s=round(rate, 1), **stats)


def _write_truth(system: System, sim: Simulation) -> None:
    """The anomalies injected so far: what an evaluation compares the alerts with."""
    step = sim.step_of(int(time.time() * 1000)) + 1
    write_ground_truth(system.settings.data_dir / "ground_truth.jsonl",
                       sim.ground_truth_until(step))
