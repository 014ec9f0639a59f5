"""`plumeline bench --soak DURATION`: hours, not minutes.

A fleet (10,000 sensors by default) at 1 Hz in real time through the whole loop, on its
own nats-server and system. Once a minute: every process's resident memory (the
nats-server, each Ray actor by its process title, this driver) and every durable
consumer's lag (messages not yet acknowledged, per stream and consumer). The figures
that answer "does it leak" are the growth rates over the samples after the warm-up,
the longest window any actor keeps (an hour of event time, or a third of a shorter
run): a process that only warms up is flat there, one that leaks is not.

Memory is read from /proc (VmRSS), so the soak runs on Linux.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from plumeline.infra.bench.load import PARTITIONS, say
from plumeline.infra.runtime.data_dir import descendants
from plumeline.infra.runtime.nats import NatsServer, connect, ensure_streams
from plumeline.infra.runtime.settings import Settings
from plumeline.infra.runtime.system import System
from plumeline.simulator import Simulation, publish

__all__ = ["growth_per_hour", "process_memory", "soak"]

WARM_UP_S = 3600  # the longest window an actor keeps (the hourly emissions window)
STREAMS = ("READINGS", "LEDGER")


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # gone since it was listed
        return None
    return None


def process_memory(named: dict[str, int]) -> dict[str, float]:
    """Resident MB of the `named` pids and of every Ray process this one started, by
    its title (`ray::ShardHost`, `ray::LedgerWriter`, …; several of a kind get `#2`,
    `#3`). Other Ray instances on the machine are not this system's and are left out."""
    out = {name: mb for name, pid in named.items() if (mb := _rss_mb(pid)) is not None}
    seen: dict[str, int] = {}
    for pid in descendants(os.getpid()):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(
                errors="replace")
        except OSError:
            continue
        if not title.startswith("ray::") or title.startswith("ray::IDLE"):
            continue
        kind = title[5:].split(".")[0].split(" ")[0].split(":")[0]
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
        if (mb := _rss_mb(pid)) is not None:
            out[name] = mb
    return out


async def _lags(js) -> dict[str, int]:
    lags = {}
    for stream in STREAMS:
        for info in await js.consumers_info(stream):
            if info.config.durable_name:
                lags[f"{stream}/{info.config.durable_name}"] = (
                    info.num_pending + info.num_ack_pending)
    return lags


def growth_per_hour(samples: list[dict], key: str, after_s: float) -> dict[str, float]:
    """Least-squares slope, in units an hour, of each series of `key` over the samples
    taken at or after `after_s` (a series needs three such samples)."""
    slopes = {}
    names = {n for s in samples for n in s[key]}
    for name in sorted(names):
        points = [(s["t_s"], s[key][name]) for s in samples
                  if s["t_s"] >= after_s and name in s[key]]
        if len(points) < 3:
            continue
        n = len(points)
        mt = sum(t for t, _ in points) / n
        mv = sum(v for _, v in points) / n
        var = sum((t - mt) ** 2 for t, _ in points)
        if var > 0:
            slopes[name] = sum((t - mt) * (v - mv) for t, v in points) / var * 3600
    return slopes


async def _run(server: NatsServer, system: System, sim: Simulation, duration_s: float,
               sample_s: float) -> list[dict]:
    nc = await connect(server.url, name="bench-soak")
    js = nc.jetstream()
    stop = asyncio.Event()
    feed = asyncio.create_task(publish(js, sim, partitions=PARTITIONS, steps=None,
                                       realtime=True, stop=stop))
    samples: list[dict] = []
    started = time.monotonic()
    try:
        while True:
            t = time.monotonic() - started
            stats = await asyncio.to_thread(system.stats)
            sample = {"t_s": round(t, 1),
                      "rss_mb": process_memory({"nats-server": server.process.pid,
                                                "driver": os.getpid()}),
                      "lag": await _lags(js),
                      "readings": stats["readings"], "ledger": stats["ledger_size"]}
            samples.append(sample)
            say(f"    soak {t / 60:6.1f}/{duration_s / 60:.0f} min: "
                f"{stats['readings']:,} readings, ledger {stats['ledger_size']:,}, "
                f"max lag {max(sample['lag'].values(), default=0):,}, RSS "
                f"{sum(sample['rss_mb'].values()):,.0f} MB")
            if t >= duration_s or feed.done():
                break
            await asyncio.sleep(min(sample_s, max(0.0, duration_s - t)))
    finally:
        stop.set()
        await feed
        await nc.close()
    return samples


def soak(tmp: Path, duration_s: float, *, sensors: int = 10_000,
         sample_s: float = 60.0) -> dict:
    """Run the fleet for `duration_s` of wall time; the samples and growth rates."""
    per_facility = min(100, sensors)
    sim = Simulation(seed=7, facilities=max(1, sensors // per_facility),
                     sensors_per_facility=per_facility, rate_hz=1.0,
                     start_ms=int(time.time() * 1000))
    with NatsServer(tmp / "soak-nats") as server:
        async def declare():
            nc = await connect(server.url, name="bench-soak")
            await ensure_streams(nc.jetstream())
            await nc.close()

        asyncio.run(declare())
        settings = Settings(data_dir=tmp / "soak", nats_url=server.url,
                            partitions=PARTITIONS, shards=2)
        system = System(settings).start(http=False)
        try:
            samples = asyncio.run(_run(server, system, sim, duration_s, sample_s))
        finally:
            system.stop()
    warm_up = min(WARM_UP_S, duration_s / 3)
    rss = growth_per_hour(samples, "rss_mb", warm_up)
    first = {n: mb for s in samples if s["t_s"] >= warm_up for n, mb in s["rss_mb"].items()}
    return {
        "sensors": len(sim.sensor_ids), "duration_s": duration_s, "sample_s": sample_s,
        "warm_up_s": warm_up, "samples": samples,
        "rss_growth_mb_per_h": rss,
        # growth as a share of the process's size at the end of the warm-up, per hour
        "rss_growth_pct_per_h": {n: 100 * g / first[n] for n, g in rss.items()
                                 if first.get(n)},
        "max_lag": max((v for s in samples for v in s["lag"].values()), default=0),
        "lag_growth_per_h": growth_per_hour(samples, "lag", warm_up),
    }


def chart(result: dict, path: Path) -> None:
    """Resident memory of each process and the largest lag, over the soak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, (mem, lag) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for name in sorted({n for s in samples for n in s["rss_mb"]}):
        mem.plot(minutes, [s["rss_mb"].get(name) for s in samples], label=name)
    mem.axvline(result["warm_up_s"] / 60, color="grey", linestyle=":", label="warm-up ends")
    mem.set_ylabel("resident MB")
    mem.set_title(f"soak: {result['sensors']:,} sensors at 1 Hz")
    mem.legend(fontsize="small", ncol=2)
    lag.plot(minutes, [max(s["lag"].values(), default=0) for s in samples])
    lag.set_ylabel("largest consumer lag (messages)")
    lag.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
