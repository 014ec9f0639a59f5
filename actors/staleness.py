"""StaleWatch: sensors that have gone quiet, judged on the facility's event time.

"Now" for a facility is the latest reading time it has accepted, never the clock, so
replay finds the same stale sensors at the same places. A sensor is stale once the
facility's time has moved `stale_after_ms` past its last reading. The check runs when
the facility's time moves on, against the time it moves on *from*: every reading at
that time has been seen by then, so a facility whose whole stream pauses (every
sensor silent together) does not make each sensor look stale when it resumes.
"""

from __future__ import annotations

import msgspec

__all__ = ["StaleWatch"]

_NEVER = 2**63


class StaleWatch(msgspec.Struct):
    stale_after_ms: int
    now: int = -1  # the facility's event time: its latest accepted reading
    last: dict[str, int] = msgspec.field(default_factory=dict)
    stale: set[str] = msgspec.field(default_factory=set)
    due: int = _NEVER  # earliest time at which some sensor turns stale

    def seen(self, sensor: str, time: int) -> tuple[list[tuple[str, int]], bool]:
        """A reading of `sensor` at `time` accepted: the (sensor, time it turned stale)
        found when the facility's time moved on, and whether `sensor` was stale."""
        found: list[tuple[str, int]] = []
        if time > self.now:
            if self.now >= self.due:
                found = self._scan(self.now)
            self.now = time
        back = sensor in self.stale
        self.stale.discard(sensor)
        self.last[sensor] = time
        self.due = min(self.due, time + self.stale_after_ms)
        return found, back

    def _scan(self, now: int) -> list[tuple[str, int]]:
        found, due = [], _NEVER
        for sensor, last in self.last.items():
            if sensor in self.stale:
                continue
            turned = last + self.stale_after_ms
            if turned <= now:
                self.stale.add(sensor)
                found.append((sensor, turned))
            else:
                due = min(due, turned)
        self.due = due
        return sorted(found, key=lambda f: (f[1], f[0]))
