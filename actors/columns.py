"""SensorColumns: the state of logical sensors as columns, one row per sensor.

A shard host fetches a batch of READINGS messages, frames of many facilities, and most
of their readings cause nothing: the detector learns, the silence watch learns the
sensor's rhythm, a hotspot baseline moves. Taken one Python step per reading that is
~35 float operations each; taken as arrays over every reading of a batch it is the
same ~35 operations per *batch* (docs/benchmarks.md, "Where arrays would pay"). So a
sensor's per-reading state is also kept here, as a row: its identity is the row, its
state the columns, and `judge` is `RobustBaseline.update`, `StaleWatch.seen` written
over rows, float for float the same, and the facility's own `HotspotRule` taken over
rows (actors/hotspots.py).

`judge` only ever commits what a reading causes no event with. Whatever needs a
decision (an alert raised or cleared, a hotspot, a sensor back from silence, its very
first reading) is left uncommitted and flagged, and `Derivation.derive_batch` takes that
frame, and everything of its facility after it, through `FacilityActor.observe` one
reading at a time, as before. The Python objects stay the actors: `gather` copies a
facility's sensors into their rows before the columns judge them, and `scatter` copies
the rows back before anything else reads or changes the objects.
"""

from __future__ import annotations

import math

import numpy as np

from plumeline.actors.facility import FacilityActor, FacilityConfig, hotspot_rule
from plumeline.events import MAX_ABS_VALUE

__all__ = ["SensorColumns"]

# the detector's per-sensor state, as RobustBaseline names it
_DETECTOR_FLOATS = ("level", "spread", "last", "slow", "apart", "drift")
_DETECTOR_INTS = ("n", "same", "longest_same", "above", "below", "drifting", "drift_below")
_ACTIVE = {None: 0, "deviation": 1, "stuck": 2}
_ACTIVE_NAME = (None, "deviation", "stuck")
_FLOATS = (*_DETECTOR_FLOATS, "mean", "hs_base")
_INTS = (*_DETECTOR_INTS, "last_time", "st_last", "learned", "after", "hs_above")
_FLAGS = ("active", "drift_open", "seen", "grade", "hs_known", "hs_open")


class SensorColumns:
    """Rows of sensor state for the Derivations of a shard host's lanes (or of one)."""

    def __init__(self, config: FacilityConfig, capacity: int = 1024) -> None:
        self.config = config
        self._watch = _watch(config)
        self._hotspot = hotspot_rule(config)
        self.size = 0
        self._free: list[int] = []  # rows released, to be handed out again
        self.cols: dict[str, np.ndarray] = {}
        for names, dtype in ((_FLOATS, np.float64), (_INTS, np.int64), (_FLAGS, np.int8)):
            for name in names:
                self.cols[name] = np.zeros(capacity, dtype)

    def add_rows(self, n: int) -> np.ndarray:
        """n rows, released ones first; their state is set by the `gather` that follows."""
        reused = self._free[:n]
        del self._free[:n]
        if len(reused) == n:
            return np.array(reused, dtype=np.int64)
        return np.concatenate([np.array(reused, dtype=np.int64), self._grow(n - len(reused))])

    def release(self, rows: np.ndarray) -> None:
        """Rows no derivation holds any more (one replaced), for `add_rows` to hand out."""
        self._free.extend(rows.tolist())

    def _grow(self, n: int) -> np.ndarray:
        need = self.size + n
        capacity = len(self.cols["n"])
        if need > capacity:
            while capacity < need:
                capacity *= 2
            for name, col in self.cols.items():
                grown = np.zeros(capacity, col.dtype)
                grown[: self.size] = col[: self.size]
                self.cols[name] = grown
        rows = np.arange(self.size, need, dtype=np.int64)
        self.size = need
        return rows

    def gather(self, facility: FacilityActor, idx: np.ndarray) -> None:
        """Copy the facility's sensors (in `facility.sensors` order) into rows `idx`."""
        actors = list(facility.sensors.values())
        detectors = [a.detector for a in actors]
        c = self.cols
        for name in (*_DETECTOR_FLOATS, *_DETECTOR_INTS):
            c[name][idx] = [getattr(d, name) for d in detectors]
        c["active"][idx] = [_ACTIVE[d.active] for d in detectors]
        c["drift_open"][idx] = [d.drift_open for d in detectors]
        c["last_time"][idx] = [a.last_time for a in actors]
        watched = facility.staleness.sensors
        entries = [watched.get(a.spec.sensor) for a in actors]
        c["seen"][idx] = [e is not None for e in entries]
        for k, name in enumerate(("st_last", "mean", "learned", "grade", "after")):
            c[name][idx] = [0 if e is None else e[k] for e in entries]
        spots = [facility.hotspots.get(a.spec.sensor) for a in actors]
        c["hs_known"][idx] = [h is not None for h in spots]
        c["hs_base"][idx] = [math.nan if h is None else h.baseline for h in spots]
        c["hs_above"][idx] = [0 if h is None else h.above for h in spots]
        c["hs_open"][idx] = [h is not None and h.open for h in spots]

    def scatter(self, facility: FacilityActor, idx: np.ndarray) -> None:
        """Copy `rows` back into the facility's sensors (the inverse of `gather`).

        Rows never create what the objects lack: a sensor the silence watch or the
        hotspot step has not met yet is never judged in the columns (its first reading
        goes through `observe`), so the objects' dicts keep their order and keys."""
        actors = list(facility.sensors.values())
        col = {name: c[idx].tolist() for name, c in self.cols.items()}
        n_before = [a.detector.n for a in actors]
        for name in (*_DETECTOR_FLOATS, *_DETECTOR_INTS):
            for d, v in zip((a.detector for a in actors), col[name]):
                setattr(d, name, v)
        for k, a in enumerate(actors):
            d = a.detector
            d.active = _ACTIVE_NAME[col["active"][k]]
            d.drift_open = bool(col["drift_open"][k])
            if d.n != n_before[k]:
                d.drift_decision = None  # what an update that decided nothing leaves
            a.last_time = col["last_time"][k]
        watched = facility.staleness.sensors
        for k, a in enumerate(actors):
            if col["seen"][k]:
                r = watched[a.spec.sensor]
                r[0], r[1], r[2], r[3], r[4] = (col["st_last"][k], col["mean"][k],
                                                col["learned"][k], col["grade"][k],
                                                col["after"][k])
            if col["hs_known"][k]:
                h = facility.hotspots[a.spec.sensor]
                h.baseline, h.above, h.open = (col["hs_base"][k], col["hs_above"][k],
                                               bool(col["hs_open"][k]))

    def latest(self, facility: FacilityActor, rows: np.ndarray) -> dict[str, float]:
        """`FacilityActor._latest` read from the rows."""
        last = self.cols["last"][rows].tolist()
        seen = (self.cols["last_time"][rows] >= 0).tolist()
        return {s: v for s, v, ok in zip(facility.sensors, last, seen) if ok}

    def judge(self, rows: np.ndarray, t: np.ndarray, x: np.ndarray, emit: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Readings (row, time, value) of distinct rows, `emit` where the sensor is
        watched for hotspots: (needs, due, new state). `needs` is True where a reading
        must go through `observe` (it decides something, or is one the columns do not
        take); `due` is when each sensor turns quiet after its reading (StaleWatch's
        due); the new state is every column's value after the readings, to commit
        where nothing is needed. Nothing is written here."""
        with np.errstate(all="ignore"):  # a value not finite is flagged, not judged
            return self._judge(rows, t, x, emit)

    def _judge(self, rows, t, x, emit):
        c = self.config.detector
        g = {name: col[rows] for name, col in self.cols.items()}
        # --- RobustBaseline.update, for readings that decide nothing
        n, active, same0 = g["n"], g["active"], g["same"]
        none = active == 0
        eq = x == g["last"]
        longest = np.where(~eq & none & (same0 > g["longest_same"]), same0, g["longest_same"])
        same = np.where(eq, same0 + 1, 0)
        level, spread = g["level"], g["spread"]
        floor = np.abs(level)
        floor = c.min_scale_ratio * np.where(floor < 1.0, 1.0, floor)
        scale = 1.25 * spread
        scale = np.where(floor > scale, floor, scale)
        deviation = x - level
        warm = n >= c.warmup
        score = np.where(warm, np.abs(deviation) / scale, 0.0)
        stuck_raise = none & warm & (same >= np.where(longest == 0, c.stuck_quick,
                                                      c.stuck_after))
        above = np.where(score >= c.raise_score, g["above"] + 1, 0)
        judging = none & ~stuck_raise
        needs = (n == 0) | stuck_raise | (judging & (above >= c.raise_after))
        above = np.where(judging, above, g["above"])
        needs |= (active == 2) & (same == 0)
        deviating = active == 1
        below = np.where(score < c.clear_score, g["below"] + 1, 0)
        needs |= deviating & (below >= c.clear_after)
        below = np.where(deviating, below, g["below"])
        slow0, usual_apart = g["slow"], g["apart"]
        apart = level - slow0
        apart = np.where(apart >= 0, apart, -apart)
        half = 0.5 * scale
        usual = np.where(usual_apart > half, usual_apart, half)
        drift = np.where(n >= c.drift_warmup, apart / usual, 0.0)
        drift_open = g["drift_open"] != 0
        drifting = np.where(drift >= c.drift_score, g["drifting"] + 1, 0)
        needs |= ~drift_open & (drifting >= c.drift_after) & none
        drifting = np.where(drift_open, g["drifting"], drifting)
        drift_below = np.where(drift < c.drift_clear, g["drift_below"] + 1, 0)
        needs |= drift_open & (drift_below >= c.clear_after)
        drift_below = np.where(drift_open, drift_below, g["drift_below"])
        pace = c.alpha * c.drift_ratio
        pace = np.where(drift_open | ~none, pace * 0.1, pace)
        bound = c.clip * scale
        step = x - slow0
        slow = slow0 + pace * np.where(step > bound, bound, np.where(step < -bound, -bound, step))
        cap = 4 * np.where(usual_apart > scale, usual_apart, scale)
        apart_new = np.where(drift_open, usual_apart,
                             usual_apart + pace * (np.where(apart < cap, apart, cap) - usual_apart))
        alpha = np.where(none, c.alpha, c.alpha / 10)
        clipped = np.where(deviation < bound, deviation, bound)
        clipped = np.where(clipped > -bound, clipped, -bound)
        distance = np.abs(deviation)
        new = dict(g)
        new.update(
            level=level + alpha * clipped,
            spread=spread + alpha * (np.where(bound < distance, bound, distance) - spread),
            last=x, slow=slow, apart=apart_new, drift=drift, n=n + 1, same=same,
            longest_same=longest, above=above, below=below, drifting=drifting,
            drift_below=drift_below, last_time=t,
        )
        # --- StaleWatch.seen, for sensors heard before and not silent now
        needs |= (g["seen"] == 0) | (g["grade"] != 0)
        gap = t - g["st_last"]
        learned = g["learned"]
        mean = np.where(learned == 0, gap, g["mean"])
        watch = self._watch
        gap = np.where(learned >= watch["learn_after"],
                       np.where(gap < 3 * mean, gap, 3 * mean), gap)
        mean = mean + (gap - mean) / np.where(learned < 9, learned + 1, 10)
        learned = learned + 1
        after = g["after"]
        if least := watch["dropout_min_ms"]:
            fresh = (watch["dropout_factor"] * mean).astype(np.int64)
            fresh = np.where(fresh > least, fresh, least)
            fresh = np.where(fresh < watch["stale_after_ms"], fresh, 0)
            after = np.where(learned >= watch["learn_after"], fresh, after)
        due = t + np.where(after != 0, after, watch["stale_after_ms"])
        new.update(st_last=t, mean=mean, learned=learned, after=after)
        # --- the hotspot rule, for emitters whose step raises nothing
        if emit.any():
            base, above, opened, raises = self._hotspot.step(
                g["hs_base"], g["hs_above"], g["hs_open"], x, np.where)
            needs |= emit & ((g["hs_known"] == 0) | raises)
            new.update(
                hs_base=np.where(emit, base, g["hs_base"]),
                hs_above=np.where(emit, above, g["hs_above"]),
                hs_open=np.where(emit, opened, g["hs_open"]).astype(np.int8),
            )
        # a value the acceptance rule refuses (not finite, out of range) goes to observe
        needs |= ~(np.abs(x) <= MAX_ABS_VALUE) | (t <= g["last_time"])
        return needs, due, new

    def commit(self, rows: np.ndarray, new: dict[str, np.ndarray]) -> None:
        """Write the new state of the readings' rows."""
        for name, col in self.cols.items():
            col[rows] = new[name]


def _watch(config: FacilityConfig) -> dict:
    """The StaleWatch settings a facility of this config makes (FacilityActor)."""
    from plumeline.actors.staleness import StaleWatch

    w = StaleWatch(config.stale_after_ms, config.dropout_min_ms)
    return {"learn_after": w.learn_after, "dropout_min_ms": w.dropout_min_ms,
            "dropout_factor": w.dropout_factor, "stale_after_ms": w.stale_after_ms}
