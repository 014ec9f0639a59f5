"""Injected anomalies, their schedule, and the ground truth that scores a detector.

Sensor faults (spike, drift, stuck, dropout, level_shift) change what one sensor
reports; process faults (slow_leak, capture_loss) change the plant itself, so every
sensor on an affected channel moves together, as a real fault would show.
Magnitudes are fractions of the sensor's nominal level (spike, drift, level_shift,
signed), of injected CO2 lost (slow_leak, at its worst) or of capture rate lost
(capture_loss); stuck and dropout have none.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from plumeline.simulator.facilities import FacilityTemplate, SensorTemplate
from plumeline.simulator.physics import LAG_MS

__all__ = [
    "FACILITY_KINDS",
    "KINDS",
    "SENSOR_KINDS",
    "AnomalySchedule",
    "AnomalyWindow",
    "read_ground_truth",
    "write_ground_truth",
]

SENSOR_KINDS = ("spike", "drift", "stuck", "dropout", "level_shift")
FACILITY_KINDS = ("slow_leak", "capture_loss")
KINDS = SENSOR_KINDS + FACILITY_KINDS
# Unmistakable to any detector, so a demo raises its first alert soon after start.
FIRST_KINDS = ("capture_loss", "level_shift", "spike")
DURATION_S = {
    "spike": (1, 5), "drift": (60, 240), "stuck": (30, 120), "dropout": (20, 90),
    "level_shift": (30, 120), "slow_leak": (180, 600), "capture_loss": (60, 240),
}  # fmt: skip
MAGNITUDE = {
    "spike": (0.3, 0.8), "drift": (0.1, 0.3), "stuck": (0, 0), "dropout": (0, 0),
    "level_shift": (0.1, 0.3), "slow_leak": (0.1, 0.3), "capture_loss": (0.2, 0.5),
}  # fmt: skip
SIGNED = {"spike", "drift", "level_shift"}
PRIMARY = {"capture_loss": "capture_rate", "slow_leak": "wellhead_pressure"}
SCHEDULE_STREAM = 1


class AnomalyWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One injected anomaly: `sensor` is the one it targets, `affected` every sensor
    whose readings it changes, within [start_ms, end_ms)."""

    facility: str
    sensor: str
    kind: str
    start_ms: int
    end_ms: int
    magnitude: float
    affected: tuple[str, ...] = ()


@dataclass
class Scheduled:
    window: AnomalyWindow
    facility: int
    columns: np.ndarray  # sensor columns, in the simulation's flat order, it changes
    start_step: int
    end_step: int
    # process faults stop acting LAG_MS early, so their delayed effect on the injected
    # flow still ends inside the window
    cause_end_ms: int
    held: float | None = None  # a stuck sensor's last value, once computed


class AnomalySchedule:
    """Anomalies in event time, drawn lazily from the seed: extending further never
    changes the windows already drawn."""

    def __init__(
        self,
        seed: int,
        facilities: list[str],
        templates: list[FacilityTemplate],
        sensors: list[list[SensorTemplate]],
        *,
        start_ms: int,
        rate_hz: float,
        first_anomaly_after_s: float = 45.0,
        mean_gap_s: float = 90.0,
    ):
        self._rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SCHEDULE_STREAM,)))
        )
        self._facilities, self._templates, self._sensors = facilities, templates, sensors
        self._first_column = np.cumsum([0] + [len(s) for s in sensors])
        self._start_ms, self._rate_hz = start_ms, rate_hz
        self._mean_gap_s = mean_gap_s
        self._next_s = first_anomaly_after_s
        self._busy = [1] * len(facilities)  # first step each facility is free again
        self.windows: list[Scheduled] = []
        self._starts: list[int] = []
        self._longest = 0

    def time_of(self, step: int) -> int:
        # the same arithmetic as Simulation.times, so windows fall exactly on steps
        return self._start_ms + round(step * 1000.0 / self._rate_hz)

    def _steps(self, seconds: float) -> int:
        return math.ceil(seconds * self._rate_hz)

    def _kinds(self, f: int) -> list[str]:
        channels = {s.channel for s in self._sensors[f]}
        effects = self._templates[f].effects
        return list(SENSOR_KINDS) + [k for k in FACILITY_KINDS if effects.get(k, set()) & channels]

    def _draw(self) -> Scheduled:
        rng, first = self._rng, not self.windows
        f = int(rng.integers(len(self._facilities)))
        kinds = self._kinds(f)
        if first:
            kinds = [k for k in FIRST_KINDS if k in kinds]
        kind = kinds[int(rng.integers(len(kinds)))]
        sensor_pick = int(rng.integers(len(self._sensors[f])))
        duration_s = rng.uniform(*DURATION_S[kind])
        magnitude = rng.uniform(*MAGNITUDE[kind]) * (rng.choice((-1, 1)) if kind in SIGNED else 1)

        sensors = self._sensors[f]
        if kind in SENSOR_KINDS:
            local = [sensor_pick]
            target = sensors[sensor_pick].sensor
        else:
            touched = self._templates[f].effects[kind]
            local = [j for j, s in enumerate(sensors) if s.channel in touched]
            names = [sensors[j].sensor for j in local]
            target = PRIMARY[kind] if PRIMARY[kind] in names else names[0]

        lag_steps = self._steps(LAG_MS / 1000) if kind == "capture_loss" else 0
        min_steps = {"spike": 1, "drift": 3}.get(kind, 2) + lag_steps
        steps = max(min_steps, self._steps(duration_s))
        start = max(self._busy[f], self._steps(self._next_s))
        end = start + steps
        self._busy[f] = end + 1  # the step before a window is clean: stuck holds it
        self._next_s += rng.exponential(self._mean_gap_s)

        start_ms, end_ms = self.time_of(start), self.time_of(end)
        window = AnomalyWindow(
            facility=self._facilities[f],
            sensor=target,
            kind=kind,
            start_ms=start_ms,
            end_ms=end_ms,
            magnitude=float(magnitude),
            affected=tuple(sensors[j].sensor for j in local),
        )
        columns = self._first_column[f] + np.asarray(local, dtype=np.intp)
        cause_end = end_ms - LAG_MS if kind == "capture_loss" else end_ms
        return Scheduled(window, f, columns, start, end, cause_end)

    def extend(self, step_to: int) -> None:
        """Draw until every window starting before `step_to` exists."""
        while self._steps(self._next_s) < step_to:
            item = self._draw()
            at = bisect.bisect_right(self._starts, item.start_step)
            self._starts.insert(at, item.start_step)
            self.windows.insert(at, item)
            self._longest = max(self._longest, item.end_step - item.start_step)

    def overlapping(self, step_from: int, step_to: int) -> list[Scheduled]:
        """Windows with any step in [step_from, step_to)."""
        self.extend(step_to)
        lo = bisect.bisect_left(self._starts, step_from - self._longest)
        hi = bisect.bisect_left(self._starts, step_to)
        return [w for w in self.windows[lo:hi] if w.end_step > step_from]


def facility_modifier(
    windows: Iterable[Scheduled], kind: str, t_ms: np.ndarray, group: dict[int, int], width: int
) -> np.ndarray:
    """How strongly a process fault acts at times `t_ms` on the facilities of one
    group (facility index → column): shape (T, width), 0 where all is well."""
    out = np.zeros((len(t_ms), width))
    for w in windows:
        if w.window.kind != kind or w.facility not in group:
            continue
        start = w.window.start_ms
        on = (t_ms >= start) & (t_ms < w.cause_end_ms)
        strength = w.window.magnitude
        if kind == "slow_leak":  # grows from nothing to its magnitude over the window
            strength = strength * (t_ms[on] - start) / (w.window.end_ms - start)
        out[on, group[w.facility]] = strength
    return out


def apply_sensor_faults(values, present, t_ms, windows, level, held) -> None:
    """Sensor faults in place on `values` and `present` (T, S); `held(w)` gives a
    stuck sensor's last good value."""
    for w in windows:
        kind = w.window.kind
        if kind not in SENSOR_KINDS:
            continue
        lo, hi = np.searchsorted(t_ms, (w.window.start_ms, w.window.end_ms))
        col = int(w.columns[0])
        shift = w.window.magnitude * level[col]
        if kind in ("spike", "level_shift"):
            values[lo:hi, col] += shift
        elif kind == "drift":
            span = w.window.end_ms - w.window.start_ms
            values[lo:hi, col] += shift * (t_ms[lo:hi] - w.window.start_ms) / span
        elif kind == "stuck":
            values[lo:hi, col] = held(w)
        elif kind == "dropout":
            present[lo:hi, col] = False


def write_ground_truth(path: str | Path, windows: Iterable[AnomalyWindow]) -> None:
    """JSON lines, one window per line, in start order."""
    encoder = msgspec.json.Encoder()
    with open(path, "wb") as out:
        out.writelines(encoder.encode(w) + b"\n" for w in windows)


def read_ground_truth(path: str | Path) -> list[AnomalyWindow]:
    decoder = msgspec.json.Decoder(AnomalyWindow)
    with open(path, "rb") as src:
        return [decoder.decode(line) for line in src if line.strip()]
