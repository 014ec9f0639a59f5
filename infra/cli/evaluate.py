"""`plumeline evaluate`: the production actors against the simulator's ground truth.

The simulator injects anomalies of every kind with a seed; the actors (the very
derivation a shard host runs, in this process) see the readings; every alert is
matched to the injected window it explains. Per kind: recall and median time to
detect; overall: precision (alerts explained by an injection / all alerts).
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict

from plumeline.actors import FacilityConfig
from plumeline.actors.derivation import Derivation
from plumeline.events import encode_wire, readings_subject
from plumeline.infra.runtime.settings import parse_duration
from plumeline.simulator import KINDS, Simulation

__all__ = ["evaluate", "run_evaluate"]

T0 = 1_767_225_600_000
GRACE_MS = 120_000  # an alert this long after a window still answers it (hysteresis, drift)




def evaluate(seed: int, seconds: int, facilities: int = 8, sensors: int = 9,
             progress=None) -> dict:
    sim = Simulation(seed=seed, facilities=facilities, sensors_per_facility=sensors,
                     rate_hz=1.0, start_ms=T0)
    derivation = Derivation(FacilityConfig())
    seq = 0

    def feed(message) -> list:
        nonlocal seq
        seq += 1
        subject = readings_subject(message.facility, 16)
        arrived = getattr(message, "times", None)
        arrived = arrived[-1] if arrived else T0
        return derivation.derive(subject, seq, arrived, encode_wire(message)).envelopes

    for manifest in sim.manifests():
        feed(manifest)
    alerts = []
    chunk = 600
    for lo in range(0, seconds, chunk):
        for frame in sim.frames(lo, min(lo + chunk, seconds), 1):
            alerts += [e for e in feed(frame) if e.type == "alert.raised"]
        if progress:
            progress(min(lo + chunk, seconds), seconds)
    windows = [w for w in sim.ground_truth_until(seconds) if w.end_ms <= T0 + seconds * 1000]
    return score(alerts, windows)


def score(alerts, windows) -> dict:
    by_kind: dict[str, dict] = {k: {"windows": 0, "detected": 0, "delays_s": []} for k in KINDS}
    explained: set[str] = set()
    for w in windows:
        stats = by_kind[w.kind]
        stats["windows"] += 1
        hits = [
            a for a in alerts
            if a.facility == w.facility and a.sensor in (w.sensor, *w.affected)
            and w.start_ms <= a.time <= w.end_ms + GRACE_MS
        ]
        explained |= {a.id for a in hits}
        if hits:
            stats["detected"] += 1
            stats["delays_s"].append((min(a.time for a in hits) - w.start_ms) / 1000)
    rows = {}
    for kind, s in by_kind.items():
        rows[kind] = {
            "windows": s["windows"],
            "detected": s["detected"],
            "recall": s["detected"] / s["windows"] if s["windows"] else None,
            "median_time_to_detect_s": statistics.median(s["delays_s"]) if s["delays_s"] else None,
        }
    per_kind_alerts = defaultdict(int)
    for a in alerts:
        per_kind_alerts[a.body.kind] += 1
    return {
        "alerts": len(alerts),
        "explained_alerts": len(explained),
        "precision": len(explained) / len(alerts) if alerts else None,
        "alerts_by_model_kind": dict(per_kind_alerts),
        "kinds": rows,
    }


def table(result: dict) -> str:
    lines = [f"{'anomaly kind':<14}{'windows':>9}{'detected':>10}{'recall':>9}"
             f"{'median s to detect':>21}"]
    for kind, r in result["kinds"].items():
        recall = "-" if r["recall"] is None else f"{r['recall']:.2f}"
        delay = r["median_time_to_detect_s"]
        lines.append(f"{kind:<14}{r['windows']:>9}{r['detected']:>10}{recall:>9}"
                     f"{'-' if delay is None else f'{delay:.0f}':>21}")
    precision = result["precision"]
    lines.append(f"\nalerts: {result['alerts']}, explained by an injected anomaly: "
                 f"{result['explained_alerts']} (precision "
                 f"{'-' if precision is None else f'{precision:.2f}'})")
    return "\n".join(lines)


def run_evaluate(args) -> int:
    from plumeline.infra.runtime.errors import UserError

    try:
        seconds = parse_duration(args.duration)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    def progress(done: int, total: int) -> None:
        print(f"\r  {done:,}/{total:,} s of event time", end="", file=sys.stderr, flush=True)

    result = evaluate(args.seed, seconds, args.facilities, args.sensors_per_facility, progress)
    print(file=sys.stderr)
    print(table(result))
    if args.json:
        import msgspec

        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    return 0
