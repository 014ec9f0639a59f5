"""What judging a batch's quiet frames in columns saves a shard host, per reading.

`python -m plumeline.infra.bench.columns [SENSORS] [READINGS] [BATCH ...]` derives one READINGS
partition of the bench's workload (`bench_load.workload`: 100-sensor plants, frames of
~250 readings, 16 partitions) message by message (`Derivation.derive`, what the hosts
did before) and in batches (`derive_batch`, what a host does with each fetch), in one
process with no NATS, and prints the CPU time per reading of each, the share of frames
the columns took, and whether every batch size gave the same events as one by one.
"""

from __future__ import annotations

import sys
import time

import msgspec

from plumeline.actors import Derivation, FacilityConfig
from plumeline.infra.bench.load import workload

__all__ = ["run"]

_canonical = msgspec.json.Encoder(order="sorted")


def run(sensors: int = 10_000, readings: int = 4_000_000, batches=(64, 256),
        partition: str | None = None) -> list[dict]:
    """One row per batch size (1: `derive`); `partition`: the first frame's if None."""
    manifests, frames = workload(sensors, readings)
    partition = partition or frames[0][0].split(".")[1]
    messages = [(s, seq, 1_767_225_600_000 + 10**9, data)
                for seq, (s, data, _) in enumerate(manifests + frames, 1)
                if s.split(".")[1] == partition]
    count = sum(n for s, _, n in frames if s.split(".")[1] == partition)
    out, expected = [], None
    for batch in (1, *batches):
        d = Derivation(FacilityConfig())
        started = time.process_time()
        if batch == 1:
            derived = [d.derive(*m) for m in messages]
        else:
            derived = []
            for k in range(0, len(messages), batch):
                derived += d.derive_batch(messages[k:k + batch])
        cpu = time.process_time() - started
        events = [_canonical.encode(e) for x in derived for e in x.envelopes]
        expected = events if expected is None else expected
        frames_seen = sum(x.counts.get("frames", 0) for x in derived)
        out.append({"batch": batch, "readings": count, "us_per_reading": cpu / count * 1e6,
                    "in_columns": d.in_columns / frames_seen, "same_events": events == expected})
    return out


def main(argv: list[str] | None = None) -> int:
    args = [int(a) for a in (argv if argv is not None else sys.argv[1:])]
    sensors = args[0] if args else 10_000
    readings = args[1] if len(args) > 1 else 4_000_000
    batches = tuple(args[2:]) or (64, 256)
    rows = run(sensors, readings, batches)
    print(f"{'batch':>6} {'µs/reading':>11} {'ratio':>6} {'in columns':>11}  same events")
    for r in rows:
        print(f"{r['batch']:>6} {r['us_per_reading']:>11.2f} "
              f"{rows[0]['us_per_reading'] / r['us_per_reading']:>6.2f} "
              f"{r['in_columns']:>10.1%}  {r['same_events']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
