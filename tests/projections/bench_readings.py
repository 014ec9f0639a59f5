"""Raw readings stored per second, as `plumeline bench` measures it (infra/bench/parts.py,
"raw readings stored"), with the time and CPU of `ReadingsProjector.apply` alone.

    PYTHONPATH=. .venv/bin/python tests/projections/bench_readings.py [readings]

Not collected by pytest (no test_ prefix). 100 facilities x 100 sensors at 1 Hz, batches
of 10 steps (100,000 readings in frames of 1,000), on embedded chDB. The CPU is the
process's, chDB's threads and background merges included.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time

from plumeline.events import encode_wire
from plumeline.projections import Projector, open_store
from plumeline.projections.readings import ReadingsProjector
from plumeline.simulator import Simulation

T0 = 1_767_225_600_000


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(readings: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, open_store(path=f"{tmp}/chdb") as store:
        Projector(store).rebuild()
        sim = Simulation(seed=3, facilities=100, sensors_per_facility=100, rate_hz=1.0,
                         start_ms=T0, anomalies=False)
        frames = ReadingsProjector(store)
        frames.reset()
        steps = max(1, readings // 10_000)
        seq, stored, apply_s, apply_cpu = 0, 0, 0.0, 0.0
        started = time.perf_counter()
        for lo in range(0, steps, 10):
            made = list(sim.frames(lo, min(lo + 10, steps), 10))
            batch = [(seq + i + 1, encode_wire(f)) for i, f in enumerate(made)]
            at = [max(f.times) for f in made]  # JetStream's timestamps, as the runner has
            seq += len(batch)
            t, c = time.perf_counter(), cpu_s()
            frames.apply(batch, at)
            apply_s += time.perf_counter() - t
            apply_cpu += cpu_s() - c
            stored += 10_000 * (min(lo + 10, steps) - lo)
        insert_s = time.perf_counter() - started
        assert store.rows("SELECT count() AS n FROM readings")[0]["n"] == stored
    print(f"{stored:,} stored: {stored / insert_s:,.0f} rows/s as the bench counts, "
          f"apply {stored / apply_s:,.0f} rows/s, {apply_cpu / stored * 1e6:.2f} µs CPU/row")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
