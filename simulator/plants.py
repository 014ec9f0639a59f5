"""Labelled tables of one facility's sensors, for choosing how `plumeline score` decides.

Two sources, both reproducible from a seed and pure numpy:

`plant(scenario, seed)`: a generated plant of 8 sensors driven by two latent factors (an
AR(1) at 0.99 and a sine), each sensor a random mix of them plus its own noise. The first
400 rows are normal; a fault of the named scenario changes rows 700-1000 of 1200, and
exactly those rows are labelled. Fault sizes are in units of the sensor's standard
deviation over the normal rows (σ).

`facility(seed, index)`: one facility of the simulator (`Simulation`, 9 sensors at 1 Hz,
2 h), its injected faults as labels; none starts in the first 400 s, the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plumeline.simulator.simulation import Simulation

__all__ = ["SCENARIOS", "Case", "facility", "plant"]

ROWS, TRAIN, FAULT_FROM, FAULT_TO = 1200, 400, 700, 1000
SENSORS = 8
SCENARIOS = (
    "none",  # no fault: every alert is a false one
    "relation",  # one sensor moves against the factors it followed, inside its range
    "drift",  # one sensor ramps to 3σ
    "step",  # one sensor steps by 1.5σ
    "common_step",  # every sensor steps by 1σ
    "noise",  # one sensor's noise triples (a loose mounting, a cavitating pump)
    "gain",  # one sensor follows the factors 1.6 times as strongly (a relation's gain)
)
T0_MS = 1_700_000_000_000


@dataclass(frozen=True, slots=True)
class Case:
    name: str  # e.g. "drift/2", "sim 3/0"
    group: str  # cases of one group are left out together
    times_ms: np.ndarray  # int64, one row a second
    sensors: list[str]
    values: np.ndarray  # rows x sensors, NaN where a sensor said nothing
    labels: np.ndarray  # bool per row: a fault changes this row
    train_rows: int


def plant(scenario: str, seed: int, rows: int = ROWS, train: int = TRAIN,
          fault: tuple[int, int] = (FAULT_FROM, FAULT_TO), inject: bool = True) -> Case:
    """`inject=False`: the same plant, its fault left out (the labels stay)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"no scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    # each scenario its own plants: no group of a cross-validation sees another's
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
    t = np.arange(rows)
    ar = np.empty(rows)
    ar[0] = rng.normal()
    shocks = rng.normal(0.0, np.sqrt(1 - 0.99**2), rows)
    for i in range(1, rows):
        ar[i] = 0.99 * ar[i - 1] + shocks[i]
    sine = np.sqrt(2) * np.sin(2 * np.pi * t / rng.uniform(150, 400) + rng.uniform(0, 2 * np.pi))
    factors = np.stack([ar, sine], axis=1)  # rows x 2
    loadings = rng.normal(0.0, 1.0, (2, SENSORS))
    noise_sd = rng.uniform(0.15, 0.35, SENSORS)
    noise = rng.normal(0.0, 1.0, (rows, SENSORS)) * noise_sd
    signal = factors @ loadings
    sigma = (signal + noise)[:train].std(axis=0)
    j = int(rng.integers(SENSORS))  # the sensor a single-sensor fault strikes
    levels = rng.uniform(10.0, 200.0, SENSORS)
    a, b = fault
    labels = np.zeros(rows, dtype=bool)
    if scenario != "none":
        labels[a:b] = True
    if not inject:
        pass
    elif scenario == "relation":
        signal[a:b, j] = -signal[a:b, j]
    elif scenario == "drift":
        signal[a:b, j] += 3.0 * sigma[j] * np.linspace(0.0, 1.0, b - a + 1)[1:]
    elif scenario == "step":
        signal[a:b, j] += 1.5 * sigma[j]
    elif scenario == "common_step":
        signal[a:b] += sigma
    elif scenario == "noise":
        noise[a:b, j] *= 3.0
    elif scenario == "gain":
        signal[a:b, j] *= 1.6
    values = levels + (signal + noise) * levels * 0.02  # each sensor in its own units
    return Case(f"{scenario}/{seed}", scenario, T0_MS + 1000 * t, [f"s{k}" for k in range(SENSORS)],
                values, labels, train)


def facility(seed: int, index: int, hours: float = 2.0, train: int = TRAIN) -> Case:
    """Facility `index` (0: a capture plant, 1: a factory) of a two-facility fleet."""
    sim = Simulation(seed=seed, facilities=2, sensors_per_facility=9, rate_hz=1.0,
                     start_ms=T0_MS, first_anomaly_after_s=float(train))
    steps = int(hours * 3600)
    r = sim.readings(0, steps)
    cols = slice(index * 9, (index + 1) * 9)
    values = r.values[:, cols].astype(np.float64)
    if r.present is not None:
        values[~r.present[:, cols]] = np.nan
    name = sim.facilities[index]
    labels = np.zeros(steps, dtype=bool)
    for w in sim.ground_truth_until(steps):
        if w.facility == name:
            labels |= (r.times >= w.start_ms) & (r.times < w.end_ms)
    sensors = [s.sensor for s in sim.sensors[index]]
    return Case(f"sim {seed}/{index}", f"sim {seed}/{index}", r.times.astype(np.int64), sensors,
                values, labels, train)
