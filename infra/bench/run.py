"""`plumeline bench`: every figure next to its ceiling, measured in one run.

Sections: the raw JetStream pipe and the whole loop on the same frames (and the loop
at several fleet sizes), reading-to-alert latency under an offered load, the HTTP API
under concurrent clients, the ledger (appends, verification, proofs), the projections
(rebuild, dashboard queries), and the logical actors' memory. A table on stdout,
JSON with --json, and a PNG chart beside it.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from plumeline.infra.bench import fairness as bench_fairness
from plumeline.infra.bench import load as bench_load
from plumeline.infra.bench import parts as bench_parts
from plumeline.infra.runtime.errors import UserError
from plumeline.infra.runtime.ray_runtime import start_ray, stop_ray
from plumeline.infra.runtime.settings import Settings, parse_duration

__all__ = ["run_bench"]


@dataclass(frozen=True)
class Sizes:
    sensors: int
    readings: int
    curve: tuple[int, ...]
    curve_readings: int
    latency_rate: float
    latency_seconds: float
    appends: int
    proof_tree: int
    rebuild_events: int
    stored_readings: int
    api_clients: int
    api_seconds: float
    actors: int


QUICK = Sizes(1_000, 200_000, (), 0, 20_000, 5, 20_000, 100_000, 20_000, 200_000, 50, 3, 10_000)
FULL = Sizes(10_000, 6_000_000, (1_000, 10_000, 100_000), 2_000_000, 100_000, 30, 200_000,
             10_000_000, 200_000, 20_000_000, 200, 20, 100_000)


def run_bench(args) -> int:
    if getattr(args, "soak", None):
        return run_soak(args)
    sizes = QUICK if args.quick else FULL
    if args.sensors_per_facility or args.facilities:
        sizes = Sizes(**{**sizes.__dict__, "sensors": (args.facilities or 100) * (
            args.sensors_per_facility or 100)})
    say = bench_load.say
    result: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "command": "plumeline bench" + (" --quick" if args.quick else "")
                   + (" --fairness" if getattr(args, "fairness", False) else ""),
    }
    with tempfile.TemporaryDirectory(prefix="plumeline-bench-") as tmp_name:
        tmp = Path(tmp_name)
        say(f"[1/7] workload: {sizes.sensors:,} sensors, {sizes.readings:,} readings")
        manifests, frames = bench_load.workload(sizes.sensors, sizes.readings)
        # the sections that run a system share one Ray (seconds saved on each start),
        # and the ledger and projections are measured after it has stopped
        start_ray(Settings())
        try:
            say("[2/7] raw pipe and whole loop on the same frames")
            raw = bench_load.raw_pipe(tmp, frames)
            loop = bench_load.whole_loop(tmp, manifests, frames)
            del manifests, frames
            result["pipe"] = {"sensors": sizes.sensors, "raw": raw, "whole_loop": loop,
                              "ratio": loop["readings_per_s"] / raw["readings_per_s"]}
            curve = []
            for n in sizes.curve:
                say(f"    curve: {n:,} sensors")
                m, f = bench_load.workload(n, sizes.curve_readings)
                loop_n = bench_load.whole_loop(tmp, m, f)
                curve.append({"sensors": n,
                              "raw": bench_load.raw_pipe(tmp, f)["readings_per_s"],
                              "whole_loop": loop_n["readings_per_s"],
                              "registration_s": loop_n["registration"]["seconds"]})
            result["curve"] = curve
            say(f"[3/7] latency at {sizes.latency_rate:,.0f} readings/s offered")
            result["latency"] = bench_load.latency_figures(
                tmp, sizes.sensors, sizes.latency_rate, sizes.latency_seconds)
            say(f"[4/7] HTTP API, {sizes.api_clients} concurrent clients; "
                "1,000 /stream listeners")
            result["api"] = bench_load.api_figures(tmp, sizes.api_clients, sizes.api_seconds)
            if getattr(args, "fairness", False):
                say("    fairness: one identity bursting at 10x, the others' p99")
                result["fairness"] = bench_fairness.fairness_figures(tmp)
        finally:
            stop_ray()
        say("[5/7] ledger")
        result["ledger"] = bench_parts.ledger_figures(sizes.appends, sizes.proof_tree, tmp)
        say("[6/7] projections")
        result["projections"] = bench_parts.projection_figures(
            sizes.rebuild_events, sizes.stored_readings, tmp)
        say(f"[7/7] logical actors: {sizes.actors:,} sensors")
        result["actors"] = bench_parts.memory_figures(sizes.actors)
    print(table(result))
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
        chart(result, args.json.with_suffix(".png"))
    return 0


def table(r: dict) -> str:
    p, lat, led, proj, api, act = (r["pipe"], r["latency"], r["ledger"], r["projections"],
                                   r["api"], r["actors"])
    rows = [
        ("raw pipe (publish -> fetch), readings/s", f"{p['raw']['readings_per_s']:,.0f}",
         "ceiling"),
        ("whole loop (acked + projected), readings/s", f"{p['whole_loop']['readings_per_s']:,.0f}",
         f"{p['ratio']:.3f} of raw"),
    ]
    if reg := p["whole_loop"].get("registration"):
        rows.append(("  the fleet registered first, s", f"{reg['seconds']:.1f}",
                     f"{reg['sensors']:,} sensors, {reg['events']:,} events"))
    for c in r["curve"]:
        note = f"{c['whole_loop'] / c['raw']:.3f} of raw"
        if "registration_s" in c:
            note += f"; registered in {c['registration_s']:.1f} s"
        rows.append((f"  at {c['sensors']:,} sensors", f"{c['whole_loop']:,.0f}", note))
    for name in ("reading_to_ledger", "reading_to_api", "reading_to_checkpoint"):
        if lat.get(name):
            rows.append((f"{name.replace('_', ' ')} p50 / p99 ms",
                         f"{lat[name]['p50_ms']:.0f} / {lat[name]['p99_ms']:.0f}",
                         f"{lat['alerts']} alerts at {lat['offered_readings_per_s']:,.0f}/s"))
    rows += [
        ("ledger appends/s", f"{led['appends_per_s']:,.0f}",
         f"{led['appends']:,} events, {led['append_callers']} callers"),
        ("  from one caller", f"{led['appends_per_s_one_caller']:,.0f}", ""),
        ("  burst: appends/s, p50 / p99 ms",
         f"{led['burst']['appends_per_s']:,.0f}, {led['burst']['latency']['p50_ms']:.1f} / "
         f"{led['burst']['latency']['p99_ms']:.1f}",
         f"{led['burst']['callers']} callers of {led['burst']['events_each']} events"),
        ("verify events/s", f"{led['verify_events_per_s']:,.0f}", ""),
        ("inclusion proof p99 ms", f"{led['inclusion_proof']['p99_ms']:.3f}",
         f"tree of {led['proof_tree_size']:,}"),
        ("projection rebuild events/s", f"{proj['rebuild_events_per_s']:,.0f}", ""),
        ("raw readings stored/s", f"{proj['readings_insert_per_s']:,.0f}",
         f"{proj['readings_stored']:,} stored"),
    ]
    for name, q in proj["queries"].items():
        rows.append((f"  query {name} p99 ms", f"{q['p99_ms']:.1f}", ""))
    paced = api.get("paced", {})
    for path, a in api.items():
        if isinstance(a, dict) and path.startswith("/"):
            rows.append((f"GET {path} req/s, p99 ms",
                         f"{a['requests_per_s']:,.0f}, {a['p99_ms']:.0f}",
                         f"{api['clients']} clients ({api['client'].split()[0]}, closed loop), "
                         f"{a['errors']} errors"))
            if o := paced.get(path):
                rows.append((f"  at {paced['offered_per_s']:,.0f} req/s offered, p50 / p99 ms",
                             f"{o['p50_ms']:.0f} / {o['p99_ms']:.0f}",
                             f"open loop, {o['requests_per_s']:,.0f} answered/s, "
                             f"{o['errors']} errors"))
    if floor := paced.get("/-/routes"):
        rows.append(("  the same on the ingress alone (/-/routes)",
                     f"{floor['p50_ms']:.0f} / {floor['p99_ms']:.0f}",
                     f"floor: client late p99 {floor['client_late_p99_ms']:.0f} ms"))
    if st := api.get("stream"):
        rows += [
            (f"GET /stream clients held of {st['clients']:,}", f"{st['held']:,}",
             f"{st['events_per_s']:.0f} ledger events/s flowing"),
            ("  deliveries/s (all clients)", f"{st['deliveries_per_s']:,.0f}",
             f"{st['delivered_fraction']:.3f} of events x clients"),
            ("  append to delivery p50 / p99 ms",
             f"{st['delay_p50_ms']:.0f} / {st['delay_p99_ms']:.0f}", ""),
        ]
    rows += [
        ("bytes per logical sensor actor", f"{act['bytes_per_sensor_actor']:,.0f}", ""),
        (f"bring-up of {act['sensors']:,} sensors, s", f"{act['bring_up_s']:.2f}", ""),
    ]
    rows += bench_fairness.rows(r)
    width = max(len(a) for a, _, _ in rows) + 2
    lines = [f"{'':<{width}}{'figure':>22}  note"]
    lines += [f"{a:<{width}}{b:>22}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    """Readings/s of the raw pipe and the whole loop, per fleet size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: matplotlib is not installed (pip install matplotlib)",
              file=sys.stderr)
        return
    points = r["curve"] or [{"sensors": r["pipe"]["sensors"],
                             "raw": r["pipe"]["raw"]["readings_per_s"],
                             "whole_loop": r["pipe"]["whole_loop"]["readings_per_s"]}]
    labels = [f"{p['sensors']:,} sensors" for p in points]
    x = range(len(points))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.bar([i - 0.2 for i in x], [p["raw"] for p in points], 0.4, label="raw JetStream pipe")
    ax.bar([i + 0.2 for i in x], [p["whole_loop"] for p in points], 0.4,
           label="whole loop (acked, in the ledger, projected)")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("readings per second")
    ax.set_title(f"Plumeline throughput, {r['machine']} ({r['date'][:10]})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_soak(args) -> int:
    from plumeline.infra.bench import soak

    try:
        duration, sample = parse_duration(args.soak), parse_duration(args.sample)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if duration <= 0 or sample <= 0:
        raise UserError("--soak and --sample must be positive")
    sensors = (args.facilities or 100) * (args.sensors_per_facility or 100)
    bench_load.say(f"soak: {sensors:,} sensors at 1 Hz for {args.soak}, "
                   f"a sample every {args.sample}")
    with tempfile.TemporaryDirectory(prefix="plumeline-soak-") as tmp_name:
        start_ray(Settings())
        try:
            result = soak.soak(Path(tmp_name), duration, sensors=sensors, sample_s=sample)
        finally:
            stop_ray()
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": f"plumeline bench --soak {args.soak}", "soak": result}
    print(soak_table(result["soak"]))
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
        soak.chart(result["soak"], args.json.with_suffix(".png"))
    return 0


def soak_table(s: dict) -> str:
    lines = [f"soak: {s['sensors']:,} sensors, {s['duration_s'] / 3600:.2f} h, "
             f"{len(s['samples'])} samples; growth after the first "
             f"{s['warm_up_s'] / 60:.1f} min", f"{'process':<28}{'MB at end':>10}{'MB/h':>9}{'%/h':>8}"]
    last = s["samples"][-1]["rss_mb"]
    for name in sorted(last):
        lines.append(f"{name:<28}{last[name]:>10.0f}"
                     f"{s['rss_growth_mb_per_h'].get(name, float('nan')):>9.1f}"
                     f"{s['rss_growth_pct_per_h'].get(name, float('nan')):>8.2f}")
    lines.append(f"largest consumer lag: {s['max_lag']:,} messages")
    return "\n".join(lines)
