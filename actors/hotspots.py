"""The hotspot rule: a CO2 flow sensor standing well above its own baseline.

Written once, for one reading or for columns of them: `HotspotRule.step` uses only
arithmetic, comparisons and `&`, which Python numbers and numpy arrays both have, and
takes the `where` of its caller (`pick` for one reading, `numpy.where` for columns),
so `FacilityActor` and `SensorColumns` decide with the same operations, float for
float (tests/actors/test_derive_batch.py holds them equal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Hotspot", "HotspotRule", "pick"]


class Hotspot:
    """One emitter's hotspot state: its baseline (NaN before its first reading), how
    many readings in a row stood above it, and whether an episode is open."""

    __slots__ = ("above", "baseline", "open")

    def __init__(self) -> None:
        self.baseline = math.nan
        self.above = 0
        self.open = False


def pick(condition, if_true, if_false):
    """`numpy.where` for one reading."""
    return if_true if condition else if_false


@dataclass(frozen=True, slots=True)
class HotspotRule:
    ratio: float  # a flow above `ratio` x its baseline ...
    after: int  # ... for this many readings in a row is a hotspot
    alpha: float  # how fast the baseline follows readings that are not a hotspot

    def step(self, baseline, above, opened, value, where=pick):
        """One reading of an emitter (or one per row): (baseline, above, open, raises).

        The first reading sets the baseline and judges nothing. A reading above
        `ratio` x the baseline extends the run, any other ends it; while no episode is
        open and the run is short, the baseline moves toward the reading. A run of
        `after` raises (the episode opens); an open episode ends when a reading falls
        half-way back to the baseline (hysteresis)."""
        first = baseline != baseline  # NaN: no baseline yet
        judged = first == 0
        hot = (baseline > 0) & (value > self.ratio * baseline)
        run = where(hot, above + 1, 0)
        closed = opened == 0
        raises = judged & closed & (run >= self.after)
        learn = judged & closed & (run < self.after)
        ends = judged & (opened != 0) & (value < baseline * (1 + (self.ratio - 1) / 2))
        return (where(first, value, where(learn, baseline + self.alpha * (value - baseline),
                                          baseline)),
                where(first, above, run),
                where(ends, 0, where(raises, 1, opened)),
                raises)
