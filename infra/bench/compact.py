"""What the compact likelihood would cost the fleet, per reading, against its own path.

`python -m plumeline.infra.bench.compact [SENSORS ...]` judges one Gaussian reading per
sensor per call, for every sensor at once, through `CompactColumns.update` (past its
warm-up and calibration), `EnsembleColumns.update` and `SensorColumns.judge` (the
fleet's vectorised path), and prints the best of five runs of each, in µs per reading.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from plumeline.actors import FacilityConfig
from plumeline.actors.columns import SensorColumns
from plumeline.actors.compact import CompactColumns
from plumeline.actors.ensemble import EnsembleColumns

__all__ = ["run"]


def _best(step, calls: int = 20, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        times.append((time.perf_counter() - started) / calls)
    return min(times)


def run(sensors: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    rows = np.arange(sensors, dtype=np.int64)
    ones = np.ones(sensors)
    compact = CompactColumns(capacity=sensors)
    ensemble = EnsembleColumns(capacity=sensors)
    fleet = SensorColumns(FacilityConfig(), sensors)
    fleet_rows = fleet.add_rows(sensors)
    quiet = np.zeros(sensors, bool)
    clock = [0]

    def judge() -> None:
        clock[0] += 1000
        fleet.judge(fleet_rows, np.full(sensors, clock[0], np.int64),
                    20.0 + rng.standard_normal(sensors), quiet)

    steps = {
        "compact": lambda: compact.update(rows, 20.0 + rng.standard_normal(sensors), ones),
        "ensemble": lambda: ensemble.update(rows, 20.0 + rng.standard_normal(sensors),
                                            np.abs(rng.standard_normal(sensors)), ones),
        "SensorColumns.judge": judge,
    }
    for _ in range(400):  # past warm-up and calibration
        steps["compact"]()
        steps["ensemble"]()
    return {name: _best(step) / sensors * 1e6 for name, step in steps.items()}


def main(argv: list[str] | None = None) -> int:
    counts = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or [100, 1000, 10_000]
    for sensors in counts:
        cells = ", ".join(f"{name} {us:.2f}" for name, us in run(sensors).items())
        print(f"{sensors} sensors, µs per reading: {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
