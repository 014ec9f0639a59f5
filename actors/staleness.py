"""StaleWatch: sensors that have gone quiet, judged on the facility's event time.

"Now" for a facility is the latest reading time it has accepted, never the clock, so
replay finds the same quiet sensors at the same places. The check runs when the
facility's time moves on, against the time it moves on *from*: every reading at that
time has been seen by then, so a facility whose whole stream pauses (every sensor
silent together) does not make each sensor look quiet when it resumes.

Silence has two grades. A *dropout* is a gap in a stream that is normally regular: a
sensor that has reported at least `learn_after` times, with a typical interval
(an EWMA of the gaps between its readings, each at most 3x the mean once learned) of d, drops out once the facility's time
has moved max(`dropout_min_ms`, `dropout_factor` x d) past its last reading. It is
*stale* after `stale_after_ms`, whatever its rhythm. Both are raised once, at the
time they became true, and both clear when the sensor speaks again.
"""

from __future__ import annotations

import msgspec

__all__ = ["QUIET_KINDS", "StaleWatch"]

_NEVER = 2**63
QUIET_KINDS = ("dropout", "stale")  # grade 1, grade 2


class StaleWatch(msgspec.Struct):
    stale_after_ms: int
    dropout_min_ms: int = 10_000  # 0: no dropout grade
    dropout_factor: float = 10.0
    learn_after: int = 10  # gaps seen before a sensor's rhythm counts
    now: int = -1  # the facility's event time: its latest accepted reading
    # per sensor: [last reading's time, EWMA of its gaps (ms), gaps learned, grade
    # (0 heard, 1 dropout, 2 stale), silence (ms) that makes it a dropout, 0: none yet]
    sensors: dict[str, list] = msgspec.field(default_factory=dict)
    due: int = _NEVER  # earliest time at which some sensor turns quieter

    def seen(
        self, sensor: str, time: int
    ) -> tuple[list[tuple[str, int, str]] | tuple[()], tuple[str, ...]]:
        """A reading of `sensor` at `time` accepted: the (sensor, time it turned quiet,
        kind) found when the facility's time moved on, and the kinds of silence
        `sensor` comes back from. Both are empty for almost every reading (then the
        same empty tuples, nothing allocated)."""
        found: list[tuple[str, int, str]] | tuple[()] = ()
        now = self.now
        if time > now:
            if now >= self.due:
                found = self._scan(now)
            self.now = time
        back: tuple[str, ...] = ()
        r = self.sensors.get(sensor)
        if r is None:
            r = self.sensors[sensor] = [time, 0.0, 0, 0, 0]
        elif r[3]:  # back from silence; a gap of silence teaches no rhythm
            back, r[3] = QUIET_KINDS[:r[3]], 0
        else:
            gap, mean, learned = time - r[0], r[1], r[2]
            if learned == 0:
                mean = gap
            elif learned >= self.learn_after:
                gap = gap if gap < 3 * mean else 3 * mean  # one long gap loosens little
            mean += (gap - mean) / (learned + 1 if learned < 9 else 10)
            learned += 1
            r[1], r[2] = mean, learned
            if learned >= self.learn_after and (least := self.dropout_min_ms):
                after = int(self.dropout_factor * mean)
                after = after if after > least else least
                r[4] = after if after < self.stale_after_ms else 0
        r[0] = time
        due = time + (r[4] or self.stale_after_ms)
        if due < self.due:
            self.due = due
        return found, back

    def last(self, sensor: str) -> int:
        return self.sensors[sensor][0]

    def interval(self, sensor: str) -> float:
        return self.sensors[sensor][1]

    def _scan(self, now: int) -> list[tuple[str, int, str]]:
        found, due = [], _NEVER
        for sensor, (last, _, _, grade, dropout_after) in self.sensors.items():
            while grade < 2:
                if grade == 0 and dropout_after:
                    turned, kind = last + dropout_after, 1
                else:
                    turned, kind = last + self.stale_after_ms, 2
                if turned > now:
                    due = min(due, turned)
                    break
                grade = kind
                found.append((sensor, turned, QUIET_KINDS[kind - 1]))
            self.sensors[sensor][3] = grade
        self.due = due
        return sorted(found, key=lambda f: (f[1], f[0], f[2]))
