"""A fleet of facilities producing frames of readings, reproducible from a seed.

Sensors of all facilities form one flat axis (facility-major, manifest order), time
the other: a batch of steps is a (steps, sensors) array computed with a few dozen
numpy operations, whatever the fleet's size. The start time is the caller's; nothing
here reads a clock.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from plumeline.events.packed import INDEX, TIME, VALUE
from plumeline.events.wire import Frame, Manifest, PackedFrame, SensorSpec, frame_lists
from plumeline.simulator._noise import MeasurementNoise
from plumeline.simulator.anomalies import (
    AnomalySchedule,
    AnomalyWindow,
    Scheduled,
    apply_sensor_faults,
    facility_modifier,
)
from plumeline.simulator.facilities import TEMPLATES, facility_ids, facility_kinds
from plumeline.simulator.physics import LAG_MS, channels, draw_params, nominal

__all__ = ["Readings", "Simulation"]

PARAMS_STREAM = 0


class _KindGroup(NamedTuple):
    """Facilities of one kind, computed together; their truth columns start at `base`,
    channel-major: channel c of member m is column base + c·len(members) + m."""

    kind: str
    params: dict[str, np.ndarray]
    channels: tuple[str, ...]
    base: int
    members: dict[int, int]  # facility index → position in the group
    faults: bool  # whether process faults (capture_loss, slow_leak) can strike it


class Readings(NamedTuple):
    """Steps [step_from, step_to) as arrays: value of sensor column s at step i is
    values[i, s]; `present` is False where a reading is missing (None: none is)."""

    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray
    present: np.ndarray | None


class Simulation:
    """`facilities` sites with `sensors_per_facility` sensors each, sampled at `rate_hz`.

    Step k happens at event time start_ms + k·1000/rate_hz. Any range of steps can be
    generated in any order and any batching, with identical readings.
    """

    def __init__(
        self,
        seed: int,
        facilities: int,
        sensors_per_facility: int,
        rate_hz: float,
        start_ms: int,
        anomalies: bool = True,
        *,
        first_anomaly_after_s: float = 45.0,
        mean_gap_s: float = 90.0,
    ):
        if facilities < 1:
            raise ValueError(f"need at least one facility, got {facilities}")
        # above 1 kHz two steps would share a millisecond timestamp
        if not 0 < rate_hz <= 1000:
            raise ValueError(f"rate_hz must be in (0, 1000], got {rate_hz}")
        self.seed, self.rate_hz, self.start_ms = seed, rate_hz, start_ms
        self.sensors_per_facility = n = sensors_per_facility
        kinds = facility_kinds(facilities)
        self.facilities = facility_ids(kinds)
        self.templates = [TEMPLATES[k] for k in kinds]
        self.sensors = [t.instances(n) for t in self.templates]
        self.sensor_ids = [s.sensor for f in self.sensors for s in f]

        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(PARAMS_STREAM,)))
        )
        self._groups: list[_KindGroup] = []
        base = 0
        row = np.empty(len(self.sensor_ids), dtype=np.intp)
        level = np.empty(len(self.sensor_ids))
        for kind, template in TEMPLATES.items():
            members = [f for f, k in enumerate(kinds) if k == kind]
            if not members:
                continue
            params = draw_params(kind, rng, len(members))
            levels = nominal(kind, params)
            chans = template.channels
            for local, f in enumerate(members):
                for j, s in enumerate(self.sensors[f]):
                    col = f * n + j
                    row[col] = base + chans.index(s.channel) * len(members) + local
                    level[col] = levels[s.channel][local]
            group = {f: local for local, f in enumerate(members)}
            faults = bool(template.effects)
            self._groups.append(_KindGroup(kind, params, chans, base, group, faults))
            base += len(chans) * len(members)
        self._truth_width, self._row, self._level = base, row, level

        spec = [s for f in self.sensors for s in f]
        # a second instrument on the same channel reads a little differently
        extra = np.array([s.sensor != s.channel for s in spec])
        self._offset = np.where(extra, level * rng.uniform(-0.01, 0.01, len(spec)), 0.0)
        self._sigma = level * np.array([s.noise for s in spec])
        self._noise = MeasurementNoise(seed, len(spec), np.array([s.smooth for s in spec]))
        self._schedule = None
        if anomalies:
            self._schedule = AnomalySchedule(
                seed,
                self.facilities,
                self.templates,
                self.sensors,
                start_ms=start_ms,
                rate_hz=rate_hz,
                first_anomaly_after_s=first_anomaly_after_s,
                mean_gap_s=mean_gap_s,
            )
        self._lag_steps = int(np.ceil(LAG_MS / 1000 * rate_hz))
        self._horizon = 0

    def times(self, steps: np.ndarray) -> np.ndarray:
        return self.start_ms + np.rint(steps * 1000.0 / self.rate_hz).astype(np.int64)

    def step_of(self, time_ms: int) -> int:
        """The step taken at `time_ms`, the inverse of `times` (exact up to 1 kHz)."""
        return round((time_ms - self.start_ms) * self.rate_hz / 1000.0)

    def manifests(self) -> list[Manifest]:
        out = []
        for f, (facility, template) in enumerate(zip(self.facilities, self.templates)):
            specs = [SensorSpec(s.sensor, s.quantity, s.unit, s.role) for s in self.sensors[f]]
            out.append(Manifest(facility, self._title(f), template.kind, specs, time=self.start_ms))
        return out

    def _title(self, f: int) -> str:
        number = self.facilities[f].rsplit("-", 1)[1]
        group = next(g for g in self._groups if f in g.members)
        if group.kind == "ccs":
            power = group.params["power_host"][group.members[f]]
            host = "power unit" if power else "cement kiln"
            return f"Capture plant {number} ({host})"
        return f"Gas-fired works {number}"

    @property
    def ground_truth(self) -> list[AnomalyWindow]:
        """Windows that began within the steps generated so far, in start order; the
        last may reach beyond them."""
        if self._schedule is None:
            return []
        return [w.window for w in self._schedule.windows if w.start_step < self._horizon]

    def ground_truth_until(self, step_to: int) -> list[AnomalyWindow]:
        """Windows starting before `step_to`, drawn ahead of the readings if need be (the
        schedule does not depend on them): for writing the truth before a run."""
        if self._schedule is None:
            return []
        self._schedule.extend(step_to)
        return [w.window for w in self._schedule.windows if w.start_step < step_to]

    def readings(self, step_from: int, step_to: int) -> Readings:
        if not 0 <= step_from < step_to:
            raise ValueError(f"need 0 <= step_from < step_to, got {step_from}, {step_to}")
        self._horizon = max(self._horizon, step_to)
        windows = (
            self._schedule.overlapping(step_from - self._lag_steps, step_to)
            if self._schedule
            else []
        )
        return self._measure(step_from, step_to, windows)

    def _measure(self, step_from: int, step_to: int, windows: list[Scheduled]) -> Readings:
        steps = np.arange(step_from, step_to, dtype=np.int64)
        t = self.times(steps)
        truth = np.empty((len(steps), self._truth_width))
        for g in self._groups:
            width = len(g.members)
            loss = loss_lag = leak = None
            if g.faults:
                loss = facility_modifier(windows, "capture_loss", t, g.members, width)
                loss_lag = facility_modifier(windows, "capture_loss", t - LAG_MS, g.members, width)
                leak = facility_modifier(windows, "slow_leak", t, g.members, width)
            values = channels(g.kind, g.params, t, loss, loss_lag, leak)
            for c, name in enumerate(g.channels):
                truth[:, g.base + c * width : g.base + (c + 1) * width] = values[name]
        values = truth[:, self._row]
        values += self._offset
        values += self._sigma * self._noise.sample(step_from, step_to)
        present = None
        if any(w.window.kind == "dropout" for w in windows):
            present = np.ones(values.shape, dtype=bool)
        apply_sensor_faults(values, present, t, windows, self._level, self._held)
        return Readings(steps, t, values, present)

    def _held(self, w: Scheduled) -> float:
        # the step before a window is free of anomalies on that facility (the schedule
        # keeps a gap), so the clean reading there is the one a stuck sensor repeats
        if w.held is None:
            before = self._measure(w.start_step - 1, w.start_step, [])
            w.held = float(before.values[0, w.columns[0]])
        return w.held

    def tick(self, step: int) -> list[Frame]:
        """Readings of one step: one frame per facility."""
        return self.frames(step, step + 1)

    def frames(
        self, step_from: int, step_to: int, steps_per_frame: int | None = None
    ) -> list[Frame]:
        """`packed_frames` as per-reading lists (version 1's shape, what JSON carries)."""
        return [frame_lists(p) for p in self.packed_frames(step_from, step_to, steps_per_frame)]

    def packed_frames(
        self, step_from: int, step_to: int, steps_per_frame: int | None = None
    ) -> list[PackedFrame]:
        """Readings of steps [step_from, step_to) as frames of one facility each, holding
        `steps_per_frame` steps (default: all of them) ordered by time, then by sensor
        in manifest order. Frames that would be empty (all readings dropped) are left out.
        Packed straight from the arrays (the wire's columns, events/packed.py), each
        frame's table the facility's sensors in manifest order.
        """
        r = self.readings(step_from, step_to)
        if not np.isfinite(r.values).all():
            raise AssertionError("simulation produced a non-finite reading")
        span = steps_per_frame or (step_to - step_from)
        n = self.sensors_per_facility
        out = []
        for lo in range(0, len(r.steps), span):
            k = min(span, len(r.steps) - lo)
            # (step, facility, sensor) -> (facility, step·sensor)
            values = self._by_facility(r.values[lo : lo + k]).astype(VALUE[2])
            keep = None if r.present is None else self._by_facility(r.present[lo : lo + k])
            times = np.repeat(r.times[lo : lo + k], n).astype(TIME[2])
            local = np.tile(np.arange(n, dtype=INDEX[2]), k)
            every = (local.tobytes(), times.tobytes())
            for f, facility in enumerate(self.facilities):
                names = self.sensor_ids[f * n : (f + 1) * n]
                if keep is None or keep[f].all():
                    out.append(PackedFrame(facility, names, *every, values[f].tobytes()))
                elif keep[f].any():
                    which = np.flatnonzero(keep[f])
                    out.append(PackedFrame(facility, names, local[which].tobytes(),
                                           times[which].tobytes(), values[f][which].tobytes()))
        return out

    def _by_facility(self, a: np.ndarray) -> np.ndarray:
        n, count = self.sensors_per_facility, len(self.facilities)
        return a.reshape(len(a), count, n).transpose(1, 0, 2).reshape(count, -1)

    def steps_for_frames_of(self, readings: int = 250) -> int:
        """Steps per frame so that a frame holds about `readings` readings (at least one step)."""
        return max(1, readings // self.sensors_per_facility)
